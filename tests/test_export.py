"""Export: each format runs in its own runtime and matches the Keras model.

Tolerance: 0.05 on the 0..255 scale (max abs difference). SavedModel runs the same TF graph
(measured 0.0); TFLite (XNNPACK) and onnxruntime use other conv kernels and summation orders
(measured ~0.002).
"""

import os

import keras
import numpy as np
import pytest

from transformnet import export
from transformnet.network import build_transform_net

TOLERANCE = 0.05


@pytest.fixture(scope="module")
def model():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    keras.utils.set_random_seed(3)
    return build_transform_net(width=0.5)


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_export_matches_keras(model, tmp_path, fmt):
    path = export.export_model(model, str(tmp_path), "net", fmt)
    assert path == export.export_path(str(tmp_path), "net", fmt)
    assert os.path.isdir(path) if fmt == "savedmodel" else os.path.isfile(path)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]  # no temporary leftovers
    run = export.load_runner(path)
    rng = np.random.default_rng(0)
    for shape in [(1, 37, 53, 3), (1, 64, 80, 3), (1, 8, 8, 3)]:  # dynamic H and W
        batch = rng.uniform(0, 255, shape).astype(np.float32)
        got = run(batch)
        want = model.predict_on_batch(batch)
        assert got.shape == shape
        assert np.abs(got - want).max() < TOLERANCE
    with pytest.raises(export.ExportError, match="already exists"):
        export.export_model(model, str(tmp_path), "net", fmt)
    assert export.export_model(model, str(tmp_path), "net", fmt, force=True) == path


def test_unknown_format(model, tmp_path):
    with pytest.raises(export.ExportError, match="unknown export format"):
        export.export_model(model, str(tmp_path), "net", "coreml")


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_a_full_disk_is_one_line_naming_the_export_and_leaves_nothing(model, tmp_path, fmt):
    """TensorFlow's savers report a full disk as text inside an OutOfRangeError naming a
    temporary file ("...; File too large [Op:SaveV2]"); a user is told what failed, as for photos."""
    import subprocess
    import sys

    from conftest import ROOT, file_size_limit

    model.save(tmp_path / "net.keras")
    out = tmp_path / "exported"
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval.py"), "--model", str(tmp_path / "net.keras"), "--export", str(out), "--format", fmt],
        capture_output=True, text=True, preexec_fn=file_size_limit(200_000), timeout=600,
    )
    assert result.returncode == 1, result.stderr
    target = export.export_path(str(out), "net", fmt)
    assert result.stderr.strip().splitlines()[-1] == f"error: {target}: cannot write (File too large)"
    assert not out.exists()  # nor the folder it made for the export
