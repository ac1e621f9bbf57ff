"""transformnet: fast feed-forward neural style transfer (Johnson et al. 2016) with Keras 3.

From Python::

    from PIL import Image
    import transformnet as tn

    model = tn.load_model("starry")                      # checkpoints/starry.keras, or a path
    result = tn.stylize(model, Image.open("photo.jpg"), strength=0.8)   # PIL in, PIL out (or a path)
    path, metadata = tn.train(style="starry_night.jpg", data="photos/", name="starry", steps=2000)

``train.py`` (``transformnet-train``) and the photo path of ``eval.py``
(``transformnet-stylize --model``) are thin wrappers over these functions. Importing the
package is cheap: Keras and its backend are imported by the first function that needs them, so
a command line can check its flags first. Errors are exceptions with the one-line message the
command lines print, naming the file when a file is the problem (``ModelError``,
``ImageError``, ``DataError``, ``FlagError``: ``ValueError`` subclasses; ``TrainingError``:
``RuntimeError``; ``WriteError``: ``Exception``).
"""

import os

__version__ = "0.1.0"
"""The one place the version is written; pyproject.toml reads it from here."""

ERRORS = {"ModelError": "fast", "ImageError": "images", "DataError": "data", "FlagError": "checks",
          "TrainingError": "settings", "WriteError": "files"}
"""The exceptions the functions raise (``except tn.ImageError``), and the module each lives in."""

__all__ = ["__version__", "list_models", "load_model", "model_info", "stylize", "train", *ERRORS]


