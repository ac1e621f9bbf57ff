"""The fast path: find a trained transform net, load it safely, and stylize one image array.

Kept free of command-line concerns so other front ends (tiling, folders, video, export) can
reuse it: :func:`resolve_model` turns a user's ``NAME_OR_PATH`` into a file without letting a
name escape the checkpoints folder, :func:`load_transform_model` loads it with
``safe_mode=True`` and checks it maps images to images, and :func:`stylize_array` runs it.
Keras is imported lazily, so resolving names and listing models is instant.
"""

import json
import os
import zipfile

from . import checks, config
from .checks import MODEL_SUFFIX
from .commands import command
from .files import read_problem
from .quiet import no_tensorflow_lookups

CHECKPOINT_SUFFIX = ".npz"
"""A training checkpoint (``runs/NAME/checkpoints/ckpt-N.npz``) is a model too: a run's weights
can be tried on one's own photos before it ends (``checkpoint_model``)."""

PRETRAINED_PACKAGE_DIR = "pretrained"  # transformnet/pretrained/ in a wheel: pyproject.toml's package-dir


class ModelError(ValueError):
    """A model name or file that cannot be used; ``str()`` is one line naming it and the problem."""


def shipped_model_dir():
    """The folder of the models that ship with transformnet, or None.

    In an installed wheel it is the package's ``pretrained/`` (``pyproject.toml`` maps the
    checkout's ``checkpoints/`` onto it); in a checkout, ``checkpoints/`` beside the package.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    for folder in (os.path.join(package, PRETRAINED_PACKAGE_DIR), os.path.join(os.path.dirname(package), config.CHECKPOINT_DIR)):
        if os.path.isdir(folder):
            return folder
    return None


def model_folders(checkpoint_dir=None):
    """Where ``--model NAME`` looks, in order.

    ``--checkpoints DIR`` (or ``$TRANSFORMNET_CHECKPOINTS``) alone when given. Otherwise
    ``./checkpoints`` (where train.py writes by default) and then the shipped models, so a user
    who trained a model of their own in another folder still finds ``starry``, and an installed
    wheel finds its models from any folder.
    """
    explicit = checkpoint_dir or os.environ.get("TRANSFORMNET_CHECKPOINTS")
    if explicit:
        explicit = os.fspath(explicit)
        given = "--checkpoints" if checkpoint_dir else "$TRANSFORMNET_CHECKPOINTS"
        if not os.path.isdir(explicit):  # not "available: none", which read as "you have no models"
            problem = "not a folder" if os.path.lexists(explicit) else "no such folder"
            raise ModelError(f"{explicit}: {problem} (the folder of models {given} names)")
        if not os.access(explicit, os.X_OK):  # no file in it can be opened: each read "unknown model; available: none"
            raise ModelError(f"{explicit}: folder cannot be entered (permission denied; the folder of models {given} names)")
        return [explicit]
    folders = []
    for folder in (config.CHECKPOINT_DIR, shipped_model_dir()):
        if folder and os.path.isdir(folder) and not any(os.path.samefile(folder, f) for f in folders):
            folders.append(folder)
    return folders or [config.CHECKPOINT_DIR]


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
        and _valid_name(entry[: -len(MODEL_SUFFIX)])
        and os.path.isfile(os.path.join(checkpoint_dir, entry))
    )


def _valid_name(name):
    try:
        return checks.model_name(name)
    except checks.FlagError:
        return None


def available_models(folders):
    """Sorted names of the models in any of ``folders`` (``model_folders``), each once."""
    return sorted({name for folder in folders for name in list_models(folder)})


def looks_like_path(spec):
    """A ``--model`` value is a path if it names a .keras or .npz file or contains a path separator."""
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return spec.endswith((MODEL_SUFFIX, CHECKPOINT_SUFFIX)) or any(sep in spec for sep in separators)


def resolve_model(spec, checkpoint_dir=None):
    """Returns ``(path, name)`` for ``--model spec``, or raises ``ModelError``.

    A path must end in ``.keras`` and be a readable zip (``check_archive``), or be a training
    checkpoint (``.npz``; named ``RUN-stepN`` after its run and step). A name must match
    ``checks.model_name`` (train.py's rule); the first of ``model_folders`` holding NAME.keras wins,
    and the file must resolve (after following links) inside that folder. An unknown name's error
    lists the models that exist.
    """
    if looks_like_path(spec):
        if spec.endswith(CHECKPOINT_SUFFIX):
            return spec, _checkpoint_name(spec)
        if not spec.endswith(MODEL_SUFFIX):
            raise ModelError(f"{spec}: a model path must end in {MODEL_SUFFIX} (or {CHECKPOINT_SUFFIX}, a training checkpoint)")
        name = os.path.basename(spec)[: -len(MODEL_SUFFIX)]
        if spec == name + MODEL_SUFFIX and not os.path.lexists(spec) and _is_model_name(name, checkpoint_dir):
            raise ModelError(f"{spec}: no such file here; the model named {name} is --model {name}")
        check_archive(spec)
        return spec, name
    try:
        checks.model_name(spec)
    except checks.FlagError as error:
        raise ModelError(f"{error}; or give a path to a {MODEL_SUFFIX} file") from None
    folders = model_folders(checkpoint_dir)
    for folder in folders:
        path = os.path.join(folder, spec + MODEL_SUFFIX)
        if os.path.lexists(path):
            root = os.path.realpath(folder)
            if os.path.commonpath([root, os.path.realpath(path)]) != root:
                raise ModelError(f"{spec}: {path} links outside {folder}/; refusing to load it")
            check_archive(path)
            return path, spec
    raise ModelError(_missing_model(spec, folders))


def shadowed_model(spec, path, checkpoint_dir=None):
    """The model that ``--model spec`` did *not* load because ``path`` came first, or None.

    ``./checkpoints/starry.keras`` (a user's own training) wins over the shipped ``starry``
    (``model_folders``); the command line says so in a note, since outputs of both are named
    ``<stem>_starry.jpg`` and nothing else would show which painting's model ran.
    """
    if looks_like_path(spec) or checkpoint_dir or os.environ.get("TRANSFORMNET_CHECKPOINTS"):
        return None
    for folder in model_folders()[1:]:
        other = os.path.join(folder, spec + MODEL_SUFFIX)
        if os.path.isfile(other) and not os.path.samefile(other, path):
            return other
    return None


def _is_model_name(name, checkpoint_dir):
    """Whether ``--model name`` finds a model (for "--model starry.keras" typed for it)."""
    try:
        resolve_model(name, checkpoint_dir)
    except ModelError:
        return False
    return True


def shipped_painting(name, checkpoint_dir):
    """``CHECKPOINT_DIR/styles/NAME.jpg``: where a named model's painting is committed (issue 8)."""
    return os.path.join(checkpoint_dir, "styles", name + ".jpg")


def _missing_model(spec, folders):
    """The one-line error for a model name found in none of ``folders``: what to do instead.

    A name whose painting is already committed (``shipped_painting``: a planned model that has not
    been trained yet, README) gets the two ways to use that painting now; any other name gets the
    list of models that exist.
    """
    for folder in folders:
        painting = shipped_painting(spec, folder)
        if os.path.isfile(painting):
            path = os.path.join(folder, spec + MODEL_SUFFIX)
            return (
                f"{spec}: no trained model yet ({path} is missing); train it with "
                f"{command('train')} --style {painting} --name {spec} --data DIR, or stylize without training: "
                f"{command('stylize')} --style {painting} --image PHOTO"
            )
    available = available_models(folders)
    listing = ", ".join(available) if available else f"none (train one with {command('train')})"
    # "none" there is not known; a folder that is not there (no ./checkpoints, no shipped models) is listed as empty
    hidden = [folder + "/" for folder in folders if os.path.isdir(folder) and not os.access(folder, os.R_OK)]
    if hidden:
        listing += f"; {' and '.join(hidden)} cannot be listed (permission denied)"
    return f"{spec}: unknown model; available in {' and '.join(f + '/' for f in folders)}: {listing}"


def check_archive(path):
    """Cheap check (no Keras import) that ``path`` is a readable zip, as every .keras file is."""
    problem = read_problem(path)
    if problem:
        raise ModelError(f"{path}: {problem}")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a Keras model file (not a .keras zip archive)")


def _checkpoint_meta(path):
    """A training checkpoint's metadata alone (``checkpoints.read_meta``), or ModelError naming it."""
    from .checkpoints import CheckpointError, read_meta

    problem = read_problem(path)
    if problem:
        raise ModelError(f"{path}: {problem}")
    try:
        return read_meta(path)
    except CheckpointError as error:
        raise ModelError(str(error)) from None


def _checkpoint_name(path):
    """``RUN-stepN`` for a training checkpoint, from its metadata alone; ModelError if it is none."""
    meta = _checkpoint_meta(path)
    run = meta.get("settings", {}).get("name") or os.path.splitext(os.path.basename(path))[0]
    return f"{run}-step{meta['step']}"


def _checkpoint_training(path):
    """What a training checkpoint tells of its run, in the shape of an exported model's metadata:
    the losses too, which checkpoints carry (older ones did not: "none recorded")."""
    meta = _checkpoint_meta(path)
    settings = meta.get("settings", {})
    training = {"name": settings.get("name"), "is_checkpoint": True, "settings": settings, "steps": meta["step"],
                "images_seen": meta["step"] * settings.get("batch_size", 0), "style_file": os.path.basename(settings.get("style", "?")),
                "style_sha256": meta.get("style_sha256", "?"), "backend": meta.get("backend"), "precision": settings.get("precision")}
    for key in ("wall_time_s", "final_losses", "final_losses_steps", "validation_losses"):
        if meta.get(key) is not None:
            training[key] = meta[key]
    return training


def checkpoint_model(path):
    """The transform net of a training checkpoint, built as train.py exports it (float32, the
    run's ``--width``) with the checkpoint's weights; ModelError naming the file otherwise."""
    import keras

    from .checkpoints import CheckpointError, load_checkpoint
    from .network import build_transform_net
    from .settings import TrainingError
    from .steps import assign_groups

    try:
        groups, meta = load_checkpoint(path)
    except CheckpointError as error:
        raise ModelError(str(error)) from None
    width = meta.get("settings", {}).get("width", config.NETWORK_WIDTH)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        model = build_transform_net(width)
    finally:
        keras.config.set_dtype_policy(policy)
    variables = {"trainable": model.trainable_variables, "non_trainable": model.non_trainable_variables}
    try:  # the optimizer's group is for --resume, not for stylizing
        assign_groups(variables, {group: groups.get(group, []) for group in variables})
    except TrainingError as error:
        raise ModelError(f"{path}: {error}") from None
    return model


def load_transform_model(path):
    """Loads a ``.keras`` transform net with ``safe_mode=True`` (no arbitrary code), or a training
    checkpoint (``checkpoint_model``), or raises ``ModelError`` naming the file. Checks the model
    maps (B, H, W, 3) to (B, H, W, 3) for any H, W and normalises by instance, as tiling and
    every photo size need (other models passed and failed later, with a traceback)."""
    if os.fspath(path).endswith(CHECKPOINT_SUFFIX):
        return checkpoint_model(path)
    check_archive(path)
    import keras

    from . import network  # noqa: F401 - registers the custom layers for deserialisation

    try:
        with no_tensorflow_lookups():
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
    if tuple(inputs[0].shape[1:3]) != (None, None):
        raise ModelError(f"{path}: takes only {inputs[0].shape[1]}x{inputs[0].shape[2]} images; a transform net takes any size")
    from .network import InstanceNormalization

    if not any(isinstance(layer, InstanceNormalization) for layer in model.layers):  # tiling (tiling.py) needs them
        raise ModelError(f"{path}: not a transform net (no instance normalization layers); train one with {command('train')}")
    return model


def stylize_array(model, array, precision="auto"):
    """Stylizes one RGB image: (H, W, 3) uint8 or float 0..255 -> (H, W, 3) uint8, same size.

    Runs the model's cached compiled inference clone (``inference.get_stylizer``), not the
    eager call: ~3x less overhead per photo (benchmarks/RESULTS.md, issue 12)."""
    from .images import to_uint8
    from .inference import get_stylizer

    return to_uint8(get_stylizer(model, precision)(array))


def model_info(path):
    """Everything known about a saved model, as plain JSON-able data (``eval.py --info``):

    ``file``, ``size_bytes``; ``keras``: Keras' own ``metadata.json`` (version, date saved);
    ``training``: the trainer's metadata (``model_file.read_model_metadata``: painting, settings,
    budget, losses, hardware, time; ``{}`` for a model train.py did not write); ``model``: what
    loading it tells (class, layers, parameters, width, residual blocks).
    """
    from .model_file import read_model_metadata
    from .network import width_of

    info = {"file": path, "size_bytes": os.path.getsize(path), "keras": {}, "model": {}}
    try:
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" in archive.namelist():
                info["keras"] = json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelError(f"{path}: not a Keras model file ({error})") from None
    if not isinstance(info["keras"], dict):  # valid JSON of another shape: --info reads it with .get
        raise ModelError(f"{path}: not a Keras model file (its metadata.json is not a JSON object)")
    try:
        info["training"] = read_model_metadata(path)
    except ValueError as error:  # its line names the file already
        raise ModelError(str(error)) from None
    if os.fspath(path).endswith(CHECKPOINT_SUFFIX):
        info["training"] = _checkpoint_training(path)
    model = load_transform_model(path)
    info["model"] = {"class": type(model).__name__, "name": model.name, "layers": len(model.layers),
                     "parameters": int(model.count_params())}
    width = width_of(model)
    if width is not None:  # else not built by build_transform_net; the parameter count still applies
        info["model"]["width"] = width
        info["model"]["residual_blocks"] = sum(1 for layer in model.layers if layer.name.endswith("_add"))
    return info
