"""``python -m transformnet``: the version, the models at hand and how to get started.

Imports neither Keras nor TensorFlow, so it answers at once.
"""

import sys

from . import __version__
from .fast import ModelError, available_models, model_folders


def main():
    try:
        folders = model_folders()
    except ModelError as error:  # a $TRANSFORMNET_CHECKPOINTS that is no folder
        print(f"error: {error}", file=sys.stderr)
        return 1
    models = ", ".join(available_models(folders)) or "none yet (train one)"
    folder = " and ".join(f + "/" for f in folders)
    print(f"""transformnet {__version__}: fast neural style transfer with Keras 3 (Johnson et al. 2016)

Models (in {folder}): {models}

Stylize photos:  transformnet-stylize --model NAME --image photo.jpg --output out.jpg
                 transformnet-stylize --style painting.jpg --image photo.jpg   (no model needed)
Train a style:   transformnet-train --style painting.jpg --name NAME --data photos/
From Python:     import transformnet as tn
                 model = tn.load_model("NAME")
                 tn.stylize(model, PIL.Image.open("photo.jpg")).save("out.jpg")
                 path, metadata = tn.train(style="painting.jpg", data="photos/", name="NAME")

(eval.py and train.py in a checkout are the same commands.) Every option: --help.""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
