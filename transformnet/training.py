"""The fast trainer (Johnson et al. 2016): ``python train.py --style PAINTING --name NAME --data DATA``.

One transform net is trained per painting with Adam on the perceptual loss of ``losses.py``.
The trainer is in pieces (issue 11), each in one place:

- ``settings.py``: ``TrainSettings``, the flags, ``--config`` files and the checks of every setting;
- ``steps.py``: the compiled per-backend train/eval step, where data parallelism lives;
- ``data.py`` / ``distribute.py``: the photos and where the run trains;
- this module: the loop, as short steps: open the data, build, resume, train, log, validate,
  checkpoint, export (``train``), and the command line's ``main``.

Why a loop instead of ``model.fit``: a resume must restore the data position with the weights
(``checkpoints.py``), and Keras' ``TensorBoard`` callback writes through ``tf.summary``, which
needs TensorFlow (``summaries.py`` does not). Mixed precision uses Keras dtype policies
(``mixed_float16`` adds dynamic loss scaling). Style Gram targets are computed once from the
painting resized so its longer side is ``--style-size``.
"""

import collections
import contextlib
import datetime
import errno
import hashlib
import math
import os
import random
import sys
import time

import numpy as np

from . import checks, config, memory
from .commands import command
from .info import duration, plural
from .progress import Progress  # noqa: F401 - part of this module's interface (tests, API)
from .quiet import load_keras
from .settings import HPARAMS, TrainingError, TrainSettings, build_parser, parse_settings  # noqa: F401
from .steps import RUN_AHEAD, JaxStepper, TensorFlowStepper, device_name, loss_names, seed_everything  # noqa: F401

validate = TrainSettings.validate

