"""transformnet: fast feed-forward neural style transfer (Johnson et al. 2016) with Keras 3."""

__version__ = "0.1.0"
