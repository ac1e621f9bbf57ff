"""What a training run is: ``TrainSettings``, the one frozen dataclass of every train.py setting.

Its field defaults are ``config.py``'s (the reasons are there). A run's settings travel as this
object from the command line (``parse_settings``) or the Python API (``transformnet.train``) to
the trainer; ``validate()`` checks all of them before anything is loaded. ``saved()`` is what a
checkpoint and an exported model store under ``settings`` (a JSON object of flag names with
``_``, the same form as before the dataclass, so older files still read back), and
``--config FILE`` (a ``.keras`` model, a checkpoint ``.npz`` or a ``.json`` file) turns such a
saved object back into the command line's defaults. Fields that only say how this invocation
runs (``INVOCATION``: resume, force, where it trains) are never saved: a saved run is the same
run on one GPU or on 64.
"""

import argparse
import dataclasses
import json
import os

from . import __version__, checks, config
from .commands import command
from .files import read_problem

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
INVOCATION = ("resume", "force", "devices", "coordinator", "num_processes", "process_id")
"""Fields that control this invocation, not the run; not saved, not reproduced by --config."""


SAME_RUN = ("batch_size", "image_size", "style_size", "content_weight", "style_weight", "tv_weight", "lr", "width",
            "precision", "seed", "validation_photos")
"""Settings a ``--resume`` must share with its checkpoint (the painting too, by sha256): they are
what was trained, and the exported model's metadata reports them. ``--steps`` may grow, and the
paths (painting, photos, weights) may move to another machine; the rest only says how to log."""


HPARAMS = ("name",) + SAME_RUN
"""What TensorBoard's HParams tab shows of a run: the settings no ``--resume`` can change.
TensorBoard keeps the first hyper-parameters a run logs, so a growable setting (``--steps``)
would show its first value for ever; the budget is the ``budget/steps`` scalar instead, whose
last value the tab shows as a metric, and the ``settings`` text is written again at each resume."""


class TrainingError(RuntimeError):
    """A run that cannot start or continue; ``str()`` is one line saying why."""


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Every setting of one training run; field names are train.py's flags with ``_`` for ``-``."""

    style: str
    name: str
    data: str
    steps: int = config.STEPS
    batch_size: int = config.BATCH_SIZE
    image_size: int = config.IMAGE_SIZE
    style_size: int = config.STYLE_SIZE
    content_weight: float = config.CONTENT_WEIGHT
    style_weight: float = config.STYLE_WEIGHT
    tv_weight: float = config.TV_WEIGHT
    lr: float = config.LEARNING_RATE
    width: float = config.NETWORK_WIDTH
    precision: str = config.PRECISION
    seed: int = config.SEED
    vgg_weights: str = config.VGG_WEIGHTS
    validation_photos: int = config.VALIDATION_PHOTOS
    workers: int = config.DATA_WORKERS
    cache_mb: int = config.DATA_CACHE_MB
    output: str = config.CHECKPOINT_DIR
    force: bool = False
    logdir: str = None  # None: runs/NAME
    resume: bool = False
    log_every: int = config.LOG_EVERY
    val_every: int = config.VAL_EVERY
    checkpoint_every: int = config.CHECKPOINT_EVERY
    keep: int = config.KEEP_CHECKPOINTS
    devices: int = None  # None: every local accelerator
    coordinator: str = None
    num_processes: int = None
    process_id: int = None

    def __post_init__(self):
        if self.logdir is None and isinstance(self.name, str):
            object.__setattr__(self, "logdir", os.path.join("runs", self.name))

    @classmethod
    def fields(cls):
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values):
        """A settings object from a dict of field names (unknown keys: ``TypeError``)."""
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def saved(self):
        """What checkpoints and exported models store as ``settings``: every field but ``INVOCATION``."""
        return {k: v for k, v in self.to_dict().items() if k not in INVOCATION}

    def to_json(self):
        return json.dumps(self.saved(), indent=2, sort_keys=True)

    def resume_conflict(self, saved):
        """The first ``SAME_RUN`` setting whose value differs from ``saved`` (a checkpoint's
        settings), as ``"--flag OLD, not NEW"``; None when this run continues that one."""
        for key in SAME_RUN:
            if key in saved and saved[key] != getattr(self, key):
                return f"{_flag(key)} {saved[key]}, not {getattr(self, key)}"
        return None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def output_path(self):
        return os.path.join(self.output, self.name + checks.MODEL_SUFFIX)

    @property
    def checkpoint_dir(self):
        return os.path.join(self.logdir, "checkpoints")

    def validate(self):
        """Checks every setting before anything is loaded or built (a --config file may hold anything).

        Raises ``checks.FlagError``, ``images.ImageError`` (the painting), ``data.DataError`` or
        ``files.WriteError`` (an output that cannot be written), each one line.
        """
        from .files import check_writable

        s = self
        for key in self.fields():
            if key not in INVOCATION:
                check_setting(key, getattr(s, key))
        for key, minimum in (("devices", 1), ("num_processes", 1), ("process_id", 0)):
            if getattr(s, key) is not None:  # None: all devices, or from the environment
                checks.at_least(_flag(key), getattr(s, key), minimum)
        for key in ("force", "resume"):  # the Python API's force="no" was true: it replaced the model
            if not isinstance(getattr(s, key), bool):
                raise checks.FlagError(f"{_flag(key)} must be True or False, not {getattr(s, key)!r}")
        if s.coordinator is not None and not isinstance(s.coordinator, str):
            raise checks.FlagError(f"--coordinator must be text (HOST:PORT), not {s.coordinator!r}")
        if s.process_id is not None and s.num_processes is not None and s.process_id >= s.num_processes:
            raise checks.FlagError(f"--process-id must be below --num-processes {s.num_processes} (0..{s.num_processes - 1}), not {s.process_id}")
        checks.vgg_weights(s.vgg_weights)
        if not s.data.startswith("tfds:") and not os.path.isdir(s.data):
            from .data import DataError

            raise DataError(f"{s.data}: not a folder of photos (or use tfds:NAME)")
        checks.painting(s.style, s.style_size)
        check_writable(s.output_path)
        check_writable(os.path.join(s.checkpoint_dir, "ckpt-000000000.npz"))


