"""Stylizing images of any size in bounded memory: overlapping tiles, one set of norm statistics.

Why tiles: the transform net's activations at full resolution cost about 32 channels x 4 bytes
per pixel per live tensor, so a 24-megapixel photo needs tens of GB untiled. Each tile is run
through the network on its own, so peak memory depends on the tile size, not the photo size.

Why tiles alone would show seams, and the fix:

1. *Borders.* Every output pixel depends on a ~110 px wide neighbourhood (the receptive
   field: 9x9 conv, two stride-2 convs, ten 3x3 convs at quarter resolution, two upsampling
   convs and a final 9x9 conv; radius about 56 px). Each tile is therefore computed with a
   ``HALO`` of extra pixels on every side that is thrown away, and tile origins are multiples
   of 4 so the stride-2/stride-4 feature grids of a tile coincide with those of the whole image.
   With the halo, a tile's kept pixels see exactly what they would see in the whole image.
2. *Instance-norm statistics.* Instance norm divides each feature map by its own mean and
   standard deviation over the whole image. Run per tile, a sky tile and a forest tile would get
   different statistics and different brightness/contrast: a visible jump at every tile
   border. We instead compute one mean/variance per norm layer and channel for the *whole*
   image and run every tile with those fixed statistics (a clone of the network whose norm
   layers read the statistics from variables; the saved model is untouched):

   - a *pilot* pass runs the normal network on the whole image, downscaled to at most
     ``PILOT_PIXELS`` if needed, and records every norm layer's mean and variance; every tile
     is then run with exactly these statistics. For images up to ``PILOT_PIXELS`` the pilot
     sees the full-resolution image, so the tiled result equals the untiled one (to float
     rounding, ~1e-4 of 255; tests/test_tiling.py). Above it, the statistics are those of the
     photo at ~1 MP: a deliberate approximation (textures at a several times smaller
     scale have slightly different feature variances), the same for every tile, so it cannot seam.
   - Tried and rejected: a refinement pass that accumulates each layer's statistics over the
     full-resolution tiles while running with the pilot statistics. It makes the first layer
     exact but leaves deeper layers' statistics inconsistent with their inputs, and the error
     grew with each repetition (measured on a 712x474 photo). Exact statistics need one tiled
     pass per norm layer (15 passes, ~6x the compute), which is too slow for a CPU.

   Every tile uses the same statistics, so nothing jumps between tiles whatever they are.
3. *Blending.* Tiles still overlap by ``BLEND`` px around each core border and are mixed with
   raised-cosine weights that sum to exactly 1 (w and 1 - w), so any remaining float
   difference fades smoothly instead of stepping.

Peak memory: one tile of ``(tile + 2 * HALO)^2`` pixels through the network, plus the float32
output canvas (12 bytes per pixel) and the input. See benchmarks/RESULTS.md for measured values.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from . import config
from .network import InstanceNormalization

HALO = 96
"""Discarded context on each side of a tile: receptive-field radius (~56 px) + BLEND/2, rounded up
to a multiple of 4 with margin."""

BLEND = config.TILE_BLEND
"""Width in pixels of the raised-cosine cross-fade between neighbouring tiles."""

DEFAULT_TILE = 768
"""Core tile side: (768 + 2*96)^2 ~ 0.92 MP per tile keeps the network's activations near 1 GB
while the halo overhead ((960/768)^2 = 1.56x compute) stays moderate."""

AUTO_TILE_PIXELS = 3840 * 2160
"""Images with more pixels than this are tiled automatically; up to it (4K UHD frames, 8 MP
photos) the whole image runs untiled. Through inference.py's clone an untiled 3840x2160
image peaks at 2.2 GB (bfloat16) or 3.1 GB (float32) with the full-width net (issue 12; the
old Keras path needed 2.4 GB at 2 MP, the previous limit). Untiled is ~2x faster at 1080p:
no pilot pass, no halo (benchmarks/RESULTS.md)."""

PILOT_PIXELS = 1_000_000
"""Pixel budget of the whole-image pilot pass that fixes the norm statistics. Larger pilots
approach the full-resolution statistics, but the pilot runs untiled: 1 MP costs ~1.4 GB,
2 MP ~2.3 GB, which pushed a 24 MP photo to 3.3 GB peak (benchmarks/RESULTS.md)."""


class _FixedStatsNorm(layers.Layer):
    """Instance norm that uses given (global) mean/variance instead of the tile's own.

    Inference-only twin of ``InstanceNormalization``; never saved (the tiling clone is built at
    run time from the loaded model), so saved models and safe_mode loading are unaffected.
    """

    def __init__(self, source, **kwargs):
        # Same compute dtype as the layer it replaces (bfloat16 in a bfloat16 inference clone).
        kwargs.setdefault("dtype", source.dtype_policy)
        super().__init__(name=f"{source.name}_fixed", **kwargs)
        self.epsilon = source.epsilon
        channels = source.scale.shape[0]
        self.scale = self.add_weight(name="scale", shape=(channels,), trainable=False)
        self.shift = self.add_weight(name="shift", shape=(channels,), trainable=False)
        self.mean = self.add_weight(name="mean", shape=(channels,), trainable=False, initializer="zeros")
        self.variance = self.add_weight(name="variance", shape=(channels,), trainable=False, initializer="ones")
        # Copies through numpy: on JAX, assigning the Variable itself would share one buffer
        # that a jitted predict of the other model may donate (delete).
        self.scale.assign(ops.convert_to_numpy(source.scale))
        self.shift.assign(ops.convert_to_numpy(source.shift))
        self.built = True

    def call(self, x):
        dtype = x.dtype
        # Variables read in call follow the compute dtype under bfloat16; statistics stay float32.
        mean, variance, scale, shift = (ops.cast(v, "float32") for v in (self.mean, self.variance, self.scale, self.shift))
        if keras.backend.backend() == "tensorflow":
            # One oneDNN kernel instead of five passes (as inference.FusedInstanceNorm): a 24 MP
            # photo took 16 s with the passes below, 11 s with this (benchmarks/RESULTS.md).
            import tensorflow as tf

            y, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=scale, offset=shift, mean=mean, variance=variance, epsilon=self.epsilon,
                is_training=False, data_format="NHWC",
            )
            return y
        x = ops.cast(x, "float32")
        x = (x - mean) * ops.rsqrt(variance + self.epsilon)
        return ops.cast(x * scale + shift, dtype)


class _Moments(layers.Layer):
    """Per-channel mean and variance over H and W (float32): what instance norm would use."""

    def call(self, x):
        mean, variance = ops.moments(ops.cast(x, "float32"), axes=[0, 1, 2])
        return ops.expand_dims(ops.stack([mean, variance]), 0)


def _norm_layers(model):
    return [layer for layer in model.layers if isinstance(layer, InstanceNormalization)]


class TiledStylizer:
    """Runs one transform net on tiles with whole-image instance-norm statistics.

    Build once per model (it clones the graph and copies the norm layers' scale/shift, so build it
    after the weights are final), then call ``stylize`` for any number of images. Both networks
    run as compiled functions per tile shape (``inference.CompiledModel``), like untiled photos.
    """

    def __init__(self, model):
        from .inference import CompiledModel

        self.model = model
        norms = _norm_layers(model)
        if not norms:
            raise ValueError("model has no InstanceNormalization layers; tile it without statistics")
        fixed = {}

        def clone_layer(layer):
            if isinstance(layer, InstanceNormalization):
                fixed[layer.name] = _FixedStatsNorm(layer)
                return fixed[layer.name]
            return layer  # share everything else (same weights, no copy)

        self.fixed_model = keras.models.clone_model(model, clone_function=clone_layer)
        self.fixed_norms = [fixed[n.name] for n in norms]
        # Pilot: the unchanged network, reporting each norm layer's statistics over the image.
        self.pilot_model = keras.Model(model.inputs, [_Moments()(n.input) for n in norms])
        self.run_fixed = CompiledModel(self.fixed_model)
        self.run_pilot = CompiledModel(self.pilot_model)

    # --- statistics ------------------------------------------------------------------------
    def pilot_statistics(self, image):
        """Per-layer (mean, variance) of the whole image downscaled to <= PILOT_PIXELS."""
        small = _downscale(image, PILOT_PIXELS)
        out = self.run_pilot(small[None])
        return [(o[0, 0], o[0, 1]) for o in out]

    def _set_statistics(self, stats):
        for layer, (mean, variance) in zip(self.fixed_norms, stats):
            layer.mean.assign(mean.astype("float32"))
            layer.variance.assign(variance.astype("float32"))

    # --- stylizing -------------------------------------------------------------------------
    def stylize(self, image, tile=DEFAULT_TILE, stats=None, progress=None):
        """Stylizes ``image`` (H, W, 3, 0..255) tile by tile; returns float32 (H, W, 3).

        ``stats``: use these per-layer (mean, variance) instead of computing them.
        ``progress``: optional callable(done, total) called after each tile.
        """
        tile = _check_tile(tile)
        image = np.asarray(image)
        h, w = image.shape[:2]
        if stats is None:
            stats = self.pilot_statistics(image)
        self._set_statistics(stats)
        canvas = np.zeros((h, w, 3), np.float32)
        tiles = list(_tiles((h, w), tile))
        for done, (window, core) in enumerate(tiles, 1):
            (y0, y1, x0, x1) = window
            out = self.run_fixed(image[None, y0:y1, x0:x1])[0]
            wy = _ramp(core[0], core[1], h, y0, y1)
            wx = _ramp(core[2], core[3], w, x0, x1)
            weight = wy[:, None, None] * wx[None, :, None]
            # Only the blend region around the core carries weight; add just that part.
            ys = np.nonzero(wy)[0]
            xs = np.nonzero(wx)[0]
            sy = slice(ys[0], ys[-1] + 1)
            sx = slice(xs[0], xs[-1] + 1)
            canvas[y0 + sy.start : y0 + sy.stop, x0 + sx.start : x0 + sx.stop] += (
                out[sy, sx] * weight[sy, sx]
            )
            if progress is not None:
                progress(done, len(tiles))
        return canvas

    def tile_count(self, shape, tile=DEFAULT_TILE):
        return sum(1 for _ in _tiles(shape[:2], _check_tile(tile)))


def _check_tile(tile):
    tile = int(tile)
    if tile < 2 * BLEND:
        raise ValueError(f"tile size {tile} px is too small (minimum {2 * BLEND})")
    return tile - tile % 4  # multiples of 4 keep the stride-4 feature grids aligned


def _downscale(image, max_pixels):
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return np.asarray(image)
    from PIL import Image

    scale = math.sqrt(max_pixels / (h * w))
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(array + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BOX))


def _splits(size, tile):
    """Core boundaries along one axis: multiples of 4, each core at least BLEND wide."""
    bounds = list(range(0, size, tile)) + [size]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < BLEND:
        del bounds[-2]  # merge a sliver into the previous core
    return bounds


def _tiles(shape, tile):
    """Yields ((y0, y1, x0, x1) computed window, (cy0, cy1, cx0, cx1) core) in image pixels.

    Window = core + HALO on each side, clipped to the image; window starts are multiples of 4.
    """
    h, w = shape
    ys, xs = _splits(h, tile), _splits(w, tile)
    for cy0, cy1 in zip(ys[:-1], ys[1:]):
        for cx0, cx1 in zip(xs[:-1], xs[1:]):
            y0, x0 = max(0, cy0 - HALO), max(0, cx0 - HALO)
            y1, x1 = min(h, cy1 + HALO), min(w, cx1 + HALO)
            yield (y0, y1, x0, x1), (cy0, cy1, cx0, cx1)


def _ramp(c0, c1, size, w0, w1):
    """1-D blend weight over window [w0, w1) for core [c0, c1).

    1 inside the core, raised-cosine fade across BLEND px centred on each interior core border.
    Neighbours' weights are w and 1 - w on the same pixels, so all weights sum to exactly 1.
    """
    pos = np.arange(w0, w1, dtype=np.float64) + 0.5
    weight = np.ones_like(pos)
    half = BLEND / 2
    if c0 > 0:
        t = np.clip((pos - (c0 - half)) / BLEND, 0, 1)
        weight *= 0.5 - 0.5 * np.cos(np.pi * t)
    if c1 < size:
        t = np.clip((pos - (c1 - half)) / BLEND, 0, 1)
        weight *= 0.5 + 0.5 * np.cos(np.pi * t)
    return weight.astype(np.float32)


def needs_tiling(shape, tile=None, limit=AUTO_TILE_PIXELS):
    """True when tiles are asked for (``tile``, or more than ``limit`` pixels: too large for the
    memory at hand) and the image does not fit in one tile (``tile`` or ``DEFAULT_TILE``).

    An image that fits in one tile is run whole: the same computation in no more memory than one
    tile, without the pilot pass, and exact where tiling is not. A photo a few pixels wide has 1x1
    feature maps, whose instance norm the whole pass computes as exactly zero variance but the
    tiled pass as the pilot's rounding residue divided by sqrt(eps): a 4x4 photo under
    ``--tile 64`` came out all red."""
    if tile is None and shape[0] * shape[1] <= limit:
        return False
    return max(shape[0], shape[1]) > (tile or DEFAULT_TILE)


_STYLIZERS = {}


def stylize_large(model, image, tile=None, limit=AUTO_TILE_PIXELS, untiled=None, progress=None):
    """Stylizes ``image`` untiled when small, tiled (``tile`` or DEFAULT_TILE) when large.

    ``untiled(model, image)`` is the whole-image path (defaults to ``model.predict_on_batch``).
    The tiling clone is cached per model so a folder of large photos builds it once.
    """
    if tile is not None:
        _check_tile(tile)  # a bad --tile is refused whether or not this image needs it
    if not needs_tiling(image.shape, tile, limit):
        if untiled is not None:
            return untiled(model, image)
        return model.predict_on_batch(np.asarray(image, "float32")[None])[0]
    key = id(model)
    if key not in _STYLIZERS or _STYLIZERS[key].model is not model:
        _STYLIZERS.clear()
        _STYLIZERS[key] = TiledStylizer(model)
    return _STYLIZERS[key].stylize(image, tile or DEFAULT_TILE, progress=progress)
