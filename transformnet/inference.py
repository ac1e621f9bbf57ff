"""Running a trained transform net fast: what ``eval.py`` does with every photo and frame.

Measured on the 2-core development VM (benchmarks/RESULTS.md, "Stylizing speed, issue 12"):

- **Compiled functions, one per input shape** (:class:`CompiledModel`), not Keras' eager call
  (~3x slower at 256 px) or ``predict_on_batch`` (per-call overhead). At most ``MAX_SHAPES``
  shapes get their own; further sizes share one shape-polymorphic function, so a folder of
  mixed sizes is not retraced per photo.
- **A fused instance norm on TensorFlow** (:class:`FusedInstanceNorm`): with batch 1, instance
  norm *is* training-mode batch norm, so TensorFlow's ``FusedBatchNormV3`` computes the
  statistics and normalises in one oneDNN kernel instead of ~7 passes over the feature map
  (moments, subtract, multiply, scale, shift). This halved the time outside the convolutions.
- **bfloat16 activations** (``precision="bfloat16"``): convolutions run on oneDNN's AMX
  bfloat16 kernels with float32 accumulation, and every feature map moves half the bytes.
  Norm statistics and the final tanh stay float32. The default only on CPUs with AMX
  (:func:`default_precision`); it changed the perceptual loss on 20 unseen photos by -0.7 %
  and shows no banding (RESULTS.md).

The saved model is never changed: :func:`inference_model` clones it (sharing nothing that
training could see), and on JAX the clone keeps Keras' own layers (XLA fuses them itself).
"""

import collections
import logging

import numpy as np

from .quiet import no_tensorflow_lookups

PRECISIONS = ("auto", "float32", "bfloat16")

MAX_SHAPES = 4
"""Input shapes that get a function of their own (see :class:`CompiledModel`): one photo, a
video, a folder from one camera (landscape and portrait) and most tiled photos' tile shapes."""

MIN_ANY_SIDE = 32
"""Smallest side the shape-polymorphic function takes: every reflection pad then stays within
the feature map (side / 4 > 1 px at the residual blocks, side > 4 px for the 9x9 convs)."""