def __getattr__(name):
    """``tn.ImageError`` and the other ``ERRORS``, imported when first named (PEP 562), so that
    importing the package stays cheap (their modules bring numpy and PIL)."""
    if name in ERRORS:
        import importlib

        return getattr(importlib.import_module(f".{ERRORS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _function_or_none(argument, value, calls):
    """A callback is checked before the work: ``progress=5`` failed after the first tile, ``log=5``
    after Keras had loaded."""
    if value is not None and not callable(value):
        raise ValueError(f"{argument} must be a function {calls} or None, not {value!r}")
    return value


def _text(argument, value, what):
    """A name or path argument as text, or a TypeError naming the argument: ``os.fspath``'s own
    ("expected str, bytes or os.PathLike object, not NoneType") named none, and bytes got as far
    as "a bytes-like object is required, not 'str'"."""
    from .checks import path_value

    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise TypeError(f"{argument} must be {what}, not {type(value).__name__}")
    path_value(argument, text)  # "" was the default folders for checkpoints=, as eval.py refuses it
    return text


def _folder(checkpoints):
    return None if checkpoints is None else _text("checkpoints", checkpoints, "a folder's path or None")


def _resolve(name_or_path, checkpoints):
    from .fast import resolve_model

    return resolve_model(_text("name_or_path", name_or_path, "a model's name or path"), _folder(checkpoints))[0]


def list_models(checkpoints=None):
    """Names of the trained models in ``checkpoints`` (default: ``$TRANSFORMNET_CHECKPOINTS``,
    else ``./checkpoints`` and the models that ship with transformnet), for :func:`load_model`."""
    from .fast import available_models, model_folders

    return available_models(model_folders(_folder(checkpoints)))


def load_model(name_or_path, checkpoints=None):
    """The trained transform net as a ``keras.Model``, loaded with ``safe_mode=True``.

    ``name_or_path``: a model name (``"starry"`` is ``checkpoints/starry.keras``, see
    :func:`list_models`) or a path to a ``.keras`` file (anything with a ``/`` or ending in
    ``.keras``). Raises ``ModelError`` for an unknown name or a file that is not a transform net.
    """
    from .fast import load_transform_model

    return load_transform_model(_resolve(name_or_path, checkpoints))


def model_info(name_or_path, checkpoints=None):
    """What ``eval.py --info --json`` prints, as a dict: ``file``, ``size_bytes``, ``keras`` (its
    version, date saved), ``training`` (painting and sha256, every setting, budget, losses,
    hardware, time) and ``model`` (parameters, width, layers)."""
    from .fast import model_info as info

    return info(_resolve(name_or_path, checkpoints))


def stylize(model, image, strength=1.0, preserve_color=False, tile=None, max_size=None, progress=None,
            precision="auto"):
    """Stylizes one photo with a model from :func:`load_model`, at the photo's own size.

    ``model``: a loaded model, or a name or path as :func:`load_model` takes (then loaded on
    each call: load it once for many photos).

    ``image``: a PIL image (any mode; EXIF rotation applied, converted to RGB as photo files
    are), a uint8 RGB array (H, W, 3), or the path of a photo file, read exactly as ``eval.py``
    reads it (``images.load_image``: every pixel format, ICC profile to sRGB; ``ImageError``
    naming the file). Returns a PIL RGB image for a PIL image or a path, a uint8 array for an
    array. ``strength``: 0 gives the photo, 1 the full style. ``preserve_color``: keep the
    photo's colours, take only the stylized luminance. ``tile``: stylize in overlapping tiles
    of this many pixels (automatic above 3840x2160; bounds memory). ``max_size``:
    downscale first so the longer side is at most this. ``progress(done, total)`` is called
    after each tile. ``precision``: ``"auto"`` (bfloat16 on CPUs with AMX, else float32, as
    ``eval.py``), ``"float32"`` (exact) or ``"bfloat16"``. Raises ``ImageError`` for a bad image
    (a ``ValueError``, as for a bad option).
    """
    import numpy as np
    from PIL import Image

    from .images import MIN_SIDE, ImageError, image_array
    from .pipeline import Options, stylize_photo

    options = Options(tile=tile, max_size=max_size, preserve_color=preserve_color, strength=strength, precision=precision)
    problem = options.check(as_arguments=True)
    if problem:
        raise ValueError(problem)
    _function_or_none("progress", progress, "(done, total)")
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    elif not hasattr(model, "layers"):
        raise TypeError(f"model must be a model from load_model(), or a model's name or path, not {type(model).__name__}")
    if isinstance(image, (str, os.PathLike)):
        from .images import load_image

        return Image.fromarray(stylize_photo(model, load_image(image), options, progress))
    if isinstance(image, Image.Image):  # upright, then load_image's conversion of every mode
        array = image_array(image, "image")
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:  # no array: named by its type, not "object ()"
            given = type(image).__name__ if array.ndim == 0 or array.dtype.kind in "OSU" else f"{array.dtype} {array.shape}"
            raise ImageError(f"image must be a PIL image, a uint8 (H, W, 3) RGB array or a photo's path, not {given}")
    if min(array.shape[:2]) < MIN_SIDE:  # PIL images and arrays alike, as files (images.MIN_SIDE)
        raise ImageError(f"image is {array.shape[1]}x{array.shape[0]} pixels; need at least {MIN_SIDE}x{MIN_SIDE}")
    stylized = stylize_photo(model, array, options, progress)
    return Image.fromarray(stylized) if isinstance(image, Image.Image) else stylized


def train(style, data, name, *, log=print, **settings):
    """Trains a transform net for the painting ``style`` on the photos ``data`` and exports it.

    ``data``: a folder of photos (JPEG, PNG, WebP, ..., recursive) or ``"tfds:coco/2017"``. ``settings``:
    any ``train.py`` flag with ``_`` for ``-``: ``steps=2000, style_weight=10, batch_size=4,
    width=0.5, output="checkpoints", logdir="runs/NAME", resume=True, force=True, ...``; the
    defaults and their reasons are in ``transformnet/config.py``. ``log`` receives each status
    line (None: none). Returns ``(path, metadata)``: the exported ``OUTPUT/NAME.keras`` and what it stores
    (settings, steps, final and validation losses, ...; see :func:`model_info`).
    """
    import numpy as np

    from .commands import command
    from .settings import check_setting
    from .training import parse_settings, train as run

    def plain(value):  # what the checks and the saved JSON take: a path's str, a NumPy scalar's Python value
        return os.fspath(value) if isinstance(value, os.PathLike) else value.item() if isinstance(value, np.generic) else value

    settings = {key: plain(value) for key, value in dict(settings, style=style, data=data, name=name).items()}
    if settings.get("devices") == "all":  # train.py --devices all, the default
        settings["devices"] = None
    for key in ("style", "data", "name"):  # checked before they become text: name=None trained None.keras
        check_setting(key, settings[key])
    config = settings.pop("config", None)  # train.py --config: a model's saved settings become the defaults
    argv = [f"--{key}={settings.pop(key)}" for key in ("style", "data", "name")]
    full = parse_settings(argv + ([] if config is None else [f"--config={config}"]))
    unknown = sorted(set(settings) - set(full.fields()))
    if unknown:
        raise TypeError(f"train() got unknown settings {unknown}; see {command('train')} --help for the settings")
    if settings.get("logdir") is None:
        settings.pop("logdir", None)  # keep parse_settings' default, runs/NAME
    full = full.replace(**settings)  # the path returned is where this run's settings export
    metadata = run(full, out=_function_or_none("log", log, "(line)") or (lambda line: None))
    return full.output_path, metadata
