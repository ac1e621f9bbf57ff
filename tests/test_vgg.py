"""The VGG16 loss network: both shared weight files, truncation, preprocessing (every backend)."""

import numpy as np
import pytest
from keras import ops

from transformnet.vgg import LAYER_NAMES, LossNetwork, WeightsError


def test_both_weight_files_give_the_same_features(npz_weights, h5_weights, loss_net, rng):
    h5_net = LossNetwork(weights=str(h5_weights))
    x = rng.uniform(0, 255, size=(1, 48, 40, 3)).astype("float32")
    a, b = loss_net(x), h5_net(x)
    assert set(a) == set(b) == {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}
    for name in a:
        fa, fb = ops.convert_to_numpy(a[name]), ops.convert_to_numpy(b[name])
        assert fa.shape == fb.shape
        # The .npz is the same weights rounded to float16 (relative precision ~5e-4).
        scale = np.abs(fb).max()
        assert np.abs(fa - fb).max() <= 2e-3 * scale, name


def test_truncated_at_deepest_requested_layer_and_frozen(loss_net, npz_weights):
    names = {layer.name for layer in loss_net.model.layers}
    assert "block4_conv3" in names
    assert not any(name.startswith("block5") for name in names)
    assert not loss_net.model.trainable_weights
    shallow = LossNetwork(layers=("relu2_2",), weights=str(npz_weights))
    shallow_names = {layer.name for layer in shallow.model.layers}
    assert "block2_conv2" in shallow_names
    assert not any(name.startswith(("block3", "block4", "block5")) for name in shallow_names)


def test_feature_shapes(loss_net, rng):
    x = rng.uniform(0, 255, size=(2, 32, 24, 3)).astype("float32")
    shapes = {k: tuple(v.shape) for k, v in loss_net(x).items()}
    assert shapes == {
        "relu1_2": (2, 32, 24, 64),
        "relu2_2": (2, 16, 12, 128),
        "relu3_3": (2, 8, 6, 256),
        "relu4_3": (2, 4, 3, 512),
    }


def test_preprocessing_is_keras_caffe_mode(loss_net, rng):
    from keras.applications.vgg16 import preprocess_input

    x = rng.uniform(0, 255, size=(1, 4, 5, 3)).astype("float32")
    expected = preprocess_input(x.copy())
    np.testing.assert_allclose(ops.convert_to_numpy(loss_net.preprocess(x)), expected, rtol=1e-6, atol=1e-4)


def test_block5_from_block4_only_file_is_refused(npz_weights):
    with pytest.raises(WeightsError, match="block5_conv1"):
        LossNetwork(layers=("relu5_1",), weights=str(npz_weights))


def test_bad_weights_and_layers_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="missing.npz: VGG16 weights: no such file"):
        LossNetwork(weights=str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.weights.h5"
    bad.write_text("not hdf5")
    with pytest.raises(WeightsError, match="bad.weights.h5"):
        LossNetwork(weights=str(bad))
    with pytest.raises(ValueError, match="relu9_9"):
        LossNetwork(layers=("relu9_9",), weights=str(bad))
    assert len(LAYER_NAMES) == 13
