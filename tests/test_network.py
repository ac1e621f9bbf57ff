"""The transform network: any input size, safe save/load, parameter count (every backend)."""

import numpy as np
import pytest
from keras import ops

from transformnet.network import ReflectionPadding2D, _reflect_indices, build_transform_net


@pytest.fixture(scope="module")
def net():
    return build_transform_net()


@pytest.mark.parametrize(
    "shape", [(1, 37, 51), (1, 255, 130), (1, 2, 2), (1, 1, 1), (1, 3, 5), (2, 17, 4), (1, 64, 64)]
)
def test_output_has_input_size(net, shape, rng):
    x = rng.uniform(0, 255, size=shape + (3,)).astype("float32")
    y = ops.convert_to_numpy(net(x))
    assert y.shape == x.shape
    assert np.isfinite(y).all() and y.min() >= 0 and y.max() <= 255


def test_output_has_input_size_in_compiled_predict(net, rng):
    # predict() traces with unknown H and W: exercises the dynamic padding path.
    x = rng.uniform(0, 255, size=(1, 2, 3, 3)).astype("float32")
    assert net.predict(x, verbose=0).shape == x.shape


@pytest.mark.parametrize("n,p", [(2, 1), (3, 1), (5, 4), (9, 4), (6, 2)])
def test_reflection_indices_match_numpy(n, p):
    idx = np.asarray(ops.convert_to_numpy(_reflect_indices(n, p)))
    np.testing.assert_array_equal(idx, np.pad(np.arange(n), p, mode="reflect"))


def test_reflection_padding_wider_than_image_repeats_reflection(rng):
    np.testing.assert_array_equal(np.asarray(ops.convert_to_numpy(_reflect_indices(1, 3))), np.zeros(7))
    np.testing.assert_array_equal(
        np.asarray(ops.convert_to_numpy(_reflect_indices(2, 4))), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    )
    x = rng.normal(size=(1, 7, 9, 2)).astype("float32")
    y = ops.convert_to_numpy(ReflectionPadding2D(4)(x))
    np.testing.assert_allclose(y, np.pad(x, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="reflect"))


def test_summary_and_parameter_count(net, capsys):
    net.summary(line_length=110)
    printed = capsys.readouterr().out
    print(printed)  # shown with `pytest -s` or -rP
    assert "reflection_padding2d" in printed.lower() or "ReflectionPadding2D" in printed
    assert "InstanceNormalization" in printed
    params = net.count_params()
    print(f"transform net parameters: {params:,}")
    assert 1.6e6 < params < 1.75e6  # paper: ~1.68M with instance norm scale/shift


def test_half_width_variant_is_smaller():
    assert build_transform_net(width=0.5).count_params() < 0.3 * build_transform_net().count_params()


def test_save_and_safe_load_round_trip(tmp_path, rng):
    import keras

    model = build_transform_net()
    # Make the norm parameters non-trivial so the round trip really checks them.
    for layer in model.layers:
        if layer.__class__.__name__ == "InstanceNormalization":
            layer.scale.assign(rng.uniform(0.5, 1.5, size=layer.scale.shape).astype("float32"))
            layer.shift.assign(rng.normal(size=layer.shift.shape).astype("float32"))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = rng.uniform(0, 255, size=(1, 33, 21, 3)).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