def cpu_has_bfloat16():
    """True when the CPU has AMX-BF16 tile units (Linux flags; Intel Xeon since Sapphire Rapids).

    AVX512_BF16 alone is not enough: with oneDNN limited to it (ONEDNN_MAX_CPU_ISA=
    AVX512_CORE_BF16, as on AMD Zen 4 or Intel Cooper Lake) the bfloat16 network was 1.35x
    *slower* than float32, 3.5x slower on plain AVX-512, and on AVX2 TensorFlow has no
    bfloat16 convolution at all (benchmarks/RESULTS.md)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "amx_bf16" in line.split()
    except OSError:
        pass
    return False


def default_precision():
    """``bfloat16`` on TensorFlow with AMX (:func:`cpu_has_bfloat16`), else ``float32``. JAX's
    CPU backend (XLA) is not given bfloat16 by default: it was not measured faster there."""
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

            if x.shape[0] not in (None, 1):
                raise ValueError(f"{self.name}: the fused instance norm takes one image, not {x.shape[0]}")
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


def _padding_class():
    from keras import ops

    from .network import ReflectionPadding2D

    class ConcatReflectionPadding2D(ReflectionPadding2D):
        """Reflection padding as two concatenations of the reversed border strips: the same
        pixels as the backend's mirror pad, which TensorFlow computes element by element and
        measured 2-4x slower (a quarter of the whole network's time at 1024 px in bfloat16)."""

        def call(self, x):
            p = self.padding
            h, w = x.shape[1], x.shape[2]
            if p == 0 or (h is not None and w is not None and min(h, w) <= p):
                return super().call(x)  # tiny sizes: the network's own path
            x = ops.concatenate([ops.flip(x[:, 1 : p + 1], 1), x, ops.flip(x[:, -p - 1 : -1], 1)], axis=1)
            return ops.concatenate([ops.flip(x[:, :, 1 : p + 1], 2), x, ops.flip(x[:, :, -p - 1 : -1], 2)], axis=2)

    return ConcatReflectionPadding2D


def _consumer(layer):
    """The one layer that takes ``layer``'s output, or None."""
    nodes = layer._outbound_nodes
    return nodes[0].operation if len(nodes) == 1 else None


def _plain_conv(layer):
    """A stride-1, undilated, ungrouped, unpadded channels-last ``Conv2D``: the kind whose
    kernel :func:`subpixel_kernel` and :func:`space_to_depth_kernel` may rearrange."""
    from keras import layers

    return (
        isinstance(layer, layers.Conv2D)
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.padding == "valid"
        and layer.groups == 1
        and layer.data_format == "channels_last"
    )


def _upsample_convs(model):
    """{name: role} for each nearest x2 upsampling -> reflection pad 1 -> 3x3 convolution chain
    (the network's two up blocks), which :class:`SubPixelConv` computes at low resolution."""
    from keras import layers

    from .network import ReflectionPadding2D

    roles = {}
    for up in model.layers:
        if not (isinstance(up, layers.UpSampling2D) and tuple(up.size) == (2, 2) and up.interpolation == "nearest"):
            continue
        pad = _consumer(up)
        conv = _consumer(pad) if pad is not None else None
        if isinstance(pad, ReflectionPadding2D) and pad.padding == 1 and _plain_conv(conv) and tuple(conv.kernel_size) == (3, 3):
            roles.update({up.name: "skip", pad.name: "skip", conv.name: "subpixel"})
    return roles


def subpixel_kernel(kernel):
    """(3, 3, Cin, Cout) kernel of a conv on the reflect-padded x2 upsampled image -> the
    (3, 3, Cin, 4 * Cout) kernel of one conv on the edge-padded low-resolution image whose
    output channels are the four phases (row a, column b) in depth-to-space order (a*2+b).

    Output row 2i+a of the upsampled conv sees low-resolution rows i..i+2 of the edge-padded
    image with weights ``TAPS[a] @ (w0, w1, w2)``: phase 0 gets (w0, w1 + w2, 0), phase 1 gets
    (0, w0 + w1, w2) (nearest upsampling repeats each row, and reflecting the upsampled border
    repeats the edge row, which is what edge padding gives)."""
    taps = np.array([[[1, 0, 0], [0, 1, 1], [0, 0, 0]], [[0, 0, 0], [1, 1, 0], [0, 0, 1]]], np.float64)
    kernel = np.asarray(kernel, np.float64)
    phases = [np.einsum("yk,xl,klio->yxio", taps[a], taps[b], kernel) for a in (0, 1) for b in (0, 1)]
    return np.concatenate(phases, axis=-1).astype(np.float32)


def space_to_depth_kernel(kernel):
    """(k, k, Cin, Cout) kernel (k odd) of a stride-1 conv -> the (k', k', 4 * Cin, 4 * Cout)
    kernel, k' = (k + 1) / 2, of the same conv on the space-to-depth (block 2) input whose output
    channels are the four output phases in depth-to-space order.

    Output pixel (2i + a, 2j + b) sees input rows 2i + a .. 2i + a + k - 1, which lie in the
    blocks i .. i + k' - 1; block row ``dy`` holds input rows 2(i + dy) + ai (ai = 0, 1), i.e.
    tap ``2 dy + ai - a`` of the original kernel when it lies in 0..k-1 (zero otherwise)."""
    kernel = np.asarray(kernel, np.float32)
    k, _, cin, cout = kernel.shape
    kk = (k + 1) // 2
    out = np.zeros((kk, kk, 4 * cin, 4 * cout), np.float32)
    for a in (0, 1):
        for b in (0, 1):
            for ai in (0, 1):
                for bi in (0, 1):
                    for dy in range(kk):
                        for dx in range(kk):
                            y, x = 2 * dy + ai - a, 2 * dx + bi - b
                            if 0 <= y < k and 0 <= x < k:
                                out[dy, dx, (ai * 2 + bi) * cin : (ai * 2 + bi + 1) * cin,
                                    (a * 2 + b) * cout : (a * 2 + b + 1) * cout] = kernel[y, x]
    return out


def _phase_conv_classes():
    """The two layers that compute a convolution on 2x2 pixel blocks: ``(SubPixelConv,
    SpaceToDepthConv)``. Both replace a :func:`_plain_conv` by one conv with 4x the output
    channels (the four output phases) whose kernel is the original one rearranged, followed by
    depth-to-space."""
    import keras
    from keras import layers, ops

    tensorflow = keras.backend.backend() == "tensorflow"

    def depth_to_space(y, channels):
        if tensorflow:
            import tensorflow as tf

            return tf.nn.depth_to_space(y, 2)
        b, h, w = ops.shape(y)[0], ops.shape(y)[1], ops.shape(y)[2]
        y = ops.transpose(ops.reshape(y, (b, h, w, 2, 2, channels)), (0, 1, 3, 2, 4, 5))
        return ops.reshape(y, (b, 2 * h, 2 * w, channels))

    def space_to_depth(x):
        if tensorflow:
            import tensorflow as tf

            return tf.nn.space_to_depth(x, 2)
        b, h, w, c = ops.shape(x)[0], ops.shape(x)[1] // 2, ops.shape(x)[2] // 2, x.shape[-1]
        x = ops.transpose(ops.reshape(x, (b, h, 2, w, 2, c)), (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h, w, 4 * c))

    class PhaseConv(layers.Layer):
        """``conv`` rebuilt as ``self.conv``: input channels x ``in_blocks``, output channels x 4,
        kernel ``rearrange(kernel)``, bias repeated per phase."""

        def __init__(self, conv, rearrange, in_blocks, suffix, **kwargs):
            super().__init__(name=conv.name, **kwargs)
            k, _, cin, cout = conv.kernel.shape
            self.size, self.filters = k, cout
            kernel = rearrange(ops.convert_to_numpy(conv.kernel))
            self.conv = layers.Conv2D(
                4 * cout, kernel.shape[0], padding="valid", use_bias=conv.use_bias, activation=conv.activation,
                dtype=self.dtype_policy, name=f"{conv.name}_{suffix}",
            )
            self.conv.build((None, None, None, in_blocks * cin))
            self.conv.set_weights([kernel] + ([np.tile(ops.convert_to_numpy(conv.bias), 4)] if conv.use_bias else []))

    class SubPixelConv(PhaseConv):
        """``conv3x3(reflect_pad_1(upsample_x2(x)))`` computed as edge pad, one 3x3 convolution
        at the low resolution with 4x the channels, then depth-to-space: the same pixels
        without writing and padding the 4x larger upsampled map (RESULTS.md, issue 12)."""

        def __init__(self, conv, **kwargs):
            super().__init__(conv, subpixel_kernel, 1, "phases", **kwargs)

        def call(self, x):
            # Edge padding by 1 (as concatenations: see ConcatReflectionPadding2D).
            x = ops.concatenate([x[:, :1], x, x[:, -1:]], axis=1)
            y = self.conv(ops.concatenate([x[:, :, :1], x, x[:, :, -1:]], axis=2))
            return depth_to_space(y, self.filters)

    class SpaceToDepthConv(PhaseConv):
        """A stride-1 ``k x k`` convolution with few output channels (the network's 9x9 conv to
        RGB) computed on 2x2 pixel blocks: space-to-depth, one ``(k+1)/2`` square conv with 4x
        the input and output channels, depth-to-space. The same sums, but oneDNN's AMX kernels
        pad the output channels to 16, and with 3 of them the full-resolution 9x9 conv was the
        network's most expensive layer (136 of 840 ms at 1024 px, full width, under load). On
        blocks it has a quarter of the taps and 12 output channels: the slim net in bfloat16 went
        from 276 to 255 ms at 1024 px (RESULTS.md, issue 12)."""

        def __init__(self, conv, **kwargs):
            super().__init__(conv, space_to_depth_kernel, 4, "blocks", **kwargs)

        def call(self, x):
            h, w = ops.shape(x)[1], ops.shape(x)[2]
            # An odd side gets one zero row/column: it only reaches output pixels cropped below.
            x = ops.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]])
            y = depth_to_space(self.conv(space_to_depth(x)), self.filters)
            return y[:, : h - self.size + 1, : w - self.size + 1]

        def compute_output_shape(self, shape):
            side = lambda n: None if n is None else n - self.size + 1  # noqa: E731
            return (shape[0], side(shape[1]), side(shape[2]), self.filters)

    return SubPixelConv, SpaceToDepthConv


