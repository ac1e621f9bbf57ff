"""``eval.py``: stylize photos with a trained transform net (fast) or by optimisation (slow).

    python eval.py --model NAME_OR_PATH [NAME_OR_PATH ...] --image PHOTO [PHOTO ...] [--output PATH_OR_DIR] [--force]
    python eval.py --style PAINTING --image PHOTO [--output OUT] [--size PX] [--iterations N] ...
    python eval.py --info NAME_OR_PATH

Every expected problem (bad image, bad model, output in the way) is reported as one line
``error: <file>: <problem>`` on stderr with a non-zero exit status, never a traceback. All
inputs are checked, and every output path is planned, before Keras is even imported, so a
mistake costs a fraction of a second; an output never replaces an input file, and an
existing output is only replaced with ``--force``.

Layout for extensions: :func:`plan_outputs` decides where results go, :func:`run_fast` is a
plain per-image loop around :func:`transformnet.fast.stylize_array`; tiling, folders,
video or colour preservation can wrap or replace those pieces in their own modules.
"""

import argparse
import contextlib
import os
import sys
import time
from dataclasses import asdict

from . import __version__, checks, config
from .checks import STDIO, FlagError
from .fast import ModelError, resolve_model, shadowed_model
from .files import STOPS_EVERYTHING, WriteError, atomic_write, check_writable, describe
from .images import (Encoded, ImageError, check_output_size, encode_image, load_image, output_format, probe_photo,
                     resize_longer_side, resize_to_max_side, save_image)
from .pipeline import expand_images
from .progress import tqdm_disable
from .quiet import filtered_stderr, load_keras, out_of_memory
from .signals import exit_status, stopped, stopping_signals

EXIT_OK = 0
EXIT_ERROR = 1  # a file could not be used, or a run failed
EXIT_USAGE = 2  # argparse's status for a malformed command line


_PHOTO_FLAGS = ("output", "force", "checkpoints", "quiet", "tile", "max_size", "preserve_color", "strength", "precision")
FLAGS_OF_JOB = {
    "--model": ("image",) + _PHOTO_FLAGS,
    "--model --video": ("video",) + _PHOTO_FLAGS,
    "--model --export": ("export", "format", "force", "checkpoints"),
    "--style": ("image", "output", "force", "quiet", "size", "style_size", "iterations", "optimizer", "learning_rate",
                "vgg_weights", "content_weight", "style_weight", "tv_weight", "loss_log", "preserve_color", "strength"),
    "--info": ("json", "checkpoints"),
}
"""The flags each job of eval.py reads (dest names). Any other flag given would be silently
ignored (a fast-path --tile with --style, a slow-path --iterations with --model, --output with
--info), so :func:`check_flags_fit_the_job` refuses it before any work."""


EVERY_JOB = ("model", "style", "info", "help", "version")
"""The flags that choose the job, and argparse's own: no job refuses them."""


class CLIError(Exception):
    """A problem to report as one ``error:`` line (the message names the file)."""


STDIO_JOBS = ("--model", "--style")
"""The jobs whose ``--image`` and ``--output`` may be ``-`` (standard input, standard output):
one photo in, one image out. A video is probed and seeked, and an MP4 is finished by seeking
back; the painting, models and folders are files (``checks.path_value`` refuses ``-`` there)."""

STDIN_NAME, STDOUT_NAME = "<stdin>", "<stdout>"
"""How messages name ``--image -`` and ``--output -``."""

STDOUT_FORMAT = "PNG"
"""What ``--output -`` writes: standard output has no suffix to choose a format by, and PNG is
lossless, has no size limit short of 2^31 px a side, and every tool a pipe leads to reads it."""


def _error(message):
    print(f"error: {message}", file=sys.stderr, flush=True)


def _stem(path):
    if isinstance(path, Encoded):  # the photo on standard input: stdin_<model>.jpg
        return "stdin"
    return os.path.splitext(os.path.basename(path))[0]


