"""The frozen VGG16 loss network (Simonyan & Zisserman 2014), as used by Johnson et al. 2016.

It takes RGB images in 0..255 and applies Keras' "caffe" preprocessing itself (RGB -> BGR,
minus the ImageNet channel means), so callers never preprocess. It is truncated at the
deepest layer any loss asks for: with the default layers nothing of block5 is built or run.

Weights: ``"imagenet"`` (Keras downloads them once; needs internet), a Keras
``.weights.h5`` file for ``VGG16(include_top=False)``, or an ``.npz`` with keys
``block1_conv1/kernel`` (HWIO) / ``block1_conv1/bias`` ... for the layers that are built.
"""

import os

import keras
import numpy as np
from keras import ops

from . import config
from .files import read_problem

# relu names of the paper -> Keras VGG16 layer names (Keras convs carry their ReLU).
LAYER_NAMES = {
    f"relu{block}_{conv}": f"block{block}_conv{conv}"
    for block, convs in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for conv in range(1, convs + 1)
}


class WeightsError(ValueError):
    """The VGG16 weights file is missing or not in a layout we can load."""


def _build_vgg16():
    # Import here so the module loads fast; keras.applications pulls in many models.
    from keras.applications import VGG16

    return VGG16(include_top=False, weights=None, input_shape=(None, None, 3))


def _load_weights(vgg, weights):
    """Loads ``weights`` into ``vgg``; returns the names of layers left without weights."""
    if weights == "imagenet":
        from keras.applications import VGG16

        try:
            trained = VGG16(include_top=False, weights="imagenet", input_shape=(None, None, 3))
        except Exception as error:  # keras.utils.get_file raises a bare Exception offline
            raise WeightsError(_download_failed(error)) from None
        vgg.set_weights(trained.get_weights())
        return set()
    path = os.fspath(weights)
    problem = read_problem(path)
    if problem:
        raise WeightsError(f"{path}: VGG16 weights: {problem}")
    if path.endswith(".npz"):
        missing = set()
        try:
            arrays = np.load(path)
        except Exception as error:  # zipfile/pickle/OSError for a bad file
            raise WeightsError(f"{path}: not a readable .npz file ({error})") from None
        with arrays:
            for layer in vgg.layers:
                if not layer.weights:
                    continue
                try:
                    kernel = arrays[f"{layer.name}/kernel"]
                    bias = arrays[f"{layer.name}/bias"]
                except KeyError:
                    missing.add(layer.name)  # e.g. the fp16 file stops at block4
                    continue
                try:
                    layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
                except ValueError as error:
                    raise WeightsError(f"{path}: wrong shape for {layer.name} ({error})") from None
        return missing
    try:
        vgg.load_weights(path)
    except Exception as error:  # h5py and keras raise many types for a bad file
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(f"{path}: not a VGG16 weights file ({message})") from None
    return set()


def _download_failed(error):
    """One line for a failed ``imagenet`` download: what failed, why, and the offline remedy."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    reason = text.split(" -- ", 1)[-1]  # get_file: "URL fetch failure on <url>: None -- <reason>"
    return (
        f"imagenet: could not download Keras' VGG16 ImageNet weights ({reason[:160]}); offline, "
        "point --vgg-weights or $TRANSFORMNET_VGG_WEIGHTS at a local VGG16 .weights.h5 or .npz file"
    )


class LossNetwork:
    """Callable: RGB 0..255 batch (B, H, W, 3) -> dict of named VGG16 activations.

    ``layers`` are names like ``"relu2_2"``; only those are returned, and the network stops
    at the deepest of them.
    """

    def __init__(self, layers=None, weights=config.VGG_WEIGHTS):
        if layers is None:
            layers = tuple(dict.fromkeys(config.CONTENT_LAYERS + config.STYLE_LAYERS))
        unknown = [name for name in layers if name not in LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG16 layers {unknown}; choose from {sorted(LAYER_NAMES)}")
        self.layers = tuple(layers)
        vgg = _build_vgg16()
        missing = _load_weights(vgg, weights)
        # Every conv up to the deepest requested layer must have weights (block5 may be absent).
        deepest = max(list(LAYER_NAMES).index(name) for name in self.layers)
        needed = [LAYER_NAMES[name] for name in list(LAYER_NAMES)[: deepest + 1]]
        lacking = [name for name in needed if name in missing]
        if lacking:
            raise WeightsError(f"{weights}: no weights for {', '.join(lacking)}")
        outputs = [vgg.get_layer(LAYER_NAMES[name]).output for name in self.layers]
        # A functional sub-model only contains the layers on the path to its outputs.
        self.model = keras.Model(vgg.input, outputs, name="vgg16_features")
        self.model.trainable = False

    def preprocess(self, rgb):
        """Keras' own ``vgg16.preprocess_input`` (caffe mode: RGB -> BGR minus the ImageNet
        means). Given a backend tensor it works in keras.ops, so it traces on every backend;
        given a NumPy array it would modify it in place, so arrays are converted first."""
        from keras.applications.vgg16 import preprocess_input

        return preprocess_input(ops.convert_to_tensor(rgb, dtype="float32"))

    def __call__(self, rgb):
        features = self.model(self.preprocess(rgb))
        if not isinstance(features, (list, tuple)):
            features = [features]
        return dict(zip(self.layers, features))