def _flag(key):
    return "--" + key.replace("_", "-")


TEXT = ("style", "name", "data", "vgg_weights", "output", "logdir", "precision")
PATHS = ("style", "data", "output", "logdir", "vgg_weights")
AT_LEAST = {**dict.fromkeys(("steps", "batch_size", "log_every", "val_every", "checkpoint_every", "keep"), 1),
            **dict.fromkeys(("image_size", "style_size"), config.VGG_MIN_SIDE),  # VGG16 pools 3 times
            **dict.fromkeys(("workers", "cache_mb", "validation_photos", "seed"), 0)}


def check_setting(key, value):
    """One saved setting's value on its own (``checks.FlagError``, one line naming its flag): the
    rule ``validate`` applies to each field and ``--config`` to each value of its file, so a
    file's ``"steps": 10.0`` is refused as the flag ``--steps 10.0`` is."""
    flag = _flag(key)
    if key in TEXT and not isinstance(value, str):
        raise checks.FlagError(f"{flag} must be text, not {value!r}")
    if key == "name":
        try:
            checks.model_name(value)
        except checks.FlagError as error:
            raise checks.FlagError(f"--name {error}") from None
    if key in AT_LEAST:
        checks.at_least(flag, value, AT_LEAST[key])
    if key == "seed" and value >= 2**32:
        raise checks.FlagError(f"--seed must be below 2**32 (NumPy's seed range), not {value}")
    if key == "lr":
        checks.positive(flag, value)
    if key in ("content_weight", "style_weight", "tv_weight"):
        checks.weight(flag, value)
    if key == "width":
        checks.within(flag, value, *config.NETWORK_WIDTH_RANGE)
    if key == "precision" and value not in PRECISIONS:
        raise checks.FlagError(f"--precision must be one of {', '.join(PRECISIONS)}, not {value!r}")
    if key in PATHS:
        checks.path_value(flag, value)


