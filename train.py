"""Train a fast style-transfer network: python train.py --style PAINTING --name NAME --data DATA.

Everything lives in transformnet/training.py; see --help and transformnet/config.py for defaults.
"""

import sys

from transformnet.training import main

if __name__ == "__main__":
    sys.exit(main())
