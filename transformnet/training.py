"""The fast trainer (Johnson et al. 2016): ``python train.py --style PAINTING --name NAME --data DATA``.

One transform net is trained per painting with Adam on the perceptual loss of ``losses.py``.
The train step is compiled per backend (issue 3):

- TensorFlow: ``tf.function(jit_compile=True)`` around a ``GradientTape`` and the Keras optimizer.
- JAX: ``model.stateless_call`` + ``optimizer.stateless_apply`` inside one ``jax.jit`` with the
  state donated (Keras guide "Writing a training loop from scratch in JAX"). TensorFlow is never
  imported on this path (the GPU machine has none).

Why a loop instead of ``model.fit``: a resume must restore the data position with the weights
(``checkpoints.py``), and Keras' ``TensorBoard`` callback writes through ``tf.summary``, which
needs TensorFlow (``summaries.py`` does not).

Losses are summed on the device inside the step and fetched only every ``--log-every`` steps, so a
fast GPU never waits for the host. Mixed precision uses Keras dtype policies (``mixed_float16``
adds dynamic loss scaling). Style Gram targets are computed once from the painting resized so its
longer side is ``--style-size``.
"""

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time

import numpy as np

from . import config

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
NOT_SETTINGS = ("config", "resume", "force", "devices", "coordinator", "num_processes", "process_id")
"""Command-line flags that control this invocation, not the run; not saved, not reproduced."""


class TrainingError(RuntimeError):
    """A run that cannot start or continue; ``str()`` is one line saying why."""


# --- command line ------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(
        description="Train a fast style-transfer network for one painting (Johnson et al. 2016). "
        "Defaults and their reasons: transformnet/config.py.",
    )
    p.add_argument("--style", required=True, help="the painting (JPEG/PNG)")
    p.add_argument("--name", required=True, help="model name: exports checkpoints/NAME.keras")
    p.add_argument("--data", required=True, help="folder of training photos (recursive JPEG/PNG) or tfds:coco/2017")
    p.add_argument("--steps", type=int, default=config.STEPS)
    p.add_argument("--batch-size", type=int, default=config.BATCH_SIZE)
    p.add_argument("--image-size", type=int, default=config.IMAGE_SIZE, help="training crop size in pixels")
    p.add_argument("--style-size", type=int, default=config.STYLE_SIZE, help="painting's longer side for its Gram targets")
    p.add_argument("--content-weight", type=float, default=config.CONTENT_WEIGHT)
    p.add_argument("--style-weight", type=float, default=config.STYLE_WEIGHT)
    p.add_argument("--tv-weight", type=float, default=config.TV_WEIGHT)
    p.add_argument("--lr", type=float, default=config.LEARNING_RATE, help="Adam learning rate")
    p.add_argument("--precision", choices=PRECISIONS, default=config.PRECISION)
    p.add_argument("--logdir", default=None, help="TensorBoard and checkpoint folder (default runs/NAME)")
    p.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in LOGDIR/checkpoints")
    p.add_argument("--seed", type=int, default=config.SEED)
    p.add_argument("--config", default=None, help="settings from a .keras model, a checkpoint .npz or a .json file; flags given override")
    p.add_argument("--vgg-weights", default=config.VGG_WEIGHTS, help="'imagenet' or a VGG16 .weights.h5/.npz path")
    p.add_argument("--width", type=float, default=config.NETWORK_WIDTH, help="transform net channel multiplier (0.5 = slim)")
    p.add_argument("--checkpoint-every", type=int, default=config.CHECKPOINT_EVERY)
    p.add_argument("--keep", type=int, default=config.KEEP_CHECKPOINTS, help="checkpoints kept")
    p.add_argument("--log-every", type=int, default=config.LOG_EVERY)
    p.add_argument("--val-every", type=int, default=config.VAL_EVERY)
    p.add_argument("--workers", type=int, default=config.DATA_WORKERS, help="photo decoding threads (0 = one per core)")
    p.add_argument("--cache-mb", type=int, default=config.DATA_CACHE_MB, help="RAM for decoded photos")
    p.add_argument("--validation-photos", type=int, default=config.VALIDATION_PHOTOS, help="photos held out for validation")
    p.add_argument("--output", default=config.CHECKPOINT_DIR, help="folder of the exported NAME.keras")
    p.add_argument("--force", action="store_true", help="overwrite an existing OUTPUT/NAME.keras")
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
    """Settings saved in a ``.keras`` model, a checkpoint ``.npz`` or a ``.json`` file."""
    if not os.path.isfile(path):
        raise TrainingError(f"{path}: --config file not found")
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


