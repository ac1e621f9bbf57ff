"""The image transform network of Johnson et al. 2016, with instance norm (Ulyanov et al. 2016).

Layout (paper, supplementary Table 1, instance-norm variant):
9x9 conv 32 -> 3x3/2 conv 64 -> 3x3/2 conv 128 -> 5 residual blocks of 128 ->
(nearest x2 upsample, 3x3 conv 64) -> (nearest x2 upsample, 3x3 conv 32) -> 9x9 conv 3.

Choices and their reasons:
- Reflection padding everywhere instead of zero padding: no dark frame at the borders.
- Nearest-neighbour upsampling + conv instead of transposed convs: no checkerboard artefacts
  (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").
- Instance norm with learned scale/shift: contrast of the content image is normalised away,
  which is what makes feed-forward stylisation work well (Ulyanov et al. 2016).
- Input and output are RGB 0..255 floats. The output is ``127.5 * (tanh(x) + 1)``: the paper
  used a scaled tanh to keep pixels in range; centring it on 127.5 maps a zero pre-activation
  to mid-grey and bounds every pixel in (0, 255) with a smooth gradient, unlike clipping.
- Any H x W >= 1 works: the stride-2 convs round up, the upsampled result is cropped back to
  the input size, so odd sizes and sizes not divisible by 4 come out exactly the input size;
  reflection padding wider than a tiny feature map falls back to repeated reflection.

Hand-written layers, and why Keras' own are not used:
- ``ReflectionPadding2D``: Keras has only ``ZeroPadding2D``; the layer is ``ops.pad(mode="reflect")``
  plus the gather fallback for feature maps smaller than the pad, which ``ops.pad`` refuses.
- ``InstanceNormalization``: ``keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)`` computes
  the same (max difference 2e-7, measured), but every ``.keras`` file trained so far stores this
  class by name, and ``tiling.py`` replaces it by a fixed-statistics twin; 15 explicit lines
  with float32 statistics are cheaper than a format migration.
- ``ScaledTanh``, ``CropToMatch``: the project allows no ``Lambda`` layers (they cannot be
  loaded with ``safe_mode=True``) and Keras has no crop-to-another-tensor's-size layer
  (``Cropping2D`` crops fixed amounts, but H and W are only known at run time).
"""

import keras
from keras import layers, ops

from . import config

PACKAGE = "transformnet"


def _reflect_indices(n, p):
    """Indices of a length-``n`` axis reflected by ``p`` on each side (numpy's "reflect" mode,
    repeated periodically when ``p >= n``; all zeros when ``n == 1``)."""
    i = ops.arange(-p, n + p)
    period = ops.maximum(2 * n - 2, 1)
    j = ops.mod(i, period)
    return ops.where(j >= n, period - j, j)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReflectionPadding2D(layers.Layer):
    """Pads H and W by mirroring (no edge repeat), so convolutions see plausible image borders."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        if p == 0:
            return x
        h, w = x.shape[1], x.shape[2]
        if h is not None and w is not None and min(h, w) > p:
            # Static and large enough (the usual case): the backend's mirror pad.
            return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
        # Unknown or small sizes (a 2x2 photo reaches 1x1 after the stride-2 convs): gather
        # with reflected indices, which also works when the pad is wider than the image.
        shape = ops.shape(x)
        x = ops.take(x, _reflect_indices(shape[1], p), axis=1)
        return ops.take(x, _reflect_indices(shape[2], p), axis=2)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceNormalization(layers.Layer):
    """Normalises each image's each channel over H and W, then applies a learned scale and shift.

    Statistics are computed in float32 even under mixed precision: bf16 variance of large
    feature maps loses too much precision.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.scale = self.add_weight(name="scale", shape=(channels,), initializer="ones")
        self.shift = self.add_weight(name="shift", shape=(channels,), initializer="zeros")

    def call(self, x):
        dtype = x.dtype
        x = ops.cast(x, "float32")
        mean, variance = ops.moments(x, axes=[1, 2], keepdims=True)
        x = (x - mean) * ops.rsqrt(variance + self.epsilon)
        x = x * ops.cast(self.scale, "float32") + ops.cast(self.shift, "float32")
        return ops.cast(x, dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledTanh(layers.Layer):
    """Maps any real pre-activation to an RGB value in (0, 255): 127.5 * (tanh(x) + 1)."""

    def call(self, x):
        return 127.5 * (ops.tanh(x) + 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CropToMatch(layers.Layer):
    """Crops ``inputs[0]`` to the height and width of ``inputs[1]`` (top-left aligned)."""

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


def _conv(x, filters, kernel_size, strides=1, name=None, norm=True, relu=True):
    x = ReflectionPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="valid", name=f"{name}_conv")(x)
    if norm:
        x = InstanceNormalization(name=f"{name}_norm")(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _residual_block(x, filters, name):
    """Paper's residual block: conv-IN-ReLU-conv-IN plus identity, no ReLU after the sum."""
    y = _conv(x, filters, 3, name=f"{name}_a")
    y = _conv(y, filters, 3, name=f"{name}_b", relu=False)
    return layers.Add(name=f"{name}_add")([x, y])


def build_transform_net(width=config.NETWORK_WIDTH, residual_blocks=5, name="transform_net"):
    """Returns a functional ``keras.Model`` mapping RGB 0..255 images (B, H, W, 3) to the same size.

    ``width`` scales every channel count (1.0 = paper's 32/64/128; 0.5 = slim variant).
    """
    c1, c2, c3 = (max(1, int(round(c * width))) for c in (32, 64, 128))
    image = keras.Input(shape=(None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="to_unit_range")(image)
    x = _conv(x, c1, 9, name="down0")
    x = _conv(x, c2, 3, strides=2, name="down1")
    x = _conv(x, c3, 3, strides=2, name="down2")
    for i in range(residual_blocks):
        x = _residual_block(x, c3, name=f"res{i}")
    x = layers.UpSampling2D(2, interpolation="nearest", name="up1_upsample")(x)
    x = _conv(x, c2, 3, name="up1")
    x = layers.UpSampling2D(2, interpolation="nearest", name="up2_upsample")(x)
    x = _conv(x, c1, 3, name="up2")
    x = _conv(x, 3, 9, name="out", norm=False, relu=False)
    x = CropToMatch(name="crop_to_input")([x, image])
    # float32 output even under mixed precision: pixels feed the loss network and image files.
    x = ScaledTanh(name="to_rgb", dtype="float32")(x)
    return keras.Model(image, x, name=name)


def width_of(model):
    """The ``width`` a net was built with (its first conv has 32 x width filters); None for a
    model that ``build_transform_net`` did not build."""
    try:
        return model.get_layer("down0_conv").filters / 32
    except ValueError:
        return None