# --- command line ------------------------------------------------------------------------------
def build_parser():
    """Every flag with a one-line help and its default; the reasons for the defaults are in config.py."""
    p = argparse.ArgumentParser(
        # Not argparse's own: it shows --style, --name and --data as always required, and with
        # --config they come from the saved settings (parse_settings).
        usage="%(prog)s --style PAINTING --name NAME --data DIR|tfds:NAME [flags]\n"
              "       %(prog)s --config MODEL|CHECKPOINT|JSON [--name NAME] [flags]   (the saved settings, flags override)",
        description="Train a fast style-transfer network for one painting (Johnson et al. 2016).",
        epilog="Every default and the reason for it: transformnet/config.py.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s (transformnet {__version__})")
    what = p.add_argument_group("what to train")
    what.add_argument("--style", required=True, metavar="PAINTING", help="the painting whose style is learned (an image file)")
    what.add_argument("--name", required=True, help=f"model name: writes OUTPUT/NAME.keras, which {command('stylize')} --model NAME uses")
    what.add_argument("--data", required=True, metavar="DIR|tfds:NAME", help="training photos: a folder (JPEG, PNG, WebP, ...; searched recursively) or tfds:coco/2017")
    what.add_argument("--config", default=None, metavar="FILE", help="take every setting from a .keras model, a checkpoint .npz or a .json file; flags given override them")
    run = p.add_argument_group("training")
    run.add_argument("--steps", type=int, metavar="N", default=config.STEPS, help="training steps (default %(default)s)")
    run.add_argument("--batch-size", type=int, metavar="N", default=config.BATCH_SIZE, help="photos per step (default %(default)s)")
    run.add_argument("--image-size", type=int, default=config.IMAGE_SIZE, metavar="PX", help="side of the square training crops (default %(default)s)")
    run.add_argument("--style-size", type=int, default=config.STYLE_SIZE, metavar="PX", help="painting's longer side when its style is measured (default %(default)s)")
    run.add_argument("--content-weight", type=float, metavar="W", default=config.CONTENT_WEIGHT, help="weight of the content loss (default %(default)s)")
    run.add_argument("--style-weight", type=float, metavar="W", default=config.STYLE_WEIGHT, help="weight of the style (Gram) loss (default %(default)s)")
    run.add_argument("--tv-weight", type=float, metavar="W", default=config.TV_WEIGHT, help="weight of the total-variation (smoothness) loss (default %(default)s)")
    run.add_argument("--lr", type=float, default=config.LEARNING_RATE, help="Adam learning rate (default %(default)s)")
    run.add_argument("--width", type=float, metavar="W", default=config.NETWORK_WIDTH, help="transform net channel multiplier, %g..%g; 0.5 = slim (default %%(default)s)" % config.NETWORK_WIDTH_RANGE)
    run.add_argument("--precision", choices=PRECISIONS, default=config.PRECISION, help="float32, or mixed_bfloat16/mixed_float16 on a GPU (default %(default)s)")
    run.add_argument("--seed", type=int, metavar="N", default=config.SEED, help="seeds weights, photo order and crops (default %(default)s)")
    run.add_argument("--vgg-weights", default=config.VGG_WEIGHTS, metavar="PATH", help="'imagenet' (downloaded once) or a VGG16 .weights.h5/.npz file; $TRANSFORMNET_VGG_WEIGHTS sets it (default %(default)s)")
    data = p.add_argument_group("photos")
    data.add_argument("--validation-photos", type=int, default=config.VALIDATION_PHOTOS, metavar="N", help="photos held out for validation, at most %d%%%% of a folder (default %%(default)s)" % round(100 * config.VALIDATION_FRACTION))
    data.add_argument("--workers", type=int, metavar="N", default=config.DATA_WORKERS, help="photo decoding threads, 0 = one per CPU core (default %(default)s)")
    data.add_argument("--cache-mb", type=int, default=config.DATA_CACHE_MB, metavar="MB", help="RAM for decoded photos (default %(default)s)")
    out = p.add_argument_group("output")
    out.add_argument("--output", default=config.CHECKPOINT_DIR, metavar="DIR", help="folder of the exported NAME.keras (default %(default)s)")
    out.add_argument("--force", action="store_true", help="replace an existing OUTPUT/NAME.keras")
    out.add_argument("--logdir", default=None, metavar="DIR", help="TensorBoard logs and checkpoints (default runs/NAME)")
    out.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in LOGDIR/checkpoints")
    out.add_argument("--log-every", type=int, default=config.LOG_EVERY, metavar="STEPS", help="steps between loss fetches for the console and TensorBoard (default %(default)s)")
    out.add_argument("--val-every", type=int, default=config.VAL_EVERY, metavar="STEPS", help="steps between validation losses and images (default %(default)s)")
    out.add_argument("--checkpoint-every", type=int, default=config.CHECKPOINT_EVERY, metavar="STEPS", help="steps between checkpoints (default %(default)s)")
    out.add_argument("--keep", type=int, default=config.KEEP_CHECKPOINTS, metavar="N", help="checkpoints kept (default %(default)s)")
    add_distribution_flags(p)
    return p