def parse_settings(argv=None):
    """Command line -> settings dict. With ``--config FILE`` its settings become the defaults."""
    parser = build_parser()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    first, _ = pre.parse_known_args(argv)
    if first.config:
        saved = read_settings_file(first.config)
        known = {a.dest for a in parser._actions}
        parser.set_defaults(**{k: v for k, v in saved.items() if k in known and k not in NOT_SETTINGS})
        for action in parser._actions:  # saved values satisfy required flags
            if action.dest in saved:
                action.required = False
    args = parser.parse_args(argv)
    settings = vars(args)
    if settings["logdir"] is None:
        settings["logdir"] = os.path.join("runs", settings["name"])
    return settings


def validate(settings):
    if not NAME_PATTERN.match(settings["name"]):
        raise TrainingError(f"--name {settings['name']!r}: use letters, digits, '_', '-', '.' only")
    for key in ("steps", "batch_size", "image_size", "style_size", "log_every", "val_every", "checkpoint_every", "keep"):
        if settings[key] < 1:
            raise TrainingError(f"--{key.replace('_', '-')} must be at least 1 (got {settings[key]})")
    if settings["image_size"] < 16:
        raise TrainingError("--image-size must be at least 16 (the network downsamples by 4)")
    if not os.path.isfile(settings["style"]):
        raise TrainingError(f"{settings['style']}: style image not found")


# --- small helpers --------------------------------------------------------------------------------
def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def loss_names(style_layers):
    return ["total", "content", "style", "tv", "weighted/content", "weighted/style", "weighted/tv"] + [
        f"style/{layer}" for layer in style_layers
    ]


def tensorboard_tag(name):
    """Loss dict key -> the TensorBoard tag of issue 3."""
    if name.startswith("weighted/"):
        return "weighted_losses/" + name.split("/", 1)[1]
    if name.startswith("style/"):
        return "style_losses/" + name.split("/", 1)[1]
    return "losses/" + name


