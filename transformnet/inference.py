"""Running a trained transform net fast: what ``eval.py`` does with every photo and frame.

Measured on the 2-core development VM (benchmarks/RESULTS.md, "Stylizing speed, issue 12"):

- **One compiled function per input shape** (:class:`CompiledModel`), not Keras' eager call
  (~3x slower at 256 px) or ``predict_on_batch`` (rebuilds its input pipeline each call).
  The shape is static when traced, so the network's reflection padding takes the mirror-pad
  branch rather than the gather fallback. At most ``MAX_SHAPES`` shapes are kept (a folder of
  mixed photo sizes must not hold every graph ever traced); the oldest is dropped first.
- **A fused instance norm on TensorFlow** (:class:`FusedInstanceNorm`): with batch 1, instance
  norm *is* training-mode batch norm, so TensorFlow's ``FusedBatchNormV3`` computes the
  statistics and normalises in one oneDNN kernel instead of ~7 passes over the feature map
  (moments, subtract, multiply, scale, shift). This halved the time outside the convolutions.
- **bfloat16 activations** (``precision="bfloat16"``): convolutions run in bfloat16 on oneDNN
  (AMX or AVX512_BF16) with float32 accumulation, and every feature map moves half the bytes.
  The first convolution (3 input channels) stays float32: bfloat16 kernels pad the channels
  and made that layer 4x slower. Norm statistics and the final tanh stay float32.
  Used by default only where the CPU has native bfloat16 (:func:`default_precision`); its
  perceptual-loss cost is in RESULTS.md.

The saved model is never changed: :func:`inference_model` clones it (sharing nothing that
training could see), and on JAX the clone keeps Keras' own layers (XLA fuses them itself).
"""

import collections

import numpy as np

PRECISIONS = ("auto", "float32", "bfloat16")

MAX_SHAPES = 8
"""Compiled shapes kept per model: a photo folder usually has a few sizes; tiling needs at
most 9 (interior, edge and corner tiles)."""

FLOAT32_BELOW_CHANNELS = 8
"""Layers whose input has fewer channels than this stay float32 under bfloat16 (the RGB
input's padding and 9x9 convolution): bfloat16 kernels pad 3 channels to a full vector and
measured 4x slower there (benchmarks/RESULTS.md)."""


