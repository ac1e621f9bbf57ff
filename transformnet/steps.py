"""The compiled train and eval steps of each backend, where data parallelism lives (issue 3, 11).

- TensorFlow: ``tf.function(jit_compile=True)`` around a ``GradientTape`` and the Keras optimizer;
  under a ``tf.distribute`` strategy (``distribute.py``) the same gradient function runs per
  replica and the optimizer all-reduces.
- JAX: ``model.stateless_call`` + ``optimizer.stateless_apply`` inside one ``jax.jit`` with the
  state donated (Keras guide "Writing a training loop from scratch in JAX"), compiled with the
  mesh's shardings so XLA inserts the gradient all-reduce. TensorFlow is never imported on this
  path (the GPU machine has none).

Losses are summed on the device inside the step and fetched only every ``--log-every`` steps,
so a fast GPU never waits for the host. The seeding and device-name helpers are here because
they are the other per-backend code of the trainer.
"""

import copy
import os

import numpy as np

from .settings import TrainingError

RUN_AHEAD = 2
"""Steps the host may dispatch beyond the newest one known to be finished (see ``Stepper``)."""


def loss_names(style_layers):
    return ["total", "content", "style", "tv", "weighted/content", "weighted/style", "weighted/tv"] + [
        f"style/{layer}" for layer in style_layers
    ]


def device_name(backend):
    """The hardware the train step runs on, for the console and the model's metadata."""
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return str(device.device_kind)
        else:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    except Exception:  # noqa: BLE001 - a name for the record, never a reason to stop
        return "unknown device"
    return cpu_name()


def cpu_name():
    """The CPU model and the number of CPUs this process may use, e.g. 'Intel Xeon ... (2 CPUs)'."""
    import platform

    name = platform.processor() or platform.machine() or "CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            name = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), name)
    except OSError:
        pass
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name} ({count} CPUs)"


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
    ``step(batch)`` returns a ticket, a scalar of that step; ``ready(ticket)`` asks without waiting
    whether the step has finished, ``wait(ticket)`` waits for it. The trainer waits only for the
    step ``RUN_AHEAD`` behind the newest, so the progress bar counts finished steps while the
    device always has work queued (no per-step sync that would drain it).
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


def _painting_values(loss_fn):
    """What one painting changes in the loss, as arrays: Gram targets and the three weights."""
    from keras import ops

    grams = {k: np.asarray(ops.convert_to_numpy(v), "float32") for k, v in loss_fn.style_grams.items()}
    weights = tuple(np.float32(w) for w in (loss_fn.content_weight, loss_fn.style_weight, loss_fn.tv_weight))
    return {"grams": grams, "weights": weights}


