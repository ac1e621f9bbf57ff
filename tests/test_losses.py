"""Gram matrix and losses against small numpy references (runs on every backend)."""

import keras
import numpy as np
import pytest
from keras import ops

from transformnet import losses


def np_gram(f):
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c).astype(np.float64)
    return np.einsum("bnc,bnd->bcd", flat, flat) / (h * w * c)


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def test_gram_matches_numpy(rng):
    f = rng.normal(size=(2, 5, 7, 4)).astype("float32")
    np.testing.assert_allclose(to_np(losses.gram(f)), np_gram(f), rtol=1e-5, atol=1e-6)


def test_gram_is_size_independent_for_tiled_features(rng):
    f = rng.normal(size=(1, 3, 4, 6)).astype("float32")
    tiled = np.tile(f, (1, 2, 3, 1))
    np.testing.assert_allclose(to_np(losses.gram(tiled)), to_np(losses.gram(f)), rtol=1e-5)


def test_gram_is_symmetric_and_float32_for_half_inputs(rng):
    f = rng.normal(size=(1, 4, 4, 3)).astype("float16")
    g = losses.gram(f)
    assert keras.backend.standardize_dtype(g.dtype) == "float32"
    np.testing.assert_allclose(to_np(g), to_np(g).transpose(0, 2, 1))


def test_content_loss_is_mean_squared_difference(rng):
    a = rng.normal(size=(2, 3, 5, 4)).astype("float32")
    b = rng.normal(size=(2, 3, 5, 4)).astype("float32")
    assert float(to_np(losses.content_loss(a, b))) == pytest.approx(np.mean((a - b) ** 2), rel=1e-5)
    assert float(to_np(losses.content_loss(a, a))) == 0.0


def test_style_loss_broadcasts_one_target_over_batch(rng):
    f = rng.normal(size=(3, 4, 5, 6)).astype("float32")
    target = np_gram(rng.normal(size=(1, 6, 2, 6))).astype("float32")
    expected = np.mean(np.sum((np_gram(f) - target) ** 2, axis=(-2, -1)))
    assert float(to_np(losses.style_loss(f, target))) == pytest.approx(expected, rel=1e-5)
    assert float(to_np(losses.style_loss(f, target[0]))) == pytest.approx(expected, rel=1e-5)


def test_total_variation_matches_numpy(rng):
    x = rng.uniform(0, 255, size=(2, 6, 7, 3)).astype("float32")
    dy = np.mean((x[:, 1:] - x[:, :-1]) ** 2)
    dx = np.mean((x[:, :, 1:] - x[:, :, :-1]) ** 2)
    assert float(to_np(losses.total_variation(x))) == pytest.approx(dy + dx, rel=1e-5)
    flat = np.full((1, 4, 4, 3), 7.0, "float32")
    assert float(to_np(losses.total_variation(flat))) == 0.0


class FakeLossNet:
    """Deterministic stand-in for VGG: two "layers" derived from the pixels."""

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        return {"a": x / 255.0, "b": ops.square(x[:, ::2, ::2, :] / 255.0)}


def test_perceptual_loss_combines_separate_terms(rng):
    net = FakeLossNet()
    style = rng.uniform(0, 255, size=(1, 8, 8, 3)).astype("float32")
    content = rng.uniform(0, 255, size=(2, 6, 6, 3)).astype("float32")
    out = rng.uniform(0, 255, size=(2, 6, 6, 3)).astype("float32")
    grams = losses.PerceptualLoss.style_targets(net, style, style_layers=("a", "b"))
    fn = losses.PerceptualLoss(
        net, grams, content_layers=("a",), style_layers=("a", "b"),
        content_weight=2.0, style_weight=3.0, tv_weight=0.5, style_layer_weights=(1.0, 4.0),
    )
    result = {k: float(to_np(v)) for k, v in fn(out, content_images=content).items()}

    fa = lambda x: x / 255.0  # noqa: E731
    fb = lambda x: (x[:, ::2, ::2, :] / 255.0) ** 2  # noqa: E731
    content_ref = np.mean((fa(out) - fa(content)) ** 2)
    sa = np.mean(np.sum((np_gram(fa(out)) - np_gram(fa(style))) ** 2, axis=(-2, -1)))
    sb = np.mean(np.sum((np_gram(fb(out)) - np_gram(fb(style))) ** 2, axis=(-2, -1)))
    tv = np.mean((out[:, 1:] - out[:, :-1]) ** 2) + np.mean((out[:, :, 1:] - out[:, :, :-1]) ** 2)
    assert result["content"] == pytest.approx(content_ref, rel=1e-4)
    assert result["style/a"] == pytest.approx(sa, rel=1e-4)
    assert result["style/b"] == pytest.approx(sb, rel=1e-4)
    assert result["style"] == pytest.approx(sa + 4 * sb, rel=1e-4)
    assert result["tv"] == pytest.approx(tv, rel=1e-4)
    total = 2 * content_ref + 3 * (sa + 4 * sb) + 0.5 * tv
    assert result["total"] == pytest.approx(total, rel=1e-4)
    assert result["weighted/style"] == pytest.approx(3 * (sa + 4 * sb), rel=1e-4)


def test_the_style_layer_weights_are_config_pys(monkeypatch):
    """config.STYLE_LAYER_WEIGHTS was read by nothing: editing it (README: "start there") changed
    no loss. Other layers get equal weights; weights that do not match the layers are refused."""
    from transformnet import config

    monkeypatch.setattr(config, "STYLE_LAYER_WEIGHTS", (1.0, 2.0, 3.0, 4.0))
    assert losses.PerceptualLoss(FakeLossNet(), {}).style_layer_weights == (1.0, 2.0, 3.0, 4.0)
    assert losses.PerceptualLoss(FakeLossNet(), {}, style_layers=("a", "b")).style_layer_weights == (1.0, 1.0)
    with pytest.raises(ValueError, match="3 style layer weights for 2 style layers"):
        losses.PerceptualLoss(FakeLossNet(), {}, style_layers=("a", "b"), style_layer_weights=(1, 2, 3))