TIMED = ("input", "dispatch", "device")
"""Where a logged interval's time went, as TensorBoard's ``time/<what>_fraction`` (issue 8: say
why the trainer runs below the compute ceiling of ``benchmarks/gpu_probe.py``). ``input``: the
loop waited for the next batch (the input pipeline is too slow: more ``--workers``);
``dispatch``: inside the step call (on JAX only handing the step over; TensorFlow on a CPU runs
the whole step there); ``device``: waiting for the device (run-ahead steps, the loss fetch),
where a device-bound run spends its time. The rest: validation, checkpoints, logging."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tensorboard_tag(name):
    """Loss dict key -> the TensorBoard tag of issue 3."""
    if name.startswith("weighted/"):
        return "weighted_losses/" + name.split("/", 1)[1]
    if name.startswith("style/"):
        return "style_losses/" + name.split("/", 1)[1]
    return "losses/" + name


# --- the run ----------------------------------------------------------------------------------------------
def train(settings, out=print, progress=None):
    """Runs one training job described by ``settings`` (a ``TrainSettings``); returns the
    exported model's metadata.

    ``out`` prints one console line; ``progress`` is the bar (a :class:`Progress` by default).
    Every setting is checked and the painting and the photos are opened before Keras is even
    imported, so a mistake costs seconds, not a model build.
    """
    from .signals import stopping_signals

    with stopping_signals() as stop:
        return _train(settings, out, progress, stop)


def _train(settings, out, progress, stop):
    """``train``'s steps; ``stop.check()`` between the long ones of start-up raises a Ctrl-C that
    was dropped on its way (``signals``)."""
    validate(settings)
    started = time.time()
    _refuse_to_overwrite(settings)
    from .images import load_image, resize_longer_side

    style = resize_longer_side(load_image(settings.style), settings.style_size)
    keras = load_keras()
    stop.check()
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        raise TrainingError(f"KERAS_BACKEND={backend}: the trainer supports jax and tensorflow")
    dist, local_batch = _distribution(settings, backend)
    with _callers_state_kept(keras), _only_run_in_logdir(settings, dist):
        out = _chief_speaks(out, dist)
        data = _open_data(settings, local_batch, dist, out)  # before the model: a bad photo folder fails in seconds
        val_images = data.validation_images()
        device = device_name(backend)
        out(f"device: {device} ({backend}, {settings.precision})")
        memory.train_step(settings.batch_size, settings.image_size, settings.width)
        stop.check()
        model, stepper = _build(settings, keras, backend, dist, style)
        stop.check()
        run = Run(settings, backend, dist, stepper, data, val_images, out, started)
        run.resume()
        run.open_logs(style, progress)
        run.validate_start()
        stop.check()
        run.loop(stop)
        return run.export(keras, model, device)


@contextlib.contextmanager
def _callers_state_kept(keras):
    """A run sets Keras' global dtype policy (``--precision``, then float32 to export) and seeds
    Python's and NumPy's global random generators (``--seed``); the Python API's caller gets them
    back as they were, whether the run ends or fails. They leaked: a notebook's own
    ``mixed_float16`` policy was float32 after ``tn.train``, or ``mixed_bfloat16`` after a run that
    failed, and ``np.random`` restarted from ``--seed``."""
    policy, python_random, numpy_random = keras.config.dtype_policy(), random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(policy)
        random.setstate(python_random)
        np.random.set_state(numpy_random)


@contextlib.contextmanager
def _only_run_in_logdir(settings, dist):
    """Process 0 holds ``--logdir``'s lock while it trains. Two runs in one folder (one --name
    started twice, in two terminals) both pass the checks at the start, then interleave their
    checkpoints, prune each other's (``--keep``) and draw two curves as one; the second now stops
    in one line instead. Only process 0 writes there, so only it locks."""
    from .files import FolderBusy, folder_lock

    if not dist.is_chief:
        yield
        return
    try:
        with folder_lock(settings.logdir):
            # Again, now that no other run can start here: one that ended between the first check and
            # the lock left checkpoints that this run's would replace (``save_checkpoint`` replaces).
            _refuse_to_overwrite(settings)
            yield
    except FolderBusy as holder:
        raise TrainingError(f"{settings.logdir}: another training run ({holder}) is using this folder; wait for it to "
                            "end, or give this run another --name or --logdir") from None


def _refuse_to_overwrite(settings):
    from .checkpoints import list_checkpoints

    if os.path.lexists(settings.output_path) and not settings.force:
        raise TrainingError(f"{settings.output_path}: exists; use --force to overwrite it or choose another --name")
    if list_checkpoints(settings.checkpoint_dir) and not settings.resume:
        raise TrainingError(f"{settings.checkpoint_dir}: holds checkpoints of an earlier run; use --resume to continue it or another --logdir")


def _distribution(settings, backend):
    from . import distribute

    try:
        dist = distribute.setup(backend, settings.devices, settings.coordinator, settings.num_processes, settings.process_id)
        return dist, dist.local_batch_size(settings.batch_size)
    except distribute.DistributionError as error:
        raise TrainingError(str(error)) from None


def _chief_speaks(out, dist):
    """One report, from process 0; every process still warns about its own photos."""
    if dist.is_chief:
        return out
    return lambda line: out(line) if line.startswith("warning") else None


def _open_data(settings, local_batch, dist, out):
    """The photos, opened; the run's first line counts them and names those held out (README).
    What opening warns of (an unreadable validation photo, read now) follows that line, which
    counts it as unreadable; a folder that cannot be trained on says it before its error."""
    from .data import open_data

    opening = []
    try:
        data = open_data(
            settings.data, settings.image_size, local_batch, settings.seed, workers=settings.workers or None,
            cache_mb=settings.cache_mb, holdout=settings.validation_photos, log=opening.append, shard=dist.shard(),
        )
    except BaseException:
        for line in opening:
            out(line)
        raise
    data.log = out  # photos found unreadable later, in training or a resume, warn as they are met
    out(f"data: {data.describe()}; training on {dist.describe()}")
    for line in opening:
        out(line)
    return data


def _build(settings, keras, backend, dist, style):
    """The transform net and its compiled step (loss network, Gram targets, optimizer)."""
    from .losses import PerceptualLoss
    from .network import build_transform_net
    from .vgg import LossNetwork

    keras.mixed_precision.set_dtype_policy(settings.precision)
    seed_everything(settings.seed, backend)
    with dist.scope():  # TensorFlow: variables mirrored on every device; JAX: nothing
        loss_net = LossNetwork(weights=settings.vgg_weights)
        grams = PerceptualLoss.style_targets(loss_net, style)
        grams = {k: keras.ops.convert_to_tensor(np.asarray(keras.ops.convert_to_numpy(v), "float32")) for k, v in grams.items()}
        loss_fn = PerceptualLoss(
            loss_net, grams, content_weight=settings.content_weight, style_weight=settings.style_weight, tv_weight=settings.tv_weight
        )
        model = build_transform_net(settings.width)
        optimizer = keras.optimizers.Adam(learning_rate=settings.lr)
        if settings.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        names = loss_names(loss_fn.style_layers)
        stepper = (JaxStepper if backend == "jax" else TensorFlowStepper)(model, loss_fn, loss_net, optimizer, names, dist=dist)
    return model, stepper


class Run:
    """One run's state between the steps of ``train``: the step, the last checkpoint, time spent
    (this and earlier runs), the last fetched and validation losses, the TensorBoard writer and
    the bar. Only process 0 writes.

    Checkpoints carry the losses and the time, so a ``--resume`` that trains no further step
    (re-exporting a finished run with ``--force`` or another ``--output``) exports the model the
    run would have, not one with "none recorded" and the re-export's start-up added."""

    def __init__(self, settings, backend, dist, stepper, data, val_images, out, started):
        self.settings, self.backend, self.dist, self.stepper, self.out = settings, backend, dist, stepper, out
        self.data, self.val_images = data, val_images
        self.started, self.earlier_seconds = started, 0.0
        self.step, self.last_checkpoint, self.resumed_at = 0, None, None
        self.final, self.validation = {}, {}
        self.finite_at_start = False  # the losses before any update were seen finite (validate_start)
        self.final_steps, self.fetched_at = 0, 0  # steps the last fetched losses average; the step of that fetch
        self.writer = self.progress = None
        self.timed = dict.fromkeys(TIMED, 0.0)
        self.style_sha256 = sha256_of(settings.style)

    def seconds(self):
        """Wall time of the run so far; an invocation that trained no step adds nothing."""
        if self.step == self.resumed_at:
            return self.earlier_seconds
        return self.earlier_seconds + time.time() - self.started

    def resume(self):
        """With ``--resume``: weights, optimizer and every process's data position from the
        newest good checkpoint."""
        from . import checkpoints, distribute

        if not self.settings.resume:
            return
        found = checkpoints.latest_good(self.settings.checkpoint_dir, log=self.out)
        if found is None:
            self.out(f"no usable checkpoint in {self.settings.checkpoint_dir}; starting from step 0")
            return
        self.last_checkpoint, groups, meta = found
        conflict = self.settings.resume_conflict(meta.get("settings", {}))
        if conflict is None and meta.get("style_sha256", self.style_sha256) != self.style_sha256:
            conflict = f"another painting (sha256 {meta['style_sha256'][:12]}...), not {self.settings.style}"
        if conflict:
            raise TrainingError(f"{self.last_checkpoint}: was trained with {conflict}; --resume continues the same run "
                                f"(--config {self.last_checkpoint} restores its settings), or give another --logdir")
        if int(meta["step"]) > self.settings.steps:  # it would be exported as it is, not at --steps
            raise TrainingError(f"{self.last_checkpoint}: is at step {meta['step']}, beyond --steps {self.settings.steps}; "
                                f"--resume continues a run: give --steps {meta['step']} (exports it as it is) or more")
        self.stepper.load(groups)
        try:
            self.data.restore(distribute.unpack_position(meta["data"], self.dist.process_index, self.dist.process_count))
        except distribute.DistributionError as error:
            raise TrainingError(f"{self.last_checkpoint}: {error}") from None
        self.val_images = self.data.validation_images()  # the checkpoint's split (PhotoFolder.restore)
        self.step = self.resumed_at = self.fetched_at = int(meta["step"])  # the step's loss sums start anew here
        self.finite_at_start = True  # a checkpoint is only written with finite losses
        self.earlier_seconds = float(meta.get("wall_time_s", 0.0))
        self.final, self.validation = meta.get("final_losses", {}), meta.get("validation_losses", {})
        self.final_steps = int(meta.get("final_losses_steps", 0))
        self.out(f"resumed from {self.last_checkpoint} (step {self.step})")

    def open_logs(self, style, progress):
        from .distribute import Silent
        from .summaries import SummaryWriter

        chief = self.dist.is_chief
        self.writer = SummaryWriter(self.settings.logdir) if chief else Silent()
        lines = None if self.out is print else self.out  # the Python API's log= takes the step lines too
        self.progress = (progress or Progress(self.settings.steps, log=lines)) if chief else Silent()
        first = self.step + 1 if self.step else 0  # a resumed run writes from the step after its checkpoint
        self.writer.start(first)
        self.writer.text("settings", "```\n" + self.settings.to_json() + "\n```", first)  # a resume may grow --steps
        self.writer.scalar("budget/steps", self.settings.steps, first)
        if self.step == 0:
            saved = self.settings.saved()
            self.writer.hparams({key: saved[key] for key in HPARAMS})
            self.writer.image("images/style", style, 0)
            for i, image in enumerate(self.val_images[: config.VALIDATION_IMAGES_SHOWN]):
                self.writer.image(f"images/validation_photo_{i}", image, 0)

    def loop(self, stop):
        """Steps until ``--steps``, waiting only for the step ``RUN_AHEAD`` behind the newest, so
        the bar counts finished steps while the device always has work queued. The first Ctrl-C
        (or SIGTERM, SIGHUP) is answered at the next step boundary (``signals``, ``stop``)."""
        from .data import Prefetcher
        from .files import WriteError

        s, stepper, progress = self.settings, self.stepper, self.progress
        put = self.dist.put if self.backend == "jax" else None
        batches = Prefetcher(self.data, depth=4, put=put)  # the host->device copy starts in the prefetch thread
        interval = (time.time(), self.step)
        tickets = collections.deque()  # one per step not yet known to be finished
        stop.deferring = self.dist.process_count == 1
        try:
            compiling = self.step < s.steps
            if compiling:
                self.out("compiling the train step (once per run; a minute or more on a CPU) ...")
            while self.step < s.steps:
                if stop.requested:
                    self.stop(batches.position, stop)
                with self.timing("input"):
                    batch = next(batches)
                begun = time.time()
                with self.timing("dispatch"):
                    tickets.append(stepper.step(batch))
                self.step += 1
                if compiling:  # the first call compiled the step; the bar's rate starts after it
                    compiling = False
                    stepper.wait(tickets.popleft())
                    self.out(f"compiled in {time.time() - begun:.0f} s")
                    progress.start(self.step)
                    interval = (time.time(), self.step)
                    self.timed = dict.fromkeys(TIMED, 0.0)
                while tickets and (len(tickets) > RUN_AHEAD or stepper.ready(tickets[0])):
                    with self.timing("device"):
                        stepper.wait(tickets.popleft())
                progress.advance(self.step - len(tickets))
                at_end = self.step == s.steps
                if self.step % s.log_every == 0 or at_end:
                    tickets.clear()  # fetching the losses waits for every step
                    interval = self.log(interval)
                if self.step % s.val_every == 0 or at_end:
                    progress.note("validating")
                    self.validation = self.validate()
                    progress.note("")
                if self.step % s.checkpoint_every == 0 or at_end:
                    progress.note("saving a checkpoint")
                    self.last_checkpoint = self.checkpoint(batches.position)
                    progress.note("")
            if stop.requested:  # it came during the last step: answered at this boundary too, not after the export
                self.stop(batches.position, stop)
        except WriteError as error:  # a checkpoint or the TensorBoard events file: a full disk, a size limit
            raise WriteError(f"{error}; training stopped at step {self.step}, last good checkpoint: {self.last_checkpoint or 'none'}",
                             error.errno) from None
        finally:
            stop.deferring = False
            batches.close()
            progress.close()
            self.writer.close()

    def stop(self, position, stop):
        """Answers the signal in ``stop``: a checkpoint at this step boundary, then its interruption."""
        from .checkpoints import checkpoint_path
        from .signals import interruption, stopped

        error = interruption(stop.received[0])
        self.progress.note(f"{stopped(error)}: saving a checkpoint")
        if self.last_checkpoint != checkpoint_path(self.settings.checkpoint_dir, self.step):
            self.last_checkpoint = self.checkpoint(position)
        self.progress.close()
        self.out(f"{stopped(error)} at step {self.step}: saved {self.last_checkpoint}; --resume continues from it")
        raise error

    @contextlib.contextmanager
    def timing(self, what):
        """Adds the time spent inside to ``self.timed[what]`` (see ``TIMED``)."""
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.timed[what] += time.perf_counter() - begun

    def log(self, interval):
        """Fetches the mean losses since the last fetch (the only per-interval device->host sync),
        stops on a non-finite one, writes them, the rate and where the time went; returns the next
        interval's start."""
        with self.timing("device"):
            losses = self.stepper.mean_losses()
        skipped = sum(self.dist.gather(self.data.skipped))  # every process's shard
        now, step = time.time(), self.step
        seconds = max(now - interval[0], 1e-9)
        # None where the interval is only the compiling step (--log-every 1, a resume just before a fetch)
        rate = (step - interval[1]) * self.settings.batch_size / seconds if step > interval[1] else None
        shares = {f"time/{what}_fraction": value / seconds for what, value in self.timed.items()}
        self.timed = dict.fromkeys(TIMED, 0.0)
        if not all(math.isfinite(v) for v in losses.values()):
            raise TrainingError(
                f"non-finite loss at step {step} ({', '.join(f'{k}={v}' for k, v in losses.items() if not math.isfinite(v))}); "
                f"stopping. Last good checkpoint: {self.last_checkpoint or 'none'}. {self._divergence_cure()}"
            )
        self.final, self.final_steps, self.fetched_at = losses, step - self.fetched_at, step
        self.writer.scalars({tensorboard_tag(k): v for k, v in losses.items()}, step)
        rates = {} if rate is None else {"images_per_second": rate}
        self.writer.scalars({"learning_rate": self.settings.lr, **rates, "data/skipped_images": skipped, **shares}, step)
        self.progress.losses(
            step,
            f"loss {losses['total']:.4g} (content {losses['weighted/content']:.4g}, "
            f"style {losses['weighted/style']:.4g}, tv {losses['weighted/tv']:.4g})" + ("" if rate is None else f", {rate:.3g} img/s"),
        )
        return now, step

    def _divergence_cure(self):
        """What to change after a non-finite loss: both are ``SAME_RUN`` settings, so a new run.
        Where the losses were finite at step 0 (``validate_start``), training diverged: not a weight."""
        s = self.settings
        changes = f"a lower --lr than {s.lr:g}" + ("" if s.precision == "float32" else " or --precision float32")
        if not self.finite_at_start:
            changes += " (or smaller loss weights, if the loss overflowed float32 from the start)"
        return f"Train anew with {changes} (another --name or --logdir: --resume keeps the run's settings)"

    def validate_start(self):
        """A fresh run validates before its first step: the validation curves start from the
        untrained net, and a loss that is not finite before any update is a loss weight too large
        for float32 (``--style-weight 1e38`` times the style loss overflows 3.4e38), which the
        message after a divergence ("a lower --lr") would misname. Stops before the train step is
        compiled."""
        if self.step or len(self.val_images) == 0:
            return
        self.validation = self.validate()
        self.finite_at_start = all(math.isfinite(v) for v in self.validation.values())
        if self.finite_at_start:
            return
        problems = []
        for name in ("content", "style", "tv"):
            raw, weighted = self.validation[name], self.validation[f"weighted/{name}"]
            weight = getattr(self.settings, f"{name}_weight")
            if not math.isfinite(raw):
                problems.append(f"the {name} loss is {raw} (check --vgg-weights {self.settings.vgg_weights})")
            elif not math.isfinite(weighted):
                problems.append(f"--{name}-weight {weight:g} times the {name} loss ({raw:.3g}) overflows float32")
        problems = problems or ["the sum of the weighted losses overflows float32"]
        raise TrainingError(f"the losses are not finite before training, on the validation photos: {'; '.join(problems)}. "
                            "Give smaller loss weights (the ratios between them are what matters)")

    def validate(self):
        """Losses and stylised images of the held-out photos."""
        from .images import to_uint8

        if len(self.val_images) == 0:
            return {}
        stylised, losses = self.evaluate_in_batches(self.val_images)
        self.writer.scalars({"validation/" + k: v for k, v in losses.items()}, self.step)
        for i, image in enumerate(stylised[: config.VALIDATION_IMAGES_SHOWN]):
            self.writer.image(f"images/validation_{i}", to_uint8(image), self.step)
        return losses

    def evaluate_in_batches(self, images):
        """``stepper.evaluate`` a ``--batch-size`` of photos at a time, so that the memory checked
        for a train step also holds validation (``--validation-photos 200`` in one batch took
        6.5 GB). Every loss is a mean over images of one size, so the mean of the batches'
        losses weighted by their sizes is the loss of all of them at once."""
        size = self.settings.batch_size
        outputs, total = [], {}
        for start in range(0, len(images), size):
            chunk = images[start : start + size]
            stylised, losses = self.stepper.evaluate(chunk)
            if start < config.VALIDATION_IMAGES_SHOWN:  # only those shown in TensorBoard are kept
                outputs.append(stylised[: config.VALIDATION_IMAGES_SHOWN - start])
            for name, value in losses.items():
                total[name] = total.get(name, 0.0) + value * len(chunk)
        return np.concatenate(outputs), {name: value / len(images) for name, value in total.items()}

    def checkpoint(self, position):
        """Saves weights, optimizer and every process's data position (process 0 writes)."""
        from . import checkpoints, distribute

        positions = self.dist.gather(position)
        groups = self.stepper.groups()
        bad = [g for g, values in groups.items() if not all(np.isfinite(v).all() for v in values if v.dtype.kind == "f")]
        if bad:
            raise TrainingError(f"non-finite {bad[0]} variables at step {self.step}; not saved. Last good checkpoint: {self.last_checkpoint}")
        if not self.dist.is_chief:
            return checkpoints.checkpoint_path(self.settings.checkpoint_dir, self.step)
        meta = {"settings": self.settings.saved(), "style_sha256": self.style_sha256, "data": distribute.pack_positions(positions),
                "seed": self.settings.seed, "backend": self.backend, "wall_time_s": round(self.seconds(), 1),
                "final_losses": self.final, "final_losses_steps": self.final_steps, "validation_losses": self.validation}
        return checkpoints.save_checkpoint(self.settings.checkpoint_dir, self.step, groups, meta, keep=self.settings.keep)

    def export(self, keras, model, device):
        """Writes OUTPUT/NAME.keras (process 0) as a float32 copy: the file is for inference on any
        device, where bf16/fp16 compute would only lose precision. Returns its metadata."""
        from .files import WriteError
        from .model_file import export_model
        from .network import build_transform_net

        s = self.settings
        self.stepper.to_model()
        keras.mixed_precision.set_dtype_policy("float32")
        exported = build_transform_net(s.width)
        exported.set_weights(model.get_weights())
        shares = self.dist.gather([self.data.counts()[0], self.data.skipped])  # each process reads its own shard
        training_photos = None if None in [n for n, _ in shares] else sum(n for n, _ in shares)
        metadata = {
            "format": "transformnet-1",
            "name": s.name,
            "style_file": os.path.basename(s.style),
            "style_sha256": self.style_sha256,
            "settings": s.saved(),
            "steps": self.step,
            "images_seen": self.step * s.batch_size,
            "training_photos": training_photos,
            "validation_photos": int(len(self.val_images)),
            "skipped_images": sum(k for _, k in shares),
            "final_losses": self.final,
            "final_losses_steps": self.final_steps,
            "validation_losses": self.validation,
            "backend": self.backend,
            "devices": self.dist.num_devices,
            "processes": self.dist.process_count,
            "precision": s.precision,
            "device": device,
            "wall_time_s": round(self.seconds(), 1),
            "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "keras_version": keras.__version__,
            "checkpoint": self.last_checkpoint,
        }
        if self.dist.is_chief:
            try:
                export_model(exported, s.output_path, metadata, replace=s.force)
            except WriteError as error:
                cure = ("rerun with --resume and --force, or with --resume and another --output" if error.errno == errno.EEXIST
                        else "free some space and rerun with --resume")
                raise WriteError(f"{error}; the trained weights are in {self.last_checkpoint}: {cure}", error.errno) from None
        self.out(f"exported {s.output_path} ({plural(self.step, 'step')}, {duration(metadata['wall_time_s'])})")
        self.out(f"stylize with it: {command('stylize')} --model {_model_spec(s)} --image PHOTO")
        return metadata