def _shown(path):
    """How a line names an output: ``-`` is standard output."""
    return STDOUT_NAME if path == STDIO else path


def _files(paths):
    """Those of ``paths`` that are files: not standard input (an ``Encoded``) or output (``-``)."""
    return [path for path in paths if not isinstance(path, Encoded) and path != STDIO]


def _known_suffixes():
    from PIL import Image

    return tuple(Image.registered_extensions())


def plan_outputs(inputs, output, names, protected=(), force=False):
    """Returns the output path for each input path (an input may come more than once: one
    photo in several styles).

    ``names``: the default file name of each input; ``output`` is None (current folder), a
    folder, a file path with an image suffix or ``-`` (standard output; both only with one
    input); a path that does not exist and has no image suffix is a new folder. Raises CLIError if an output would replace
    an input or a ``protected`` file, two inputs would write the same file, or an output
    exists and ``force`` is false; ImageError for a format PIL cannot write (``.psd``);
    WriteError for a place that cannot be written (a parent that is a file, a read-only folder).
    """
    if output == STDIO:
        if len(inputs) > 1:
            raise CLIError(f"--output -: standard output takes one image but {len(inputs)} would be written; give a folder")
        return [STDIO] * len(inputs)
    if output is None:
        paths = list(names)
    elif os.path.isdir(output) or output.endswith(("/", os.sep)):
        paths = [os.path.join(output, name) for name in names]
    elif os.path.splitext(output)[1].lower() in _known_suffixes():
        if len(inputs) > 1:
            raise CLIError(
                f"{output}: --output names one file but {len(inputs)} images would be written; "
                "give a folder"
            )
        paths = [output]
    elif os.path.lexists(output):
        raise CLIError(f"{output}: --output exists and is not a folder")
    else:
        paths = [os.path.join(output, name) for name in names]  # a new folder
    for path in paths:
        output_format(path)
    sources = {}
    for source in _files(list(inputs) + list(protected)):
        sources[os.path.realpath(source)] = source
    seen = {}
    for source, path in zip(inputs, paths):
        real = os.path.realpath(path)
        clash = sources.get(real)
        if clash is None and os.path.exists(path):
            clash = next((s for s in sources.values() if _same_file(s, path)), None)
        if clash is not None:
            raise CLIError(f"{path}: output would overwrite the input {clash}; choose another --output")
        if real in seen:
            raise CLIError(
                f"{path}: both {seen[real]} and {source} would be written here; "
                "rename one or run them separately"
            )
        seen[real] = source
        if os.path.isdir(path):
            raise CLIError(f"{path}: output is a folder")
        if os.path.lexists(path) and not force:
            raise CLIError(f"{path}: output already exists (use --force to overwrite)")
        check_writable(path)
    return paths


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- fast path ------------------------------------------------------------------------------