def cpu_has_bfloat16():
    """True when the CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16; Linux flags)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = line.split()
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    return False


def default_precision():
    """``bfloat16`` on TensorFlow with a native-bfloat16 CPU, else ``float32``.

    Without native support oneDNN emulates bfloat16 and it is slower than float32; JAX's CPU
    backend (XLA) has no fast bfloat16 convolutions either (RESULTS.md)."""
    import keras

    if keras.backend.backend() == "tensorflow" and cpu_has_bfloat16():
        return "bfloat16"
    return "float32"


def resolve_precision(precision):
    if precision in (None, "auto"):
        return default_precision()
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    return precision


def _instance_norm_class():
    from .network import InstanceNormalization

    class FusedInstanceNorm(InstanceNormalization):
        """Instance norm as one ``FusedBatchNormV3`` (training mode, batch 1): same result.

        Batch 1 only: with more images batch norm would pool their statistics, so the
        compiled functions of this module always run one image.
        """

        def call(self, x):
            import tensorflow as tf

            y, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x,
                scale=tf.cast(self.scale, "float32"),
                offset=tf.cast(self.shift, "float32"),
                mean=tf.zeros([0], "float32"),
                variance=tf.zeros([0], "float32"),
                epsilon=self.epsilon,
                exponential_avg_factor=1.0,
                data_format="NHWC",
                is_training=True,
            )
            return y

    return FusedInstanceNorm


def _input_channels(layer):
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return inputs[0].shape[-1]


def inference_model(model, precision="float32"):
    """A clone of ``model`` for fast inference (see the module docstring); ``model`` is unchanged.

    Every layer is rebuilt from its config with copied weights, so nothing is shared with the
    caller's model. On TensorFlow instance norms become :class:`FusedInstanceNorm`; under
    ``bfloat16`` every layer whose input has at least ``FLOAT32_BELOW_CHANNELS`` channels
    computes in bfloat16, except layers whose config pins a dtype (the float32 tanh output).
    """
    import keras

    from .network import InstanceNormalization

    precision = resolve_precision(precision)
    fused = _instance_norm_class() if keras.backend.backend() == "tensorflow" else None

    def clone(layer):
        config = layer.get_config()
        cls = layer.__class__
        if fused is not None and isinstance(layer, InstanceNormalization):
            cls = fused
        pinned = _pinned_dtype(layer)
        if pinned:
            config["dtype"] = pinned
        elif precision == "bfloat16" and _input_channels(layer) >= FLOAT32_BELOW_CHANNELS:
            config["dtype"] = "mixed_bfloat16"
        else:
            config["dtype"] = "float32"
        new = cls.from_config(config)
        if layer.weights:
            shapes = layer.input if isinstance(layer.input, (list, tuple)) else layer.input
            new.build(keras.tree.map_structure(lambda t: t.shape, shapes))
            new.set_weights(layer.get_weights())
        return new

    return keras.models.clone_model(model, clone_function=clone)


def _pinned_dtype(layer):
    """The dtype a layer was built with on purpose (network.ScaledTanh is float32 under any
    policy), or None for layers that follow the global policy."""
    from .network import ScaledTanh

    return "float32" if isinstance(layer, ScaledTanh) else None


class CompiledModel:
    """``model`` as compiled functions of one input shape each: ``run(batch) -> numpy``.

    TensorFlow: a ``tf.function`` with that exact input signature (graph optimisations and
    oneDNN fusions apply; no retracing checks per call). JAX: ``jax.jit`` of the stateless
    call with the weights as arguments, so updated variables (tiling's statistics) are seen.
    """

    def __init__(self, model, max_shapes=MAX_SHAPES):
        import keras

        self.model = model
        self.backend = keras.backend.backend()
        self.max_shapes = max_shapes
        self.functions = collections.OrderedDict()
        self.traces = 0  # how many shapes were compiled (tests check the cache is reused)

    def _compile(self, shape, dtype):
        self.traces += 1
        model = self.model
        if self.backend == "tensorflow":
            import tensorflow as tf

            @tf.function(input_signature=[tf.TensorSpec(shape, dtype)], autograph=False)
            def run(batch):
                return model(tf.cast(batch, "float32"), training=False)

            # .numpy() returns a writable array (np.asarray of a tensor is read-only), so callers
            # can round a 24 MP result in place.
            return lambda batch: _tree(lambda tensor: tensor.numpy(), run(batch))
        if self.backend == "jax":
            import jax

            @jax.jit
            def stateless(trainable, non_trainable, batch):
                outputs, _ = model.stateless_call(trainable, non_trainable, batch.astype("float32"), training=False)
                return outputs

            def run_jax(batch):
                trainable = [v.value for v in model.trainable_variables]
                non_trainable = [v.value for v in model.non_trainable_variables]
                return _tree(np.array, stateless(trainable, non_trainable, batch))

            return run_jax
        return lambda batch: model.predict_on_batch(np.asarray(batch, np.float32))

    def __call__(self, batch):
        batch = np.asarray(batch)
        if batch.dtype not in (np.uint8, np.float32):
            batch = batch.astype(np.float32)
        key = (batch.shape, batch.dtype.str)
        function = self.functions.pop(key, None)
        if function is None:
            function = self._compile(batch.shape, batch.dtype)
            while len(self.functions) >= self.max_shapes:
                self.functions.popitem(last=False)
        self.functions[key] = function  # most recently used last
        return function(batch)


def _tree(convert, out):
    """``convert`` applied to one output or to each of a list (tiling's pilot has several)."""
    return [convert(o) for o in out] if isinstance(out, (list, tuple)) else convert(out)


class Stylizer:
    """A transform net ready to stylize: the inference clone, compiled per shape.

    ``stylizer(image)`` takes (H, W, 3) uint8 or float 0..255 and returns float32 (H, W, 3).
    Build one per model and reuse it: the clone and every compiled shape are kept.
    """

    def __init__(self, model, precision="auto"):
        self.source = model
        self.precision = resolve_precision(precision)
        self.model = inference_model(model, self.precision)
        self.compiled = CompiledModel(self.model)

    def __call__(self, image):
        return self.compiled(np.asarray(image)[None])[0]


_STYLIZERS = {}


def get_stylizer(model, precision="auto"):
    """The cached :class:`Stylizer` for ``model`` (one model at a time, as eval.py loads one)."""
    precision = resolve_precision(precision)
    key = (id(model), precision)
    stylizer = _STYLIZERS.get(key)
    if stylizer is None or stylizer.source is not model:
        _STYLIZERS.clear()
        stylizer = _STYLIZERS[key] = Stylizer(model, precision)
    return stylizer
