"""Checks of user input that eval.py and train.py share, run before any model is built.

One rule per kind of input, so the two commands never disagree (a model train.py can name,
eval.py can load). Nothing here imports Keras: a mistake costs a fraction of a second. Each
check raises :class:`FlagError`, whose ``str()`` is one line naming the flag or file.
"""

import math
import os
import re

from . import config
from .files import read_problem

MODEL_SUFFIX = ".keras"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_MAX = 100
"""Well under the 255-byte file-name limit, with room for ``.keras`` and eval.py's ``_NAME.jpg``."""


class FlagError(ValueError):
    """A flag value or input file that cannot be used; ``str()`` is one line naming it."""


def model_name(name):
    """A model name (``train.py --name``, ``eval.py --model NAME``) becomes the file
    ``checkpoints/NAME.keras``: letters, digits, '_', '-', '.'; starting with a letter or digit;
    no '..' (nothing that could leave the checkpoints folder or hide as a dot file) and not
    ending in ``.keras`` (eval.py reads that as a path)."""
    if not NAME_PATTERN.match(name) or ".." in name or name.endswith(MODEL_SUFFIX) or len(name) > NAME_MAX:
        raise FlagError(
            f"{name}: invalid model name (use letters, digits, '_', '-', '.'; start with a letter or digit; "
            f"no '..'; at most {NAME_MAX} characters)"
        )
    return name


STDIO = "-"


def path_value(flag, value, stdio=False):
    """A flag's file or folder name is a real name: not empty, and ``-`` only where ``stdio``.

    ``stdio``: the flag takes ``-`` as standard input or output (eval.py's ``--image`` and
    ``--output`` for one photo; the caller reads or writes it). Elsewhere ``-`` is no file:
    models, paintings, videos and folders are read and written by name (a video is probed and
    seeked, an output is published atomically), and taken as a name it became a folder called
    ``-`` (--output) or "no such file" (--image). An empty name (``--output ""``, a script's
    unset variable) was taken as the current folder by some flags and reported as
    "``: no such file``" by others, or failed late (``--logdir ""``).
    """
    values = value if isinstance(value, (list, tuple)) else [value]
    if STDIO in values and not stdio:
        raise FlagError(f"{flag} -: standard input and output are not supported; give a file or folder "
                        "(./- for one named '-')")
    if "" in values:
        raise FlagError(f"{flag}: an empty name is no file or folder; give one (. for the current folder)")


def at_least(flag, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FlagError(f"{flag} must be a whole number of at least {minimum}, not {value!r}")


def positive(flag, value):
    """A finite number above 0 (learning rates, sizes given as floats)."""
    if not _number(value) or not value > 0:
        raise FlagError(f"{flag} must be a positive number, not {value!r}")


def weight(flag, value):
    """A loss weight: finite and not negative (a negative weight maximises that loss)."""
    if not _number(value) or value < 0:
        raise FlagError(f"{flag} must be a number of at least 0, not {value!r}")


def within(flag, value, low, high):
    if not _number(value) or not low <= value <= high:
        raise FlagError(f"{flag} must be between {low:g} and {high:g}, not {value!r}")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def vgg_weights(spec):
    """``imagenet`` (downloaded on first use) or an existing .weights.h5/.npz file."""
    if spec == "imagenet":
        return
    problem = read_problem(spec)
    if problem:
        raise FlagError(f"{spec}: VGG16 weights: {problem} (--vgg-weights, or $TRANSFORMNET_VGG_WEIGHTS)")
    if not spec.endswith((".h5", ".npz")):
        raise FlagError(f"{spec}: VGG16 weights must be a Keras .weights.h5 or an .npz file")


def shipped_painting_hint(path):
    """For a painting given by a model's name (``--style starry``, after ``--model starry``)
    that is no file: "; the painting of the model starry is checkpoints/styles/starry.jpg"."""
    from .fast import ModelError, model_folders, shipped_painting

    if os.path.lexists(path) or os.path.basename(path) != path:  # a bare name only
        return ""
    try:
        folders = model_folders()
    except ModelError:  # a bad $TRANSFORMNET_CHECKPOINTS: no hint, the painting's own error stands
        return ""
    for folder in folders:
        found = shipped_painting(path, folder)
        if os.path.isfile(found):
            return f"; the painting of the model {path} is {found}"
    return ""


def painting(path, longer_side):
    """The painting is a readable image that has ``config.VGG_MIN_SIDE`` pixels on its shorter
    side, as it is and once its longer side is scaled to ``longer_side`` (VGG16 pools three
    times; a smaller painting, scaled up, is a blur with no brushwork to measure). Raises
    ``images.ImageError`` for an unreadable file, FlagError for a too-small or too-thin one."""
    from .images import ImageError, probe_image

    try:
        width, height = probe_image(path)
    except ImageError as error:
        raise ImageError(f"{error}{shipped_painting_hint(path)}") from None
    if min(width, height) < config.VGG_MIN_SIDE:
        raise FlagError(f"{path}: {width}x{height} pixels is too small for a painting; VGG16 needs at least "
                        f"{config.VGG_MIN_SIDE} pixels on the shorter side")
    short = round(min(width, height) * longer_side / max(width, height))
    if short < config.VGG_MIN_SIDE:
        raise FlagError(
            f"{path}: {width}x{height} pixels is too thin: at {longer_side} px on the longer side its shorter side "
            f"is {short} px, and VGG16 needs at least {config.VGG_MIN_SIDE}; crop it or raise the painting size"
        )