def run_fast(args):
    """``--model M [M ...] --image PHOTO ...``: each photo through the fast pipeline, with each
    model (several models: every photo in every style, ``<stem>_<model>.jpg`` each)."""
    models = _resolve_models(args.model, args.checkpoints)
    options = _options(args)
    images, problems, notes, folders = expand_images(args.image)
    for note in notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    good, sizes = [], {}
    for path in images:
        try:
            width, height, frames = probe_photo(path)  # one opening: the check and the animation note
            sizes[path] = width, height
            good.append(path)
        except ImageError as error:
            problems.append(str(error))
            continue
        if frames:  # a photo is one picture: say so rather than drop the other frames unseen
            hint = "" if isinstance(path, Encoded) else f"; --video {path} stylizes every frame"  # --video takes files
            print(f"note: {path} is animated ({frames} frames): stylizing its first frame{hint}", file=sys.stderr, flush=True)
    for problem in problems:  # one line each; the other photos are still stylized
        _error(problem)
    if not good:
        return EXIT_ERROR
    jobs = [(source, name) for source in good for name in models]  # a photo is read once for all its styles
    outputs = plan_outputs(
        [source for source, _ in jobs],
        args.output,
        [os.path.join(folders.get(source, ""), f"{_stem(source)}_{name}{config.OUTPUT_SUFFIX}") for source, name in jobs],
        protected=list(models.values()),
        force=args.force,
    )
    jobs, outputs = _fitting_their_format(jobs, outputs, sizes, args.max_size, problems)
    if not jobs:
        return EXIT_ERROR

    load_keras()
    from tqdm import tqdm

    import transformnet  # the command line is a thin wrapper over the Python API

    loaded = {name: transformnet.load_model(path) for name, path in models.items()}
    status = EXIT_ERROR if problems else EXIT_OK
    bar = tqdm(total=len(jobs), unit="image", disable=tqdm_disable(args.quiet or len(jobs) < 2))
    photo, unreadable = None, None
    for index, ((source, name), target) in enumerate(zip(jobs, outputs)):
        if source == unreadable:  # said once, for its first style
            bar.update(1)
            continue
        start = time.perf_counter()
        tiles = _TileBar(source, disable=args.quiet)
        try:
            if index == 0 or jobs[index - 1][0] != source:
                photo = None  # the previous photo's memory is free before the next is read
                photo = load_image(source)
            result = transformnet.stylize(loaded[name], photo, **asdict(options), progress=tiles)
            tiles.close()
            _save(target, result, args)
        except Exception as error:  # noqa: BLE001 - the photo's problem is its line; others go on
            reason = out_of_memory(error)
            if reason is None and not isinstance(error, (ImageError, WriteError)):
                raise
            tiles.close()
            bar.clear()
            if reason:
                error = f"{source}: out of memory ({reason}); {LOWER_MEMORY['--model']}"
            elif isinstance(error, ImageError):
                unreadable = source
            stop = isinstance(error, WriteError) and error.errno in STOPS_EVERYTHING  # a full disk
            left = len(jobs) - index - 1
            if stop and left:
                what = "photo" if len(models) == 1 else "image"
                error = f"{error}; stopped, {left} more {what}{'s' if left > 1 else ''} not stylized"
            _error(error)
            status = EXIT_ERROR
            bar.update(1)
            if stop:
                break
            continue
        seconds = time.perf_counter() - start
        bar.write(f"{_shown(target)}  ({result.shape[1]}x{result.shape[0]}, {seconds:.1f} s)")
        bar.update(1)
    bar.close()
    return status


def _save(target, image, args):
    """Writes a stylized ``image`` to its planned ``target``: a file (``images.save_image``), or
    for ``--output -`` standard output (``args.stdout``, see ``_stdout_for_the_image``), encoded
    in full first as a file is, so a failing encoder writes nothing."""
    if target != STDIO:
        save_image(target, image, replace=args.force)
        return
    data = memoryview(encode_image(image, STDOUT_FORMAT, STDOUT_NAME))
    try:
        while data:
            data = data[os.write(args.stdout, data):]
    except OSError as error:  # a closed pipe (| head), a full disk (> out.png)
        raise WriteError(f"{STDOUT_NAME}: cannot write ({describe(error)})", error.errno) from None


def _fitting_their_format(jobs, outputs, sizes, max_size, problems):
    """The jobs whose stylized photo its output format can store (``images.check_output_size``:
    JPEG ends at 65,500 px a side); each other one is an ``error:`` line before any work."""
    kept = []
    for job, target in zip(jobs, outputs):
        width, height = sizes[job[0]]
        if max_size and max(width, height) > max_size:
            scale = max_size / max(width, height)  # as images.resize_to_max_side
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        try:
            if target != STDIO:  # STDOUT_FORMAT, PNG, has no limit to reach
                check_output_size(target, width, height)
            kept.append((job, target))
        except ImageError as error:
            problems.append(str(error))
            _error(error)
    return [job for job, _ in kept], [target for _, target in kept]


