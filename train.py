"""Train a fast style-transfer network: python train.py --style PAINTING --name NAME --data DATA.

Everything lives in transformnet/training.py; see --help and transformnet/config.py for defaults.
"""

import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN) buries the progress bar; set
# TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transformnet.training import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
