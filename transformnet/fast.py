"""The fast path: find a trained transform net, load it safely, and stylize one image array.

Kept free of command-line concerns so other front ends (tiling, folders, video, export) can
reuse it: :func:`resolve_model` turns a user's ``NAME_OR_PATH`` into a file without letting a
name escape the checkpoints folder, :func:`load_transform_model` loads it with
``safe_mode=True`` and checks it maps images to images, and :func:`stylize_array` runs it.
Keras is imported lazily, so resolving names and listing models is instant.
"""

import json
import os
import re
import zipfile

from . import config

MODEL_SUFFIX = ".keras"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""A model name: letters, digits, '_', '-', '.'; starts with a letter or digit; no '/' or '..'."""


class ModelError(ValueError):
    """A model name or file that cannot be used; ``str()`` is one line naming it and the problem."""


def default_checkpoint_dir():
    """``$TRANSFORMNET_CHECKPOINTS``, else ``./checkpoints`` if it exists, else the project's."""
    if os.environ.get("TRANSFORMNET_CHECKPOINTS"):
        return os.environ["TRANSFORMNET_CHECKPOINTS"]
    if os.path.isdir(config.CHECKPOINT_DIR):
        return config.CHECKPOINT_DIR
    project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidate = os.path.join(project, config.CHECKPOINT_DIR)
    return candidate if os.path.isdir(candidate) else config.CHECKPOINT_DIR


def list_models(checkpoint_dir):
    """Sorted names of the ``*.keras`` files directly inside ``checkpoint_dir``."""
    try:
        entries = os.listdir(checkpoint_dir)
    except OSError:
        return []
    return sorted(
        entry[: -len(MODEL_SUFFIX)]
        for entry in entries
        if entry.endswith(MODEL_SUFFIX)
        and NAME_PATTERN.match(entry[: -len(MODEL_SUFFIX)])
        and os.path.isfile(os.path.join(checkpoint_dir, entry))
    )


def looks_like_path(spec):
    """A ``--model`` value is a path if it names a .keras file or contains a path separator."""
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return spec.endswith(MODEL_SUFFIX) or any(sep in spec for sep in separators)


def resolve_model(spec, checkpoint_dir=None):
    """Returns ``(path, name)`` for ``--model spec``, or raises ``ModelError``.

    A path must end in ``.keras`` and be an existing file. A name must match
    :data:`NAME_PATTERN` and resolve (after following links) to a file inside the checkpoints
    folder; an unknown name's error lists the models that exist.
    """
    checkpoint_dir = checkpoint_dir or default_checkpoint_dir()
    if looks_like_path(spec):
        if not spec.endswith(MODEL_SUFFIX):
            raise ModelError(f"{spec}: a model path must end in {MODEL_SUFFIX}")
        if not os.path.exists(spec):
            raise ModelError(f"{spec}: no such model file")
        if not os.path.isfile(spec):
            raise ModelError(f"{spec}: not a file")
        name = os.path.basename(spec)[: -len(MODEL_SUFFIX)]
        return spec, name
    if not NAME_PATTERN.match(spec) or ".." in spec:
        raise ModelError(
            f"{spec}: invalid model name (use letters, digits, '_', '-', '.'; or a path to a "
            f"{MODEL_SUFFIX} file)"
        )
    path = os.path.join(checkpoint_dir, spec + MODEL_SUFFIX)
    if not os.path.isfile(path):
        available = list_models(checkpoint_dir)
        listing = ", ".join(available) if available else "none (train one with train.py)"
        raise ModelError(f"{spec}: unknown model; available in {checkpoint_dir}/: {listing}")
    root = os.path.realpath(checkpoint_dir)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ModelError(f"{spec}: {path} links outside {checkpoint_dir}/; refusing to load it")
    return path, spec


def check_archive(path):
    """Cheap check (no Keras import) that ``path`` is a readable zip, as every .keras file is."""
    try:
        ok = zipfile.is_zipfile(path)
    except OSError as error:
        raise ModelError(f"{path}: cannot read model file ({error.strerror or error})") from None
    if not ok:
        raise ModelError(f"{path}: not a Keras model file (not a .keras zip archive)")


def load_transform_model(path):
    """Loads a ``.keras`` transform net with ``safe_mode=True`` (no arbitrary code), or raises
    ``ModelError`` naming the file. Checks the model maps (B, H, W, 3) to (B, H, W, 3)."""
    check_archive(path)
    import keras

    from . import network  # noqa: F401 - registers the custom layers for deserialisation

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # keras/h5py/zipfile raise many types for a bad file
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
        if len(detail) > 200:
            detail = detail[:197] + "..."
        raise ModelError(f"{path}: cannot load model ({detail})") from None
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    if (
        len(inputs) != 1
        or len(outputs) != 1
        or len(inputs[0].shape) != 4
        or inputs[0].shape[-1] != 3
        or len(outputs[0].shape) != 4
        or outputs[0].shape[-1] != 3
    ):
        raise ModelError(f"{path}: not an image transform model (needs (B, H, W, 3) in and out)")
    return model


def stylize_array(model, array, precision="auto"):
    """Stylizes one RGB image: (H, W, 3) uint8 or float 0..255 -> (H, W, 3) uint8, same size.

    Runs the model's cached compiled inference clone (``inference.get_stylizer``), not the
    eager call: ~3x less overhead per photo (benchmarks/RESULTS.md, issue 12)."""
    from .images import to_uint8
    from .inference import get_stylizer

    return to_uint8(get_stylizer(model, precision)(array))


def read_archive_metadata(path):
    """Metadata readable from a ``.keras`` archive without building the model: Keras'
    ``metadata.json`` (version, date saved), the model's name and layer count from
    ``config.json``, and any ``transformnet``-specific JSON the trainer stored alongside."""
    info = {"file": path, "size": f"{os.path.getsize(path) / 1e6:.1f} MB"}
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "metadata.json" in names:
                meta = json.loads(archive.read("metadata.json"))
                info.update({f"keras/{k}": v for k, v in meta.items()})
            if "config.json" in names:
                model_config = json.loads(archive.read("config.json"))
                inner = model_config.get("config", {})
                info["model/class"] = model_config.get("class_name")
                info["model/name"] = inner.get("name")
                info["model/layers"] = len(inner.get("layers", []))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelError(f"{path}: not a Keras model file ({error})") from None
    sidecar = path[: -len(MODEL_SUFFIX)] + ".json"
    if os.path.isfile(sidecar):
        try:
            with open(sidecar) as handle:
                extra = json.load(handle)
            if isinstance(extra, dict):
                info.update({f"train/{k}": v for k, v in extra.items()})
        except (OSError, ValueError):
            info["train/metadata"] = f"{sidecar}: unreadable"
    return info


def model_info(path):
    """Everything we can say about a saved model, as an ordered dict of printable values.

    Adds the training run's metadata (``model_file.read_model_metadata``: style, settings,
    steps, losses, backend, wall time), then what loading the model tells (parameters, width)."""
    from .model_file import read_model_metadata

    info = read_archive_metadata(path)
    try:
        extra = read_model_metadata(path)
    except ValueError as error:
        raise ModelError(str(error)) from None
    info.update({f"train/{k}": v for k, v in extra.items()})
    model = load_transform_model(path)
    info["parameters"] = f"{model.count_params():,}"
    try:
        info["width"] = model.get_layer("down0_conv").filters / 32
        info["residual_blocks"] = sum(1 for layer in model.layers if layer.name.endswith("_add"))
    except ValueError:
        pass  # not built by build_transform_net; the parameter count still applies
    return info