def _resolve_model(spec, checkpoints):
    """``resolve_model``, with a note when a model of one's own hides a shipped one of the same name."""
    path, name = resolve_model(spec, checkpoints)
    hidden = shadowed_model(spec, path, checkpoints)
    if hidden:
        print(f"note: --model {spec} is {path}, which comes before the shipped {hidden}; "
              f"give that path to use the shipped one", file=sys.stderr, flush=True)
    return path, name


def _resolve_models(specs, checkpoints):
    """``{name: path}`` for the ``--model`` values, in order; one line if two share a name (their
    outputs, ``<stem>_<name>.jpg``, would be one file). A model named twice is used once."""
    models = {}
    for spec in specs:
        path, name = _resolve_model(spec, checkpoints)
        if name in models and not _same_file(models[name], path):
            raise CLIError(f"{spec}: --model names two models called {name} ({models[name]} and {path}); "
                           "their outputs would share names: rename one")
        models.setdefault(name, path)
    return models


class _TileBar:
    """A per-photo tile progress bar, created only when a photo is actually tiled."""

    def __init__(self, source, disable):
        self.source, self.disable, self.bar = source, disable, None

    def __call__(self, done, total):
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="tile", desc=_stem(self.source), leave=False, disable=tqdm_disable(self.disable))
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _options(args):
    from .pipeline import Options

    options = Options(
        tile=args.tile, max_size=args.max_size, preserve_color=args.preserve_color, strength=args.strength,
        precision=args.precision,
    )
    problem = options.check()
    if problem:
        raise CLIError(problem)
    return options


def run_video(args):
    """``--model M --video IN --output OUT``: every frame through the fast pipeline."""
    from .video import VideoError, probe, stylize_video

    model_path, model_name = _resolve_model(args.model[0], args.checkpoints)
    options = _options(args)
    source = args.video
    try:
        probe(source)
    except VideoError as error:
        raise CLIError(str(error)) from None
    target = args.output or f"{_stem(source)}_{model_name}.mp4"
    if os.path.isdir(target) or target.endswith(("/", os.sep)):  # a folder, made if new (as for photos)
        target = os.path.join(target, f"{_stem(source)}_{model_name}.mp4")
    if os.path.splitext(target)[1].lower() not in (".mp4", ".mov", ".mkv", ".m4v"):
        raise CLIError(f"{target}: output video must end in .mp4, .mov, .mkv or .m4v")
    if _same_file(source, target) or os.path.realpath(source) == os.path.realpath(target):
        raise CLIError(f"{target}: output would overwrite the input {source}; choose another --output")
    if os.path.lexists(target) and not args.force:
        raise CLIError(f"{target}: output already exists (use --force to overwrite)")
    check_writable(target)

    load_keras()
    from .fast import load_transform_model
    from .pipeline import stylize_photo

    model = load_transform_model(model_path)
    start = time.perf_counter()
    try:
        frames = stylize_video(source, target, lambda frame: stylize_photo(model, frame, options), not args.quiet, replace=args.force)
    except VideoError as error:
        raise CLIError(str(error)) from None
    print(f"{target}  ({frames} frames, {time.perf_counter() - start:.1f} s)", flush=True)
    return EXIT_OK


def run_export(args):
    """``--model M --export DIR --format savedmodel|tflite|onnx``."""
    from .export import ExportError, check_target, export_model, use_tensorflow_backend

    model_path, model_name = _resolve_model(args.model[0], args.checkpoints)
    try:  # a missing optional extra, an existing or unwritable target: before Keras loads
        check_target(args.export, model_name, args.format, args.force)
    except ExportError as error:
        raise CLIError(str(error)) from None
    use_tensorflow_backend()
    load_keras()
    from .fast import load_transform_model

    model = load_transform_model(model_path)
    try:
        with filtered_stderr():
            path = export_model(model, args.export, model_name, args.format, force=args.force)
    except ExportError as error:
        raise CLIError(str(error)) from None
    print(path, flush=True)
    return EXIT_OK


def run_info(args):
    model_path, _ = _resolve_model(args.info, args.checkpoints)
    load_keras()
    from .fast import model_info
    from .info import describe

    info = model_info(model_path)
    if args.json:
        import json

        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        print("\n".join(describe(info)))
    return EXIT_OK


