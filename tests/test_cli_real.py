"""eval.py's real-use flags end to end: folders/globs, tiling, --max-size, colour, strength,
video and export (subprocesses, marked ``cli``)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, as_from_a_terminal
from images_factory import bad_inputs
from test_cli import model_dir, one_error_line, run  # noqa: F401 (fixtures)
from test_video import _make_clip

pytestmark = pytest.mark.cli


def _photo(path, size):
    rng = np.random.default_rng(sum(size))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_folder_glob_and_a_bad_file(tmp_path, model_dir):  # noqa: F811
    a = _photo(tmp_path / "shoot" / "a.png", (40, 30))
    b = _photo(tmp_path / "shoot" / "b.jpg", (23, 51))
    c = _photo(tmp_path / "more" / "c.png", (64, 64))
    truncated = tmp_path / "shoot" / "truncated.jpg"  # a broken .jpg among good ones
    shutil.copy(bad_inputs(tmp_path / "bad")["truncated"], truncated)
    out = tmp_path / "out"
    result = run("--model", "random", "--checkpoints", model_dir, "--image", tmp_path / "shoot",
                 tmp_path / "more" / "*.png", "--output", out, "--quiet")
    one_error_line(result, truncated)
    for source in (a, b, c):
        with Image.open(out / f"{source.stem}_random.jpg") as image, Image.open(source) as original:
            assert image.size == original.size
    assert not (out / f"{truncated.stem}_random.jpg").exists()


def test_only_bad_inputs_write_nothing(tmp_path, model_dir):  # noqa: F811
    (tmp_path / "empty").mkdir()
    result = run("--model", "random", "--checkpoints", model_dir, "--image", tmp_path / "empty",
                 "--output", tmp_path / "out")
    one_error_line(result, tmp_path / "empty")
    assert not (tmp_path / "out").exists()


def test_tile_max_size_strength_and_colour(tmp_path, model_dir):  # noqa: F811
    photo = _photo(tmp_path / "p.png", (150, 110))
    common = ["--model", "random", "--checkpoints", model_dir, "--image", photo]
    # Tiled == untiled to rounding in float32; the default (bfloat16 where the CPU has it)
    # rounds the tiles' fixed-statistics norm differently from the whole image's, so: close.
    for precision in ("float32", "auto"):
        flags = [*common, "--precision", precision, "--force"]
        assert run(*flags, "--output", tmp_path / "untiled.png").returncode == 0
        assert run(*flags, "--tile", 64, "--output", tmp_path / "tiled.png").returncode == 0
        untiled = np.asarray(Image.open(tmp_path / "untiled.png"), int)
        tiled = np.asarray(Image.open(tmp_path / "tiled.png"), int)
        assert tiled.shape == untiled.shape == (110, 150, 3)
        if precision == "float32":
            assert np.abs(tiled - untiled).max() <= 1
        else:
            assert np.abs(tiled - untiled).mean() < 3
    assert run(*common, "--max-size", 75, "--output", tmp_path / "small.png").returncode == 0
    assert Image.open(tmp_path / "small.png").size == (75, 55)
    assert run(*common, "--strength", 0, "--preserve-color", "--output", tmp_path / "s0.png").returncode == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s0.png")), np.asarray(Image.open(photo)))
    bad = run(*common, "--strength", 2, "--output", tmp_path / "s2.png")
    assert bad.returncode != 0 and "error: --strength must be between 0 and 1" in bad.stderr


def test_video_with_audio(tmp_path, model_dir):  # noqa: F811
    from transformnet import video

    clip = tmp_path / "clip.mp4"
    _make_clip(clip, audio=True, fps=10, seconds=1, size="48x32")
    out = tmp_path / "styled.mp4"
    result = run("--model", "random", "--checkpoints", model_dir, "--video", clip, "--output", out, "--quiet")
    assert result.returncode == 0, result.stderr
    meta = video.probe(out)
    assert meta["fps"] == 10 and meta["size"] == (48, 32) and meta.get("audio_codec")
    again = run("--model", "random", "--checkpoints", model_dir, "--video", clip, "--output", out)
    one_error_line(again, out)
    same = run("--model", "random", "--checkpoints", model_dir, "--video", clip, "--output", clip, "--force")
    one_error_line(same, clip)
    # --max-size applies to frames too: the video is as large as its first stylized frame (it used
    # to be opened at the source's size, and the smaller frames failed as "disk full?").
    small = run("--model", "random", "--checkpoints", model_dir, "--video", clip, "--max-size", 24,
                "--output", tmp_path / "small.mp4", "--quiet")
    assert small.returncode == 0, small.stderr
    assert video.probe(tmp_path / "small.mp4")["size"] == (24, 16) and small.stderr == ""
    # --output new/ names a folder to make, as it does for photos (it said "must end in .mp4")
    folder = run("--model", "random", "--checkpoints", model_dir, "--video", clip, "--output", f"{tmp_path / 'new'}/", "--quiet")
    assert folder.returncode == 0, folder.stderr
    assert video.probe(tmp_path / "new" / "clip_random.mp4")["size"] == (48, 32)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_video_stopped_by_sigterm_leaves_no_partial_file(tmp_path, model_dir, signal_name):  # noqa: F811
    """``kill``, ``timeout`` or a closed terminal while a video is encoded: Python used to die at
    once, leaving the temporary video (and its picture-only part) beside the output, and no line.
    Now it stops as on Ctrl-C: one line, status 128 + the signal, nothing left behind."""
    import signal
    import time

    clip, out = tmp_path / "clip.mp4", tmp_path / "out"
    _make_clip(clip, audio=True, fps=25, seconds=30, size="160x120")
    out.mkdir()
    child = subprocess.Popen([sys.executable, str(ROOT / "eval.py"), "--model", "random", "--checkpoints", str(model_dir),
                              "--video", str(clip), "--output", str(out / "styled.mp4"), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=as_from_a_terminal())
    deadline = time.monotonic() + 120
    while not list(out.glob(".tmp-*.video.mp4")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # frames are being encoded
    assert child.poll() is None, child.communicate()
    child.send_signal(getattr(signal, signal_name))
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 128 + getattr(signal, signal_name), stderr
    assert stderr.strip() == f"error: stopped by {signal_name}" and stdout == ""
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_export_cli(tmp_path, model_dir, backend):  # noqa: F811
    """The converters are TensorFlow's; the job runs on it whatever KERAS_BACKEND says (it used
    to refuse under jax, naming its temporary folder), and prints nothing but the path."""
    result = run("--model", "random", "--checkpoints", model_dir, "--export", tmp_path / "exp", "--format", "onnx",
                 env={"KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "exp" / "random.onnx") and result.stderr == ""
    assert (tmp_path / "exp" / "random.onnx").is_file()
    tflite = run("--model", "random", "--checkpoints", model_dir, "--export", tmp_path / "exp", "--format", "tflite",
                 env={"KERAS_BACKEND": backend})
    assert tflite.returncode == 0 and tflite.stderr == "", tflite.stderr
    again = run("--model", "random", "--checkpoints", model_dir, "--export", tmp_path / "exp", "--format", "onnx")
    one_error_line(again, tmp_path / "exp" / "random.onnx")


def test_export_to_a_place_that_cannot_be_written(tmp_path, model_dir):  # noqa: F811
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    result = run("--model", "random", "--checkpoints", model_dir, "--export", blocker / "exp", "--format", "onnx")
    assert "is a file, not a folder" in one_error_line(result, blocker / "exp" / "random.onnx")


def test_jax_backend_neither_loads_tensorflow_nor_prints_anything_of_its_own(tmp_path, model_dir):  # noqa: F811
    """With TensorFlow installed beside JAX, Keras imported it to answer ``tf.available`` when
    the model was loaded and cloned for inference: seconds of start-up and its log lines on the
    console. And JAX warned about a fork whenever the video job started ffmpeg."""
    from transformnet import video

    photo = _photo(tmp_path / "p.png", (40, 30))
    clip = tmp_path / "clip.mp4"
    _make_clip(clip, audio=False, fps=4, seconds=1, size="32x24")
    script = (
        "import sys\n"
        "from transformnet.cli import main\n"
        f"a = main(['--model', 'random', '--checkpoints', {str(model_dir)!r}, '--image', {str(photo)!r}, '--output', {str(tmp_path / 'o.jpg')!r}])\n"
        f"b = main(['--model', 'random', '--checkpoints', {str(model_dir)!r}, '--video', {str(clip)!r}, '--output', {str(tmp_path / 'o.mp4')!r}, '--quiet'])\n"
        "print(a, b, 'tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("TRANSFORMNET_VERBOSE", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.stdout.strip().splitlines()[-1] == "0 0 False", done.stdout + done.stderr
    assert done.stderr == ""
    assert video.probe(tmp_path / "o.mp4")["size"] == (32, 24)