def _blocked_convs(model):
    """Names of the stride-1 odd-sized (>= 5) convolutions with under 16 output channels, which
    :class:`SpaceToDepthConv` computes on 2x2 blocks (the 9x9 conv to RGB)."""
    return {
        layer.name
        for layer in model.layers
        if _plain_conv(layer)
        and layer.kernel_size[0] == layer.kernel_size[1] >= 5
        and layer.kernel_size[0] % 2 == 1
        and layer.filters < 16
    }


def inference_model(model, precision="float32"):
    """A clone of ``model`` for fast inference (see the module docstring); ``model`` is unchanged.

    Every layer is rebuilt from its config with copied weights, so nothing is shared with the
    caller's model. Upsample-pad-conv chains become ``SubPixelConv``, the 9x9 conv to RGB
    ``SpaceToDepthConv`` (:func:`_phase_conv_classes`); on TensorFlow
    instance norms become :class:`FusedInstanceNorm`; under ``bfloat16`` every layer computes in
    bfloat16 except the float32 tanh.
    """
    import keras

    from .network import CropToMatch, InstanceNormalization, ReflectionPadding2D, ScaledTanh

    precision = resolve_precision(precision)
    fused = _instance_norm_class() if keras.backend.backend() == "tensorflow" else None
    subpixel, space_to_depth = _phase_conv_classes()
    padding = _padding_class()
    bfloat16 = precision == "bfloat16"
    roles = _upsample_convs(model)
    blocked = _blocked_convs(model)

    def clone(layer):
        # ScaledTanh is float32 by design (network.py): the tanh and the pixels stay exact.
        dtype = "mixed_bfloat16" if bfloat16 and not isinstance(layer, ScaledTanh) else "float32"
        role = roles.get(layer.name)
        if role == "skip":
            return keras.layers.Identity(name=layer.name, dtype=dtype)
        if role == "subpixel":
            return subpixel(layer, dtype=dtype)
        if layer.name in blocked:
            return space_to_depth(layer, dtype=dtype)
        cls = layer.__class__
        if fused is not None and isinstance(layer, InstanceNormalization):
            cls = fused
        elif isinstance(layer, ReflectionPadding2D):
            cls = padding
        config = {**layer.get_config(), "dtype": dtype}
        if isinstance(layer, CropToMatch):
            config["autocast"] = False  # its second input (the image) only gives a shape: no cast
        new = cls.from_config(config)
        if layer.weights:
            new.build(keras.tree.map_structure(lambda t: t.shape, layer.input))
            new.set_weights(layer.get_weights())
        return new

    return keras.models.clone_model(model, clone_function=clone)