# --- slow path ------------------------------------------------------------------------------


def run_slow(args):
    """The slow path: every flag, input and output checked first (one line each), then the
    optimisation, the image and the optional loss log."""
    _check_slow_flags(args)
    output = _plan_slow_outputs(args)
    photo, painting = _load_slow_images(args)
    load_keras()
    from tqdm import tqdm

    from .color import finish
    from .images import to_uint8
    from .losses import PerceptualLoss
    from .slow import stylize
    from .vgg import LossNetwork

    loss_net = LossNetwork(weights=args.vgg_weights)
    grams = PerceptualLoss.style_targets(loss_net, painting)
    loss_fn = PerceptualLoss(
        loss_net,
        grams,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
    )
    log_rows = []
    bar = tqdm(total=args.iterations, unit="it", desc=f"gatys {args.optimizer}", disable=tqdm_disable(args.quiet))

    def progress(iteration, losses):
        log_rows.append((iteration, time.perf_counter() - start, losses))
        if iteration <= args.iterations:
            bar.update(1)
            bar.set_postfix(
                total=f"{losses['total']:.4g}",
                content=f"{losses['weighted/content']:.3g}",
                style=f"{losses['weighted/style']:.3g}",
                tv=f"{losses['weighted/tv']:.3g}",
                refresh=False,
            )

    start = time.perf_counter()
    image, losses = stylize(
        photo,
        loss_fn,
        iterations=args.iterations,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        callback=progress,
    )
    bar.close()
    # As on the fast path (Gatys et al. 2016 preserve colour in the optimised image this way too);
    # the losses reported are the optimisation's, before it.
    image = to_uint8(finish(photo, image, args.preserve_color, args.strength))
    _save(output, image, args)
    seconds = time.perf_counter() - start
    print(  # before the loss log: a log that cannot be written must not read as if the image was not
        f"{_shown(output)}  ({image.shape[1]}x{image.shape[0]}, {args.optimizer}, "
        f"{len(log_rows)} evaluations, {seconds:.1f} s, lowest total loss {losses['total']:.4g}, the image kept)",
        flush=True,
    )
    if args.loss_log:
        _write_loss_log(args.loss_log, log_rows, args.force)
    return EXIT_OK


def _check_slow_flags(args):
    if len(args.image) != 1:
        raise CLIError("the slow path (--style) takes exactly one --image")
    checks.at_least("--iterations", args.iterations, 1)
    checks.at_least("--size", args.size, config.VGG_MIN_SIDE)
    if args.style_size is not None:
        checks.at_least("--style-size", args.style_size, config.VGG_MIN_SIDE)
    checks.positive("--learning-rate", args.learning_rate)
    for flag, value in (("--content-weight", args.content_weight), ("--style-weight", args.style_weight), ("--tv-weight", args.tv_weight)):
        checks.weight(flag, value)
    checks.vgg_weights(args.vgg_weights)
    from .pipeline import Options

    problem = Options(strength=args.strength).check()
    if problem:
        raise CLIError(problem)


def _plan_slow_outputs(args):
    """The image's path (``<photo>_<painting>_gatys.jpg`` by default); the loss log checked too."""
    photo_path = args.image[0]
    style_stem = _stem(args.style)
    inputs = [args.style] + ([args.vgg_weights] if os.path.isfile(args.vgg_weights) else [])  # never overwritten, --force or not
    (output,) = plan_outputs(
        [photo_path],
        args.output,
        [f"{_stem(photo_path)}_{style_stem}_gatys{config.OUTPUT_SUFFIX}"],
        protected=inputs,
        force=args.force,
    )
    if args.loss_log:
        _plan_extra_output(args.loss_log, [photo_path, *inputs, output], args.force)
    return output