def add_distribution_flags(p):
    """Issue 11 (transformnet/distribute.py): where the run trains; none of these changes the result."""
    from .distribute import parse_devices

    p.add_argument("--devices", type=parse_devices, default=None, metavar="all|N", help="local devices per process (default all: every accelerator, else the CPU)")
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="JAX multi-process: process 0's address (or from SLURM/Open MPI)")
    p.add_argument("--num-processes", type=int, default=None, help="JAX multi-process: number of training processes")
    p.add_argument("--process-id", type=int, default=None, help="JAX multi-process: this process's index, 0..N-1")


def read_settings_file(path):
    """The saved settings (a dict) in a ``.keras`` model, a checkpoint ``.npz`` or a ``.json`` file."""
    problem = read_problem(path)
    if problem:
        raise TrainingError(f"{path}: --config file: {problem}")
    if path.endswith(".keras"):
        from .model_file import read_model_metadata

        try:
            settings = read_model_metadata(path).get("settings")
        except ValueError as error:
            raise TrainingError(str(error)) from None
    elif path.endswith(".npz"):
        from .checkpoints import CheckpointError, load_checkpoint

        try:
            settings = load_checkpoint(path)[1].get("settings")
        except CheckpointError as error:
            raise TrainingError(str(error)) from None
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as error:
            raise TrainingError(f"{path}: not a JSON settings file ({error})") from None
        settings = document.get("settings", document) if isinstance(document, dict) else None
    if not isinstance(settings, dict):
        raise TrainingError(f"{path}: holds no transformnet settings")
    return settings


def _saved_defaults(parser, path):
    """``--config FILE``'s settings as ``parser``'s defaults, each read as its flag would be.

    A key that is no setting (a typo such as ``style_wieght``, or an ``INVOCATION`` field) and a
    value its flag refuses (``check_setting``) are one line naming the file: silently dropping the
    first would train with a default the user did not want, and a refused value reported as a
    flag's would name a flag the user never typed. A ``logdir`` that is ``runs/NAME`` of the saved
    ``name`` is that name's default and is not carried over: ``--config starry.keras --name
    starry2`` writes runs/starry2, not into starry's folder.
    """
    saved = read_settings_file(path)
    actions = {action.dest: action for action in parser._actions}
    known = set(TrainSettings.fields()) - set(INVOCATION)
    defaults = {}
    for key, value in saved.items():
        if key in INVOCATION:
            raise TrainingError(f"{path}: {key!r} says how one run is started, not what it trains; give {_flag(key)} on the command line")
        if key not in known:
            raise TrainingError(f"{path}: unknown setting {key!r} (settings are the training flags with _ for -, e.g. style_weight)")
        convert = actions[key].type
        if isinstance(value, str) and convert is not None:
            try:
                value = convert(value)
            except (ValueError, TypeError, argparse.ArgumentTypeError):
                raise TrainingError(f"{path}: {key}: {value!r} is not a valid {_flag(key)} value") from None
        if key == "logdir" and (value is None or value == os.path.join("runs", str(saved.get("name")))):
            continue  # the default of that run's --name: a run given another --name gets its own runs/NAME
        try:
            check_setting(key, value)
        except checks.FlagError as error:
            raise TrainingError(f"{path}: {error}") from None
        defaults[key] = value
    return defaults


def parse_settings(argv=None):
    """Command line -> ``TrainSettings``. With ``--config FILE`` its saved settings become the defaults."""
    parser = build_parser()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--logdir")
    first, _ = pre.parse_known_args(argv)
    if first.config:
        checks.path_value("--config", first.config)
        saved = _saved_defaults(parser, first.config)
        parser.set_defaults(**saved)
        for action in parser._actions:  # saved values satisfy required flags
            if action.dest in saved:
                action.required = False
    values = vars(parser.parse_args(argv))
    if values.pop("config") and "logdir" in saved and values["name"] != saved.get("name") and first.logdir is None:
        values["logdir"] = None  # another run (--name): not into the saved run's --logdir, whose checkpoints --resume would continue
    return TrainSettings.from_dict(values)