def _model_spec(settings):
    """What ``eval.py --model`` takes for the model just exported: its name where a name finds
    this very file (``fast.resolve_model``), else its path."""
    from .fast import ModelError, resolve_model

    try:
        found, _ = resolve_model(settings.name)
        if os.path.samefile(found, settings.output_path):
            return settings.name
    except (ModelError, OSError):
        pass
    return settings.output_path


def main(argv=None):
    """``train.py``: every expected failure is one ``error:`` line and exit status 1."""
    from .checkpoints import CheckpointError
    from .data import DataError
    from .files import WriteError
    from .images import ImageError

    # As in train.py, for the transformnet-train console script: TensorFlow's C++ start-up
    # chatter buries the progress bar (TF_CPP_MIN_LOG_LEVEL=0 shows it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = None
    try:
        settings = parse_settings(argv).to_dict()
        import transformnet  # the command line is a thin wrapper over the Python API

        transformnet.train(settings.pop("style"), settings.pop("data"), settings.pop("name"), **settings)
    except (TrainingError, checks.FlagError, DataError, ImageError, CheckpointError, WriteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP; a checkpoint saved on the way out was named already
        from .signals import exit_status, stopped

        print(stopped(stop), file=sys.stderr)
        return exit_status(stop)
    except OSError as error:  # a vanished folder; writes name their file themselves (files.WriteError)
        from .files import describe

        # Without a file name, no name: "output" was printed, and read as the --output folder.
        print(f"error: {error.filename + ': ' if error.filename else ''}{describe(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - WeightsError, out of memory: one line, not a traceback
        from .quiet import out_of_memory
        from .vgg import WeightsError

        if isinstance(error, WeightsError):
            print(f"error: {error}", file=sys.stderr)
            return 1
        reason = out_of_memory(error)
        if reason and settings is not None:
            print(f"error: out of memory at --batch-size {settings['batch_size']} --image-size {settings['image_size']} "
                  f"--style-size {settings['style_size']} ({reason}); lower them, or --precision mixed_bfloat16 on a GPU",
                  file=sys.stderr)
            return 1
        raise
    return 0