def _load_slow_images(args):
    """The photo at most ``--size`` (never upscaled: the result is the photo's) and the painting
    at exactly ``--style-size`` (up or down, as ``train.py --style-size`` scales it, so both
    paths measure the same style), both large enough for VGG16, which pools three times before
    relu4_3: smaller images leave no feature map to compare."""
    style_size = args.style_size or args.size
    checks.painting(args.style, style_size)
    photo = resize_to_max_side(load_image(args.image[0]), args.size)
    if min(photo.shape[:2]) < config.VGG_MIN_SIDE:
        raise CLIError(
            f"{args.image[0]}: {photo.shape[1]}x{photo.shape[0]} pixels (after scaling) is too small "
            f"for the slow path; need at least {config.VGG_MIN_SIDE} pixels on the shorter side"
        )
    return photo, resize_longer_side(load_image(args.style), style_size)


def _plan_extra_output(path, taken, force):
    """Checks a non-image output (the loss log) like ``plan_outputs`` checks images: it must not
    replace an input or another output, nor an existing file without ``force``, and its place
    must be writable."""
    if os.path.isdir(path) or path.endswith(("/", os.sep)):  # first: --force cannot cure it
        raise CLIError(f"{path}: is a folder; the loss log is a file (e.g. {os.path.join(path, 'losses.csv')})")
    for other in _files(taken):
        if os.path.realpath(path) == os.path.realpath(other) or _same_file(path, other):
            raise CLIError(f"{path}: would overwrite {other}; choose another file")
    if os.path.lexists(path) and not force:
        raise CLIError(f"{path}: already exists (use --force to overwrite)")
    check_writable(path)


def _write_loss_log(path, rows, replace):
    keys = ["total", "weighted/content", "weighted/style", "weighted/tv", "content", "style", "tv"]

    def write(tmp):
        with open(tmp, "w") as handle:
            handle.write("iteration,seconds," + ",".join(keys) + "\n")
            for iteration, seconds, losses in rows:
                values = ",".join(f"{losses[key]:.6g}" for key in keys)
                handle.write(f"{iteration},{seconds:.3f},{values}\n")

    atomic_write(path, write, replace=replace)


