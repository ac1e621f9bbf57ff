"""Tiled stylizing: same result as untiled, no seams, any size.

Tolerances: with the pilot seeing the whole image, tiles run with exactly the whole image's
instance-norm statistics and a halo larger than the receptive field, so tiled == untiled up to
float32 rounding; we allow 0.05 of 255 (measured ~3e-5).
"""

import numpy as np
import pytest

import keras

from transformnet import tiling
from transformnet.network import build_transform_net


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return build_transform_net(width=0.5)


@pytest.fixture(scope="module")
def photo():
    """A smooth synthetic 'photo' (gradients + shapes) so tile borders have no real edges."""
    h, w = 248, 330
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(x / 37.0) * np.cos(y / 53.0)
    g = 255 * x / w
    b = 255 * ((x - 200) ** 2 + (y - 120) ** 2 < 60**2)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def stylizer(model):
    return tiling.TiledStylizer(model)


def test_tiled_equals_untiled(model, stylizer, photo):
    untiled = model.predict_on_batch(photo[None].astype("float32"))[0]
    tiled = stylizer.stylize(photo, tile=96)
    assert stylizer.tile_count(photo.shape, 96) >= 6
    assert tiled.shape == photo.shape
    assert np.abs(tiled - untiled).max() < 0.05


def test_weights_sum_to_one():
    for h, w, tile in [(248, 330, 96), (203, 341, 64), (1000, 70, 256)]:
        total = np.zeros((h, w), np.float64)
        for (y0, y1, x0, x1), core in tiling._tiles((h, w), tile):
            wy = tiling._ramp(core[0], core[1], h, y0, y1)
            wx = tiling._ramp(core[2], core[3], w, x0, x1)
            total[y0:y1, x0:x1] += wy[:, None] * wx[None, :]
        np.testing.assert_allclose(total, 1.0, atol=1e-6)


def _seam_ratio(image, tile):
    """Mean |horizontal step| on tile-border columns divided by the median over all columns."""
    steps = np.abs(np.diff(image.astype(np.float64), axis=1)).mean(axis=(0, 2))
    borders = [c - 1 for c in tiling._splits(image.shape[1], tile)[1:-1]]
    return float(steps[borders].mean() / np.median(steps))


def test_no_seams_with_approximate_statistics(model, stylizer, photo, monkeypatch):
    """Even when the statistics come from a downscaled pilot, all tiles share them: no seams.

    The same measure on naive tiling (each tile normalised by its own statistics, hard cuts)
    shows the seams it is meant to catch.
    """
    monkeypatch.setattr(tiling, "PILOT_PIXELS", 5_000)
    tiled = stylizer.stylize(photo, tile=96)
    naive = np.zeros_like(tiled)
    for window, (cy0, cy1, cx0, cx1) in tiling._tiles(photo.shape[:2], 96):
        out = model.predict_on_batch(photo[None, cy0:cy1, cx0:cx1].astype("float32"))[0]
        naive[cy0:cy1, cx0:cx1] = out
    assert _seam_ratio(tiled, 96) < 1.5
    assert _seam_ratio(naive, 96) > 2.0


def test_odd_size_and_auto_threshold(model, monkeypatch):
    image = np.random.default_rng(0).integers(0, 256, (131, 203, 3), dtype=np.uint8)
    out = tiling.stylize_large(model, image, tile=64)
    assert out.shape == image.shape
    assert tiling.needs_tiling((131, 803), tile=None, limit=20_000)
    assert not tiling.needs_tiling((131, 803), tile=None, limit=200_000)
    assert not tiling.needs_tiling((131, 203), tile=None, limit=20_000)  # fits in one DEFAULT_TILE: whole
    with pytest.raises(ValueError):
        tiling.stylize_large(model, image, tile=8)
    with pytest.raises(ValueError):
        tiling.stylize_large(model, image[:4, :4], tile=8)


@pytest.mark.parametrize("side", [2, 4, 7, 12])
def test_a_photo_smaller_than_its_forced_tile_is_the_untiled_result(model, side):
    """--tile 64 on a 4x4 photo came out all red (255, 0, 0): its 1x1 feature maps have zero
    variance, and the tiled pass divided the pilot's rounding residue by sqrt(eps)."""
    image = np.random.default_rng(side).integers(0, 256, (side, side + 1, 3), dtype=np.uint8)
    whole = model.predict_on_batch(image[None].astype("float32"))[0]
    np.testing.assert_allclose(tiling.stylize_large(model, image, tile=64), whole, atol=0.05)
    assert not tiling.needs_tiling((64, 64), tile=64) and tiling.needs_tiling((64, 65), tile=64)
