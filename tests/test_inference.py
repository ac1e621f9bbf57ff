"""The inference runtime eval.py uses (transformnet/inference.py): same pixels as the plain
model, one compiled function per shape (reused, bounded), bfloat16 close to float32.

Tolerances: the float32 clone reorders float arithmetic (fused norm, phase convolution), so it
matches the saved model to ~1e-3 of 255; bfloat16 keeps 8 significant bits per activation,
~1 level of 255 on average for a random network (0.7 for a trained one, benchmarks/RESULTS.md).
"""

import keras
import numpy as np
import pytest

from transformnet import fast, inference
from transformnet.network import build_transform_net


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return build_transform_net(width=0.25)


@pytest.mark.parametrize("shape", [(37, 53), (64, 80), (2, 3), (1, 1)])
def test_float32_clone_matches_model(model, shape):
    photo = np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8)
    want = model.predict_on_batch(photo[None].astype("float32"))[0]
    got = inference.Stylizer(model, "float32")(photo)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() < 0.01


def test_bfloat16_close_to_float32(model):
    photo = np.random.default_rng(1).integers(0, 256, (48, 72, 3), dtype=np.uint8)
    exact = inference.Stylizer(model, "float32")(photo)
    fast_result = inference.Stylizer(model, "bfloat16")(photo)
    assert np.abs(fast_result - exact).mean() < 3.0


def test_uint8_and_float_inputs_agree(model):
    photo = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    stylizer = inference.Stylizer(model, "float32")
    np.testing.assert_allclose(stylizer(photo), stylizer(photo.astype(np.float64)), atol=1e-4)


def test_compiled_once_per_shape_and_bounded(model):
    compiled = inference.CompiledModel(model, max_shapes=2)
    photo = np.random.default_rng(5).integers(0, 256, (1, 40, 48, 3), dtype=np.uint8)
    first = compiled(photo)
    compiled(photo)
    assert compiled.traces == 1  # same shape: the compiled function is reused
    compiled(np.zeros((1, 40, 56, 3), np.uint8))
    assert compiled.traces == 2 and len(compiled.functions) == 2
    # Beyond max_shapes: one shape-polymorphic function for every further size, traced once.
    wide = np.random.default_rng(6).integers(0, 256, (1, 36, 70, 3), dtype=np.uint8)
    got = compiled(wide)
    compiled(np.zeros((1, 50, 33, 3), np.uint8))
    assert compiled.traces == 3 and len(compiled.functions) == 2
    want = model.predict_on_batch(wide.astype("float32"))
    assert np.abs(got - want).max() < 0.01
    np.testing.assert_array_equal(compiled(photo), first)
    # Tiny images always get their own function; the least recently used one is dropped.
    compiled(np.zeros((1, 5, 7, 3), np.uint8))
    assert compiled.traces == 4 and len(compiled.functions) == 2


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's tf.function warning")
def test_a_function_per_shape_shows_no_retracing_warning(model):
    """A tiled 12 MP photo compiles several tile shapes, and TensorFlow printed its multi-line
    "triggered tf.function retracing" warning for each, even under --quiet; that warning is
    dropped, TensorFlow's others are not."""
    import logging

    import tensorflow as tf

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    keep = Keep()
    tf.get_logger().addHandler(keep)
    try:
        compiled = inference.CompiledModel(model, max_shapes=16)
        for side in range(16, 96, 8):
            compiled(np.zeros((1, side, side + 4, 3), np.uint8))
        tf.get_logger().warning("another warning")
    finally:
        tf.get_logger().removeHandler(keep)
    assert compiled.traces == 10
    assert seen == ["another warning"]


def test_stylizer_cached_per_model(model):
    first = inference.get_stylizer(model, "float32")
    assert inference.get_stylizer(model, "float32") is first
    keras.utils.set_random_seed(5)
    other = build_transform_net(width=0.25)
    assert inference.get_stylizer(other, "float32") is not first


def test_stylize_array_is_uint8(model):
    photo = np.random.default_rng(3).integers(0, 256, (21, 34, 3), dtype=np.uint8)
    out = fast.stylize_array(model, photo, precision="float32")
    assert out.dtype == np.uint8 and out.shape == photo.shape
    want = model.predict_on_batch(photo[None].astype("float32"))[0]
    assert np.abs(out.astype(float) - want).max() <= 0.51


def test_default_precision(monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_bfloat16", lambda: False)
    assert inference.resolve_precision("auto") == "float32"
    monkeypatch.setattr(inference, "cpu_has_bfloat16", lambda: True)
    expected = "bfloat16" if keras.backend.backend() == "tensorflow" else "float32"
    assert inference.resolve_precision("auto") == expected
    assert inference.resolve_precision("float32") == "float32"
    with pytest.raises(ValueError):
        inference.resolve_precision("int8")


def test_subpixel_kernel_is_upsample_pad_conv():
    """Direct check of the phase kernel on one channel in numpy."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 6))
    w = rng.normal(size=(3, 3))
    up = np.repeat(np.repeat(x, 2, 0), 2, 1)
    padded = np.pad(up, 1, mode="reflect")
    want = np.array([[np.sum(padded[i : i + 3, j : j + 3] * w) for j in range(12)] for i in range(10)])
    kernel = inference.subpixel_kernel(w[:, :, None, None])  # (3, 3, 1, 4)
    edge = np.pad(x, 1, mode="edge")
    got = np.zeros((10, 12))
    for a in (0, 1):
        for b in (0, 1):
            k = kernel[:, :, 0, a * 2 + b]
            got[a::2, b::2] = [[np.sum(edge[i : i + 3, j : j + 3] * k) for j in range(6)] for i in range(5)]
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("size, shape", [(9, (21, 26)), (5, (8, 7)), (9, (1, 1))])
def test_space_to_depth_conv_is_the_conv(size, shape):
    """The 9x9 conv to RGB on 2x2 blocks gives the plain convolution's pixels, odd sides too."""
    conv = keras.layers.Conv2D(3, size, padding="valid", dtype="float32")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, shape[0] + size - 1, shape[1] + size - 1, 5)).astype("float32")
    conv.build(x.shape)
    conv.set_weights([rng.normal(size=(size, size, 5, 3)).astype("float32"), rng.normal(size=3).astype("float32")])
    want = keras.ops.convert_to_numpy(conv(x))
    blocked = inference._phase_conv_classes()[1](conv, dtype="float32")
    got = keras.ops.convert_to_numpy(blocked(x))
    assert got.shape == want.shape == (1, *shape, 3)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_clone_computes_rgb_on_blocks_and_any_shape_function_matches(model):
    stylizer = inference.Stylizer(model, "float32")
    assert type(stylizer.model.get_layer("out_conv")).__name__ == "SpaceToDepthConv"
    stylizer.compiled.max_shapes = 0  # every size through the one shape-polymorphic function
    for shape in [(33, 47), (40, 32)]:
        photo = np.random.default_rng(8).integers(0, 256, shape + (3,), dtype=np.uint8)
        want = model.predict_on_batch(photo[None].astype("float32"))[0]
        assert np.abs(stylizer(photo) - want).max() < 0.01
    assert stylizer.compiled.traces == 1 and not stylizer.compiled.functions