# --- argument parsing -----------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(
        description="Stylize photos: with a trained transform net (--model, fast) or by "
        "optimising the pixels against a painting (--style, slow Gatys et al. path).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s (transformnet {__version__})")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--model", nargs="+", metavar="NAME_OR_PATH", help="a trained model by name (see --checkpoints), a path to a .keras file, or a training checkpoint (.npz); several: every photo in each style")
    mode.add_argument("--style", metavar="PAINTING", help="style image for the slow optimisation path")
    mode.add_argument("--info", metavar="NAME_OR_PATH", help="describe a saved model (painting, training budget, time, losses) and exit")
    parser.add_argument("--image", nargs="+", metavar="PHOTO", help="photo(s) to stylize: files, folders, glob patterns; - reads one photo from standard input")
    parser.add_argument(
        "--output",
        metavar="PATH_OR_DIR",
        help="output folder, or a file path when there is one image (default: the current folder, "
        "as <stem>_<model>.jpg or <stem>_<style>_gatys.jpg; stdin_<model>.jpg for --image -); - writes the one image "
        "to standard output as PNG, and every other line goes to standard error",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    parser.add_argument("--json", action="store_true", help="with --info: print everything as JSON, for scripts")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--checkpoints",
        metavar="DIR",
        default=None,
        help="where --model NAME looks (default: $TRANSFORMNET_CHECKPOINTS, else ./checkpoints and then the models that ship with transformnet)",
    )
    real = parser.add_argument_group("fast path extras (--model; --preserve-color and --strength also with --style)")
    real.add_argument("--tile", type=int, metavar="PX", help="stylize in overlapping tiles of PX pixels (automatic above 3840x2160 pixels); bounds memory for huge photos")
    real.add_argument("--max-size", type=int, metavar="PX", help="downscale photos so the longer side is at most PX before stylizing")
    real.add_argument("--preserve-color", action="store_true", help="keep the photo's colours, take only the stylized luminance")
    real.add_argument("--strength", type=float, default=1.0, metavar="0..1", help="blend with the original photo: 0 = photo, 1 = full style (default %(default)s)")
    real.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto", help="network arithmetic: bfloat16 (faster on CPUs with AMX, e.g. Xeon since Sapphire Rapids), float32 (exact); auto picks bfloat16 where AMX is present (default %(default)s)")
    real.add_argument("--video", metavar="IN.mp4", help="stylize a video frame by frame (keeps frame rate and audio); --output OUT.mp4")
    real.add_argument("--export", metavar="DIR", help="write the model for serving/mobile into DIR instead of stylizing")
    real.add_argument("--format", choices=("savedmodel", "tflite", "onnx"), default="savedmodel", help="--export format (default %(default)s)")
    slow = parser.add_argument_group("slow path (--style)")
    slow.add_argument("--size", type=int, default=config.SLOW_SIZE, metavar="PX", help="longer side of the result in pixels; a smaller photo keeps its size (default %(default)s)")
    slow.add_argument("--style-size", type=int, default=None, metavar="PX", help="longer side the painting is scaled to, up or down, as training scales it (default: --size)")
    slow.add_argument("--iterations", type=int, default=config.SLOW_ITERATIONS, metavar="N", help="optimisation steps (default %(default)s)")
    slow.add_argument("--optimizer", choices=("adam", "lbfgs"), default=config.SLOW_OPTIMIZER, help="default %(default)s")
    slow.add_argument("--learning-rate", type=float, default=config.SLOW_LEARNING_RATE, metavar="LR", help="Adam step size on 0..255 pixels (default %(default)s)")
    slow.add_argument("--vgg-weights", default=config.VGG_WEIGHTS, metavar="PATH", help="'imagenet' (download) or a .weights.h5/.npz file (default %(default)s; env TRANSFORMNET_VGG_WEIGHTS)")
    slow.add_argument("--content-weight", type=float, default=config.CONTENT_WEIGHT, metavar="W", help="default %(default)s")
    slow.add_argument("--style-weight", type=float, default=config.STYLE_WEIGHT, metavar="W", help="default %(default)s")
    slow.add_argument("--tv-weight", type=float, default=config.TV_WEIGHT, metavar="W", help="default %(default)s")
    slow.add_argument("--loss-log", metavar="CSV", help="write every evaluation's losses to this CSV file")
    return parser


def job_of(args):
    """Which of ``FLAGS_OF_JOB`` the command line asks for."""
    if args.info is not None:
        return "--info"
    if args.style is not None:
        return "--style"
    if args.export is not None:
        return "--model --export"
    return "--model --video" if args.video is not None else "--model"


def given_flags(argv=None):
    """The dest names of the flags on the command line ``argv`` (``sys.argv[1:]`` when None),
    whatever their values: a flag given at its default value (``--iterations 300`` with
    ``--model``) is given too, so comparing ``args`` with the defaults would miss it."""
    probe = build_parser()
    for action in probe._actions:
        action.default = argparse.SUPPRESS  # only what the command line sets reaches the namespace
    return set(vars(probe.parse_args(argv)))


def check_flags_fit_the_job(parser, args, argv=None):
    """Returns the job (``job_of``), or exits with a usage error naming the first flag given
    (on ``argv``, ``given_flags``) that the job does not read, and when a photo job has no ``--image``."""
    job = job_of(args)
    given = given_flags(argv)
    for action in parser._actions:
        if action.option_strings and action.dest in given and action.dest not in FLAGS_OF_JOB[job] + EVERY_JOB:
            owners = " or ".join(other for other, flags in FLAGS_OF_JOB.items() if action.dest in flags)
            parser.error(f"{action.option_strings[0]} does nothing with {job}; it goes with {owners}")
    if job in ("--model", "--style") and not args.image:
        parser.error(f"--image is required with {job}")
    if job in ("--model --video", "--model --export") and len(args.model) > 1:
        parser.error(f"{job} takes one --model, not {len(args.model)}")
    return job


