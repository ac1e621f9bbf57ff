"""Jobs too large for this machine's memory are one line before the work, not a crash
(transformnet/memory.py): TensorFlow's oneDNN CPU kernels end the process (SIGSEGV, or SIGABRT
"double free") when an allocation fails, so its CPU path estimates each job's peak first."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, need
from PIL import Image

from transformnet import memory

SHARED_STYLE = ROOT.parent / "shared" / "styles" / "great_wave_crop.jpg"


def tensorflow_cpu():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the memory check guards TensorFlow's CPU path only; JAX raises by itself")
    if not memory.on_tensorflow_cpu():
        pytest.skip("TensorFlow sees a GPU here")


@pytest.fixture
def little_memory(monkeypatch):
    """This machine with 1 MB left."""
    tensorflow_cpu()
    monkeypatch.setattr(memory, "available_bytes", lambda: 1_000_000)


def _one_error(text):
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text[-3000:]
    return errors[0]


def test_available_memory_is_read_from_this_machine():
    available = memory.available_bytes()
    if not os.path.exists("/proc/meminfo"):
        assert available is None
        return
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < available <= physical


def test_each_estimate_names_the_job_and_both_sizes(little_memory):
    for check, words in (
        (lambda: memory.painting(1000, 2000), "measuring the painting's style at 2000x1000 px needs about 2.6 GB"),
        (lambda: memory.train_step(4, 256, 1.0), "a train step of 4 crops of 256x256 px needs about 1.6 GB"),
        (lambda: memory.slow_path(300, 400), "optimising 400x300 pixels needs about 0.3 GB"),
    ):
        with pytest.raises(MemoryError, match="needs about") as raised:
            check()
        assert str(raised.value) == f"{words} of memory, 0.0 GB is available"


def test_jobs_that_fit_pass_and_other_backends_are_not_checked(monkeypatch):
    import keras

    memory.painting(100, 100)  # 13 MB: fits any machine that runs the tests
    if keras.backend.backend() != "tensorflow":
        monkeypatch.setattr(memory, "available_bytes", lambda: 0)
        memory.train_step(1024, 1024, 4.0)  # JAX raises RESOURCE_EXHAUSTED itself


@pytest.mark.cli
def test_a_painting_no_machine_can_measure_is_one_line_not_a_crash(tmp_path):
    """--style-size 20000 crashed TensorFlow (exit 139, no message) after minutes of work."""
    tensorflow_cpu()
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 48, 3), 60 * i, np.uint8)).save(photos / f"p{i}.jpg")
    style = need(SHARED_STYLE)
    done = subprocess.run(
        [sys.executable, "train.py", "--style", str(style), "--name", "huge", "--data", str(photos), "--steps", "1",
         "--style-size", "20000", "--output", str(tmp_path / "models"), "--logdir", str(tmp_path / "runs")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    line = _one_error(done.stderr)
    assert line.startswith("error: out of memory at --batch-size 4 --image-size 256 --style-size 20000 (measuring the painting's style at 20000x"), line
    assert not (tmp_path / "models" / "huge.keras").exists()


def test_training_too_large_for_memory_stops_before_the_first_step(tmp_path, little_memory, capsys):
    from transformnet import training

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 48, 3), 60 * i, np.uint8)).save(photos / f"p{i}.jpg")
    style = tmp_path / "painting.png"  # small: decoding it fits in the 1 MB (images.py checks decoding too)
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(style)
    status = training.main(["--style", str(style), "--name", "big", "--data", str(photos), "--steps", "1",
                            "--batch-size", "2", "--image-size", "32", "--width", "0.25",
                            "--output", str(tmp_path / "models"), "--logdir", str(tmp_path / "runs")])
    line = _one_error(capsys.readouterr().err)
    assert status == 1
    assert line == ("error: out of memory at --batch-size 2 --image-size 32 --style-size 512 (a train step of 2 crops "
                    "of 32x32 px needs about 0.0 GB of memory, 0.0 GB is available); lower them, or --precision "
                    "mixed_bfloat16 on a GPU")
    assert not (tmp_path / "runs" / "checkpoints").exists() and not (tmp_path / "models").exists()


def test_slow_path_too_large_for_memory_is_one_line(tmp_path, little_memory, capsys):
    from transformnet import cli

    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(painting)
    status = cli.main(["--style", str(painting), "--image", str(photo), "--size", "32", "--iterations", "1", "--quiet",
                       "--output", str(tmp_path / "out.png")])
    line = _one_error(capsys.readouterr().err)
    assert status == 1 and not (tmp_path / "out.png").exists()
    # The painting, scaled to --size as train.py scales it (32x21: 0.9 MB), fits; the optimisation does not.
    assert line == (f"error: {photo}: out of memory (optimising 32x32 pixels needs about 0.0 GB of memory, "
                    "0.0 GB is available); lower --size (and --style-size)")


def test_a_photo_too_large_to_stylize_whole_is_tiled(monkeypatch):
    """Tiles bound the memory (transformnet/tiling.py), so short memory tiles sooner."""
    tensorflow_cpu()
    import transformnet as tn
    from transformnet.network import build_transform_net
    from transformnet.tiling import DEFAULT_TILE

    model = build_transform_net(width=0.125)
    photo = np.random.default_rng(0).integers(0, 256, (40, DEFAULT_TILE + 40, 3), dtype=np.uint8)  # wider than a tile
    tiles = []
    tn.stylize(model, photo, progress=lambda done, total: tiles.append(total))
    assert tiles == []
    monkeypatch.setattr(memory, "available_bytes", lambda: photo.shape[0] * photo.shape[1] * 50)  # 50 bytes a pixel: under the estimate at width 0.125
    tiled = tn.stylize(model, photo, progress=lambda done, total: tiles.append(total))
    assert tiles, "not tiled"
    np.testing.assert_array_equal(tiled, tn.stylize(model, photo, tile=DEFAULT_TILE))