class _NotRetracingWarning(logging.Filter):
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _drop_retracing_warning(tf):
    """TensorFlow warns, in several lines even under ``--quiet``, when many ``tf.function``s trace
    ("5 out of the last 8 calls ... triggered tf.function retracing"): a tiled 12 MP photo does.
    One function per photo or tile shape is this module's design (an LRU of ``MAX_SHAPES``), so
    that warning alone is dropped; TensorFlow's other warnings stay."""
    logger = tf.get_logger()
    if not any(isinstance(f, _NotRetracingWarning) for f in logger.filters):
        logger.addFilter(_NotRetracingWarning())


class CompiledModel:
    """``model`` as compiled functions: ``run(batch) -> numpy`` (several outputs: a list).

    The first ``max_shapes`` input shapes each get a function traced for exactly that shape
    (static shapes: ~5% faster than a shape-polymorphic graph at 256..1024 px). Further shapes
    share one function traced for any height and width: tracing costs ~1 s per shape, so a
    folder of photos of many sizes must not pay it per photo. Images under ``MIN_ANY_SIDE`` px
    always get their own function (the concatenated reflection padding needs known sizes
    there), evicting the least recently used beyond ``max_shapes``.

    TensorFlow: ``tf.function`` (graph optimisations and oneDNN fusions apply); ``frozen=True``
    (a one-output model whose weights never change, as :class:`Stylizer`'s) bakes the weights into
    the graph as constants (TensorFlow's own ``convert_variables_to_constants_v2``, which its
    TFLite converter uses): no variable reads and no per-call casts of every weight to bfloat16,
    ~10 % at 256 px where the per-op overhead dominates. JAX: ``jax.jit``
    of the stateless call with the weights as arguments, so updated variables (tiling's
    statistics) are seen; a jitted function compiles per shape by itself.
    """

    def __init__(self, model, max_shapes=MAX_SHAPES, frozen=False):
        import keras

        self.model = model
        self.frozen = frozen
        self.backend = keras.backend.backend()
        self.max_shapes = max_shapes
        self.functions = collections.OrderedDict()  # (shape, dtype) -> function, LRU order
        self.any_shape = {}  # dtype -> the shape-polymorphic function
        self.traces = 0  # functions made (tests check that they are reused)

    def _compile(self, shape, dtype):
        self.traces += 1
        model = self.model
        if self.backend == "tensorflow":
            import tensorflow as tf

            _drop_retracing_warning(tf)

            @tf.function(input_signature=[tf.TensorSpec(shape, dtype)], autograph=False)
            def run(batch):
                return model(tf.cast(batch, "float32"), training=False)

            if self.frozen:
                from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

                frozen = convert_variables_to_constants_v2(run.get_concrete_function())
                return lambda batch: frozen(tf.constant(batch))[0].numpy()
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
        function = self.functions.get(key)
        if function is not None:
            self.functions.move_to_end(key)
        elif len(self.functions) < self.max_shapes or min(batch.shape[1:3]) < MIN_ANY_SIDE:
            function = self.functions[key] = self._compile(batch.shape, batch.dtype)
            while len(self.functions) > self.max_shapes:
                self.functions.popitem(last=False)
        else:
            function = self.any_shape.get(batch.dtype.str)
            if function is None:
                shape = (batch.shape[0], None, None, batch.shape[3])
                function = self.any_shape[batch.dtype.str] = self._compile(shape, batch.dtype)
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
        self.compiled = CompiledModel(self.model, frozen=True)

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
        with no_tensorflow_lookups():  # the clone reads every layer's config
            stylizer = _STYLIZERS[key] = Stylizer(model, precision)
    return stylizer