class Progress:
    """tqdm bar when tqdm is installed, otherwise one printed line per log step (GPU machine)."""

    def __init__(self, total, initial):
        self.total, self.done = total, initial
        self.start = time.time()
        self.start_step = initial
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
        except ImportError:
            self.bar = None

    def update(self, step, text):
        if self.bar is not None:
            self.bar.update(step - self.done)
            self.bar.set_postfix_str(text, refresh=True)
        else:
            rate = (step - self.start_step) / max(time.time() - self.start, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            print(f"step {step}/{self.total} {text} eta {eta / 60:.1f} min", flush=True)
        self.done = step

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def seed_everything(seed, backend):
    """``keras.utils.set_random_seed`` without its ``import tensorflow`` on the JAX backend.

    Keras' version seeds TensorFlow whenever it is installed, which imports it; the JAX path must
    never import TensorFlow (issue 3), so there we do the rest of what it does ourselves.
    """
    import keras

    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


# --- compiled steps ---------------------------------------------------------------------------------
class Stepper:
    """Holds the training state and the compiled train/eval steps of one backend.

    ``groups()`` returns every variable as numpy arrays (checkpointing), ``load(groups)`` puts them
    back. ``mean_losses()`` fetches the losses averaged over the steps since the last fetch.
    """

    def __init__(self, model, loss_fn, loss_net, optimizer, names, dist=None):
        self.model, self.loss_fn, self.loss_net, self.optimizer = model, loss_fn, loss_net, optimizer
        self.names = names
        self.dist = dist  # a distribute.Distribution; None: one device
        self.scaled = hasattr(optimizer, "scale_loss") and type(optimizer).__name__ == "LossScaleOptimizer"
        optimizer.build(model.trainable_variables)

    def variable_groups(self):
        return {
            "trainable": self.model.trainable_variables,
            "non_trainable": self.model.non_trainable_variables,
            "optimizer": self.optimizer.variables,
        }


class JaxStepper(Stepper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import jax
        import keras

        from .distribute import JaxDistribution

        self.dist = dist = self.dist or JaxDistribution(1)

        model, loss_fn, optimizer = self.model, self.loss_fn, self.optimizer
        vgg_variables = self.loss_net.model.variables
        opt_variables = optimizer.variables
        scaled = self.scaled

        def forward(trainable, non_trainable, vgg_values, x):
            y, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            with keras.StatelessScope(state_mapping=list(zip(vgg_variables, vgg_values))):
                losses = loss_fn(y, content_images=x)
            return y, losses, non_trainable

        def objective(trainable, non_trainable, vgg_values, opt_values, x):
            _, losses, non_trainable = forward(trainable, non_trainable, vgg_values, x)
            loss = losses["total"]
            if scaled:
                with keras.StatelessScope(state_mapping=list(zip(opt_variables, opt_values))):
                    loss = optimizer.scale_loss(loss)
            return loss, (losses, non_trainable)

        grad_fn = jax.value_and_grad(objective, has_aux=True)
        names = self.names

        def train_step(state, vgg_values, batch):
            trainable, non_trainable, opt_values, sums, count = state
            x = keras.ops.cast(batch, "float32")
            (_, (losses, non_trainable)), grads = grad_fn(trainable, non_trainable, vgg_values, opt_values, x)
            trainable, opt_values = optimizer.stateless_apply(opt_values, grads, trainable)
            sums = {k: sums[k] + losses[k] for k in names}
            return (trainable, non_trainable, opt_values, sums, count + 1)

        def eval_step(trainable, non_trainable, vgg_values, batch):
            y, losses, _ = forward(trainable, non_trainable, vgg_values, keras.ops.cast(batch, "float32"))
            return y, losses

        # Batches sharded over the mesh, everything else replicated (distribute.py): the losses are
        # batch means, so XLA's all-reduce of the gradients gives the one-device step.
        rep = dist.replicated
        self._train = jax.jit(train_step, donate_argnums=(0,), in_shardings=(rep, rep, dist.batch), out_shardings=rep)
        self._eval = jax.jit(eval_step, in_shardings=rep, out_shardings=rep)
        self._vgg = dist.replicate([v.value for v in vgg_variables])
        self.from_variables()

    def _zero_sums(self):
        return self.dist.replicate(({k: np.zeros((), "float32") for k in self.names}, np.zeros((), "int32")))

    def from_variables(self):
        g = self.variable_groups()
        values = self.dist.replicate([[v.value for v in g[k]] for k in ("trainable", "non_trainable", "optimizer")])
        self.state = (*values, *self._zero_sums())

    def step(self, batch):
        self.state = self._train(self.state, self._vgg, batch)

    def mean_losses(self):
        trainable, non_trainable, opt_values, sums, count = self.state
        sums, count = self.dist.to_host((sums, count))  # one transfer for all the loss sums
        means = {k: float(v) / max(int(count), 1) for k, v in sums.items()}

        self.state = (trainable, non_trainable, opt_values, *self._zero_sums())
        return means

    def evaluate(self, batch):
        y, losses = self.dist.to_host(self._eval(self.state[0], self.state[1], self._vgg, self.dist.replicate(batch)))
        return y, {k: float(v) for k, v in losses.items()}

    def groups(self):
        trainable, non_trainable, opt_values = self.dist.to_host(self.state[:3])
        return {"trainable": trainable, "non_trainable": non_trainable, "optimizer": opt_values}

    def load(self, groups):
        _assign(self.variable_groups(), groups)
        self.from_variables()

    def to_model(self):
        _assign(self.variable_groups(), self.groups())


class TensorFlowStepper(Stepper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import tensorflow as tf

        model, loss_fn, optimizer, names, scaled = self.model, self.loss_fn, self.optimizer, self.names, self.scaled
        self._sums = {k: tf.Variable(0.0, trainable=False, dtype="float32") for k in names}
        self._count = tf.Variable(0, trainable=False, dtype="int32")
        sums, count = self._sums, self._count

        @tf.function(jit_compile=True)
        def train_step(batch):
            x = tf.cast(batch, "float32")
            with tf.GradientTape() as tape:
                y = model(x, training=True)
                losses = loss_fn(y, content_images=x)
                loss = optimizer.scale_loss(losses["total"]) if scaled else losses["total"]
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            for k in names:
                sums[k].assign_add(losses[k])
            count.assign_add(1)

        @tf.function(jit_compile=True)
        def eval_step(batch):
            x = tf.cast(batch, "float32")
            y = model(x, training=False)
            return y, loss_fn(y, content_images=x)

        self._train, self._eval = train_step, eval_step
        self._strategy = getattr(self.dist, "strategy", None)
        if self._strategy is not None:
            self._train = self._distributed_train_step(tf, self._strategy)

    def _distributed_train_step(self, tf, strategy):
        """The step under a tf.distribute strategy (distribute.py). Keras disables XLA under
        tf.distribute, so only each replica's forward and backward pass is compiled; the optimizer,
        which all-reduces the gradients, runs outside XLA."""
        model, loss_fn, optimizer, names, scaled = self.model, self.loss_fn, self.optimizer, self.names, self.scaled
        sums, count, replicas = self._sums, self._count, strategy.num_replicas_in_sync

        @tf.function(jit_compile=True)
        def gradients(batch):
            x = tf.cast(batch, "float32")
            with tf.GradientTape() as tape:
                y = model(x, training=True)
                losses = loss_fn(y, content_images=x)
                # Keras' optimizer sums the replicas' gradients; dividing here makes that the mean.
                loss = losses["total"] / replicas
                loss = optimizer.scale_loss(loss) if scaled else loss
            return tape.gradient(loss, model.trainable_variables), losses

        def replica_step(batch):
            grads, losses = gradients(batch)
            optimizer.apply(grads, model.trainable_variables)
            return losses

        @tf.function
        def train_step(batch):
            losses = strategy.run(replica_step, args=(batch,))
            for k in names:
                sums[k].assign_add(strategy.reduce("MEAN", losses[k], axis=None))
            count.assign_add(1)

        return train_step

    def step(self, batch):
        self._train(self.dist.put(batch) if self._strategy is not None else batch)

    def mean_losses(self):
        n = max(int(self._count.numpy()), 1)
        means = {k: float(v.numpy()) / n for k, v in self._sums.items()}
        for v in self._sums.values():
            v.assign(0.0)
        self._count.assign(0)
        return means

    def evaluate(self, batch):
        y, losses = self._eval(batch)
        return np.asarray(y), {k: float(v) for k, v in losses.items()}

    def groups(self):
        return {g: [np.asarray(v.numpy()) for v in vs] for g, vs in self.variable_groups().items()}

    def load(self, groups):
        _assign(self.variable_groups(), groups)

    def to_model(self):
        pass


def _assign(variables, groups):
    for group, values in groups.items():
        targets = variables[group]
        if len(targets) != len(values):
            raise TrainingError(f"checkpoint has {len(values)} {group} variables, the model {len(targets)}: different settings?")
        for variable, value in zip(targets, values):
            if tuple(variable.shape) != tuple(value.shape):
                raise TrainingError(f"checkpoint variable {variable.path} is {value.shape}, model {variable.shape}: different --width?")
            variable.assign(value)


# --- the run ----------------------------------------------------------------------------------------------
def _log_losses(writer, prefix_fn, losses, step):
    writer.scalars({prefix_fn(k): v for k, v in losses.items()}, step)


def train(settings, out=print):
    """Runs one training job described by ``settings``; returns the exported model's metadata."""
    validate(settings)
    started = time.time()
    output_path = os.path.join(settings["output"], f"{settings['name']}.keras")
    if os.path.exists(output_path) and not settings.get("force"):
        raise TrainingError(f"{output_path} exists; use --force to overwrite it or choose another --name")
    checkpoint_dir = os.path.join(settings["logdir"], "checkpoints")

    from . import checkpoints as ckpt

    existing = ckpt.list_checkpoints(checkpoint_dir)
    if existing and not settings.get("resume"):
        raise TrainingError(f"{checkpoint_dir} holds checkpoints of an earlier run; use --resume to continue it or another --logdir")

    import keras

    from .data import Prefetcher, open_data
    from .model_file import export_model
    from .images import load_image, resize_longer_side
    from .losses import PerceptualLoss
    from .network import build_transform_net
    from .summaries import SummaryWriter
    from .vgg import LossNetwork

    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        raise TrainingError(f"KERAS_BACKEND={backend}: the trainer supports jax and tensorflow")
    keras.mixed_precision.set_dtype_policy(settings["precision"])
    seed_everything(settings["seed"], backend)
    from . import distribute

    try:
        dist = distribute.setup(
            backend, settings.get("devices"), settings.get("coordinator"), settings.get("num_processes"), settings.get("process_id")
        )
        local_batch = dist.local_batch_size(settings["batch_size"])
    except distribute.DistributionError as error:
        raise TrainingError(str(error)) from None
    if not dist.is_chief:  # one report, from process 0; every process still warns about its own photos
        report = out

        def out(line):
            if line.startswith("warning"):
                report(line)

    # Data first: a bad --data fails before minutes of model building.
    data = open_data(
        settings["data"], settings["image_size"], local_batch, settings["seed"],
        workers=settings.get("workers") or None, cache_mb=settings.get("cache_mb", config.DATA_CACHE_MB),
        holdout=settings.get("validation_photos", config.VALIDATION_PHOTOS), log=out, shard=dist.shard(),
    )
    out(f"data: {data.describe()}; training on {dist.describe()}")
    val_images = data.validation_images()

    style = load_image(settings["style"])
    style = resize_longer_side(style, settings["style_size"])
    with dist.scope():  # TensorFlow: variables mirrored on every device; JAX: nothing
        loss_net = LossNetwork(weights=settings["vgg_weights"])
        grams = PerceptualLoss.style_targets(loss_net, style)
        grams = {k: keras.ops.convert_to_tensor(np.asarray(keras.ops.convert_to_numpy(v), "float32")) for k, v in grams.items()}
        loss_fn = PerceptualLoss(
            loss_net, grams, content_weight=settings["content_weight"], style_weight=settings["style_weight"], tv_weight=settings["tv_weight"]
        )
        model = build_transform_net(settings["width"])
        optimizer = keras.optimizers.Adam(learning_rate=settings["lr"])
        if settings["precision"] == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        names = loss_names(loss_fn.style_layers)
        stepper = (JaxStepper if backend == "jax" else TensorFlowStepper)(model, loss_fn, loss_net, optimizer, names, dist=dist)

    step = 0
    last_checkpoint = None
    if settings.get("resume"):
        found = ckpt.latest_good(checkpoint_dir, log=out)
        if found is None:
            out(f"no usable checkpoint in {checkpoint_dir}; starting from step 0")
        else:
            last_checkpoint, groups, meta = found
            stepper.load(groups)
            try:
                data.restore(distribute.unpack_position(meta["data"], dist.process_index, dist.process_count))
            except distribute.DistributionError as error:
                raise TrainingError(f"{last_checkpoint}: {error}") from None
            step = int(meta["step"])
            out(f"resumed from {last_checkpoint} (step {step})")

    saved_settings = {k: v for k, v in settings.items() if k not in NOT_SETTINGS}
    writer = SummaryWriter(settings["logdir"]) if dist.is_chief else distribute.Silent()  # process 0 writes
    if step == 0:
        writer.text("settings", "```\n" + json.dumps(saved_settings, indent=2, sort_keys=True) + "\n```", 0)
        writer.hparams(saved_settings)
        writer.image("images/style", style, 0)
        for i, image in enumerate(val_images[: config.VALIDATION_IMAGES_SHOWN]):
            writer.image(f"images/validation_photo_{i}", image, 0)

    def checkpoint(at_step):
        positions = dist.gather(batches.position)  # every process's data position, for --resume
        groups = stepper.groups()
        bad = [g for g, values in groups.items() if not all(np.isfinite(v).all() for v in values if v.dtype.kind == "f")]
        if bad:
            raise TrainingError(f"non-finite {bad[0]} variables at step {at_step}; not saved. Last good checkpoint: {last_checkpoint}")
        if not dist.is_chief:
            return ckpt.checkpoint_path(checkpoint_dir, at_step)
        meta = {"settings": saved_settings, "data": distribute.pack_positions(positions), "seed": settings["seed"], "backend": backend}
        return ckpt.save_checkpoint(checkpoint_dir, at_step, groups, meta, keep=settings["keep"])

    validation = {}

    def validate_now(at_step):
        if len(val_images) == 0:
            return {}
        stylised, losses = stepper.evaluate(val_images)
        writer.scalars({"validation/" + k: v for k, v in losses.items()}, at_step)
        from .images import to_uint8

        for i, image in enumerate(stylised[: config.VALIDATION_IMAGES_SHOWN]):
            writer.image(f"images/validation_{i}", to_uint8(image), at_step)
        return losses

    progress = Progress(settings["steps"], step) if dist.is_chief else distribute.Silent()
    final = {}
    put = dist.put if backend == "jax" else None  # start the host->device copy in the prefetch thread
    batches = Prefetcher(data, depth=4, put=put)
    interval_start, interval_step = time.time(), step
    try:
        while step < settings["steps"]:
            stepper.step(next(batches))
            step += 1
            at_end = step == settings["steps"]
            if step % settings["log_every"] == 0 or at_end:
                losses = stepper.mean_losses()  # the only per-interval device->host sync
                now = time.time()
                rate = (step - interval_step) * settings["batch_size"] / max(now - interval_start, 1e-9)
                interval_start, interval_step = now, step
                if not all(math.isfinite(v) for v in losses.values()):
                    raise TrainingError(
                        f"non-finite loss at step {step} ({', '.join(f'{k}={v}' for k, v in losses.items() if not math.isfinite(v))}); "
                        f"stopping. Last good checkpoint: {last_checkpoint or 'none'}. Try a lower --lr or --precision float32"
                    )
                final = losses
                _log_losses(writer, tensorboard_tag, losses, step)
                writer.scalars({"learning_rate": settings["lr"], "images_per_second": rate, "data/skipped_images": data.skipped}, step)
                progress.update(
                    step,
                    f"loss {losses['total']:.4g} content {losses['weighted/content']:.3g} "
                    f"style {losses['weighted/style']:.3g} tv {losses['weighted/tv']:.3g} {rate:.0f} img/s",
                )
            if step % settings["val_every"] == 0 or at_end:
                validation = validate_now(step)
            if step % settings["checkpoint_every"] == 0 or at_end:
                last_checkpoint = checkpoint(step)
    finally:
        batches.close()
        progress.close()
        writer.close()

    stepper.to_model()
    # Export a float32 copy: the file is for inference on any device, where bf16/fp16 compute
    # would only lose precision.
    keras.mixed_precision.set_dtype_policy("float32")
    exported = build_transform_net(settings["width"])
    exported.set_weights(model.get_weights())
    metadata = {
        "format": "transformnet-1",
        "name": settings["name"],
        "style_file": os.path.basename(settings["style"]),
        "style_sha256": sha256_of(settings["style"]),
        "settings": saved_settings,
        "steps": step,
        "images_seen": step * settings["batch_size"],
        "skipped_images": data.skipped,
        "final_losses": final,
        "validation_losses": validation,
        "backend": backend,
        "devices": dist.num_devices,
        "processes": dist.process_count,
        "precision": settings["precision"],
        "wall_time_s": round(time.time() - started, 1),
        "keras_version": keras.__version__,
        "checkpoint": last_checkpoint,
    }
    if dist.is_chief:
        export_model(exported, output_path, metadata)
    out(f"exported {output_path} ({step} steps, {metadata['wall_time_s']} s)")
    return metadata


def main(argv=None):
    from .checkpoints import CheckpointError
    from .data import DataError
    from .images import ImageError

    # As in train.py, for the transformnet-train console script: TensorFlow's C++ start-up
    # chatter buries the progress bar (TF_CPP_MIN_LOG_LEVEL=0 shows it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = parse_settings(argv)
        settings.pop("config")
        import transformnet  # the command line is a thin wrapper over the Python API

        transformnet.train(settings.pop("style"), settings.pop("data"), settings.pop("name"), **settings)
    except (TrainingError, DataError, ImageError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - WeightsError etc.: one line, not a traceback
        from .vgg import WeightsError

        if isinstance(error, WeightsError):
            print(f"error: {error}", file=sys.stderr)
            return 1
        raise
    return 0