def _with_painting(loss_fn, painting):
    """``loss_fn`` with the painting's values replaced by ``painting``'s (traced) arrays."""
    fn = copy.copy(loss_fn)
    fn.style_grams = painting["grams"]
    fn.content_weight, fn.style_weight, fn.tv_weight = painting["weights"]
    return fn


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

        def forward(trainable, non_trainable, fixed, x):
            vgg_values, painting = fixed
            y, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            with keras.StatelessScope(state_mapping=list(zip(vgg_variables, vgg_values))):
                losses = _with_painting(loss_fn, painting)(y, content_images=x)
            return y, losses, non_trainable

        def objective(trainable, non_trainable, fixed, opt_values, x):
            _, losses, non_trainable = forward(trainable, non_trainable, fixed, x)
            loss = losses["total"]
            if scaled:
                with keras.StatelessScope(state_mapping=list(zip(opt_variables, opt_values))):
                    loss = optimizer.scale_loss(loss)
            return loss, (losses, non_trainable)

        grad_fn = jax.value_and_grad(objective, has_aux=True)
        names = self.names

        def train_step(state, fixed, batch):
            trainable, non_trainable, opt_values, sums, count = state
            x = keras.ops.cast(batch, "float32")
            (_, (losses, non_trainable)), grads = grad_fn(trainable, non_trainable, fixed, opt_values, x)
            trainable, opt_values = optimizer.stateless_apply(opt_values, grads, trainable)
            sums = {k: sums[k] + losses[k] for k in names}
            return (trainable, non_trainable, opt_values, sums, count + 1), losses["total"]

        def eval_step(trainable, non_trainable, fixed, batch):
            y, losses, _ = forward(trainable, non_trainable, fixed, keras.ops.cast(batch, "float32"))
            return y, losses

        # Batches sharded over the mesh, everything else replicated (distribute.py): the losses are
        # batch means, so XLA's all-reduce of the gradients gives the one-device step.
        rep = dist.replicated
        self._train = jax.jit(train_step, donate_argnums=(0,), in_shardings=(rep, rep, dist.batch), out_shardings=rep)
        self._eval = jax.jit(eval_step, in_shardings=rep, out_shardings=rep)
        # The frozen inputs of every step, passed as arguments rather than baked into the compiled
        # program: VGG16's weights, and the painting (Gram targets, loss weights). So the program
        # is the same for every painting and JAX's persistent compilation cache
        # (JAX_COMPILATION_CACHE_DIR) serves every run after the first with the same shapes.
        self._vgg = dist.replicate(([v.value for v in vgg_variables], _painting_values(loss_fn)))
        self.from_variables()

    def _zero_sums(self):
        return self.dist.replicate(({k: np.zeros((), "float32") for k in self.names}, np.zeros((), "int32")))

    def from_variables(self):
        g = self.variable_groups()
        values = self.dist.replicate([[v.value for v in g[k]] for k in ("trainable", "non_trainable", "optimizer")])
        self.state = (*values, *self._zero_sums())

    def step(self, batch):
        self.state, ticket = self._train(self.state, self._vgg, batch)
        return ticket

    def wait(self, ticket):
        ticket.block_until_ready()

    def ready(self, ticket):
        return ticket.is_ready()

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
        assign_groups(self.variable_groups(), groups)
        self.from_variables()

    def to_model(self):
        assign_groups(self.variable_groups(), self.groups())


class TensorFlowStepper(Stepper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import tensorflow as tf

        model, loss_fn, optimizer, names, scaled = self.model, self.loss_fn, self.optimizer, self.names, self.scaled
        self._sums = {k: tf.Variable(0.0, trainable=False, dtype="float32") for k in names}
        self._count = tf.Variable(0, trainable=False, dtype="int32")
        sums, count = self._sums, self._count
        self._strategy = strategy = getattr(self.dist, "strategy", None)
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1

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

        def update(batch):
            """One replica's step: gradients, then the optimizer (which all-reduces under a strategy)."""
            grads, losses = gradients(batch)
            optimizer.apply(grads, model.trainable_variables)
            return losses

        def record(losses):
            for k in names:
                sums[k].assign_add(losses[k])
            count.assign_add(1)
            return losses["total"]

        if strategy is None:  # one device: the whole step, optimizer included, in one XLA program
            self._train = tf.function(lambda batch: record(update(batch)), jit_compile=True)
        else:
            # Keras disables XLA under tf.distribute, so only each replica's forward and backward
            # pass (``gradients``) is compiled; the optimizer runs outside XLA.
            self._train = tf.function(lambda batch: record(
                {k: strategy.reduce("MEAN", v, axis=None) for k, v in strategy.run(update, args=(batch,)).items()}))

        @tf.function(jit_compile=True)
        def eval_step(batch):
            x = tf.cast(batch, "float32")
            y = model(x, training=False)
            return y, loss_fn(y, content_images=x)

        self._eval = eval_step

    def step(self, batch):
        return self._train(self.dist.put(batch) if self._strategy is not None else batch)

    def wait(self, ticket):
        ticket.numpy()

    def ready(self, ticket):
        return "CPU" in ticket.device  # TensorFlow runs CPU kernels before the call returns

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
        assign_groups(self.variable_groups(), groups)

    def to_model(self):
        pass


def assign_groups(variables, groups):
    """Sets ``variables`` (dict group -> Keras variables) to a checkpoint's ``groups`` (dict group
    -> arrays); TrainingError when their count or a shape differs (other settings)."""
    for group, values in groups.items():
        targets = variables[group]
        if len(targets) != len(values):
            raise TrainingError(f"checkpoint has {len(values)} {group} variables, the model {len(targets)}: different settings?")
        for variable, value in zip(targets, values):
            if tuple(variable.shape) != tuple(value.shape):
                raise TrainingError(f"checkpoint variable {variable.path} is {value.shape}, model {variable.shape}: different --width?")
            variable.assign(value)