PATH_FLAGS = ("--model", "--style", "--info", "--image", "--output", "--checkpoints", "--video", "--export", "--vgg-weights",
              "--loss-log")
"""Flags that name files or folders (``checks.path_value``)."""


LOWER_MEMORY = {
    "--model": "stylize in smaller tiles (--tile 512) or downscale (--max-size PX)",
    "--model --video": "stylize in smaller tiles (--tile 512) or downscale (--max-size PX)",
    "--model --export": "free memory and retry",
    "--style": "lower --size (and --style-size)",
    "--info": "free memory and retry",
}
"""What lowers the memory a job needs, for its one-line out-of-memory error."""


def _read_stdin():
    """The photo on standard input (``--image -``), read once, whole: it is read again after the
    check (``images.Encoded``). A terminal is refused rather than waited on."""
    if sys.stdin is None:
        raise CLIError(f"{STDIN_NAME}: standard input is closed; pipe a photo in or give its file")
    if sys.stdin.isatty():
        raise CLIError(f"{STDIN_NAME}: standard input is a terminal; pipe a photo in (cat photo.jpg | ...) or give its file")
    try:
        return Encoded(sys.stdin.buffer.read(), STDIN_NAME)
    except OSError as error:
        raise CLIError(f"{STDIN_NAME}: cannot be read ({describe(error)})") from None
    except MemoryError:  # not the model's: the out-of-memory line of a photo names the model
        raise CLIError(f"{STDIN_NAME}: not enough memory to read what was piped in") from None


@contextlib.contextmanager
def _stdout_for_the_image(args):
    """For ``--output -``: ``args.stdout`` is standard output's file descriptor, kept for the
    image alone, while descriptor 1 points at standard error. So every other line, Python's
    and C++'s alike (notes, the per-photo line, progress, Keras and TensorFlow), goes to
    standard error and cannot corrupt the image; restored afterwards (``main`` may be called
    again in one process)."""
    args.stdout = None
    if args.output != STDIO:
        yield
        return
    if sys.stdout is None or not _open_descriptor(1):
        raise CLIError(f"{STDOUT_NAME}: standard output is closed; redirect it (> out.png) or give --output a file")
    if os.isatty(1):
        raise CLIError(f"{STDOUT_NAME}: standard output is a terminal, no place for an image; redirect it (> out.png) "
                       "or pipe it on")
    sys.stdout.flush()
    args.stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(args.stdout, 1)
        os.close(args.stdout)


def _open_descriptor(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    job = check_flags_fit_the_job(parser, args, argv)
    runners = {"--model": run_fast, "--model --video": run_video, "--model --export": run_export,
               "--style": run_slow, "--info": run_info}
    try:
        for flag in PATH_FLAGS:
            stdio = job in STDIO_JOBS and flag in ("--image", "--output")
            checks.path_value(flag, getattr(args, flag[2:].replace("-", "_")), stdio=stdio)
        if job in STDIO_JOBS and STDIO in args.image:
            photo = _read_stdin()
            args.image = [photo if spec == STDIO else spec for spec in args.image]
        with stopping_signals(), _stdout_for_the_image(args):
            return runners[job](args)
    except (CLIError, ImageError, ModelError, WriteError, FlagError) as error:
        _error(error)
        return EXIT_ERROR
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP: finished outputs are kept, the one being written is removed
        _error(stopped(stop))
        return exit_status(stop)
    except Exception as error:
        vgg = sys.modules.get(f"{__package__}.vgg")  # only imported once Keras is loaded
        if vgg is not None and isinstance(error, vgg.WeightsError):
            _error(error)
            return EXIT_ERROR
        reason = out_of_memory(error)
        if reason:
            subject = args.video or (args.image[0] if job == "--style" else args.info or args.model[0])
            _error(f"{subject}: out of memory ({reason}); {LOWER_MEMORY[job]}")
            return EXIT_ERROR
        raise


__all__ = ["main", "build_parser", "plan_outputs", "run_fast", "run_slow", "run_info"]
