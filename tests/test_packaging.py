"""Packaging: one version, console scripts, optional extras and their one-line errors,
``python -m transformnet``."""

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

import transformnet
from conftest import ROOT


@pytest.fixture(scope="module")
def pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def project(pyproject):
    return pyproject["project"]


def test_version_is_written_once(pyproject, project):
    assert "version" not in project and "version" in project["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "transformnet.__version__"}


def test_export_and_video_are_extras_that_test_pulls_in(project):
    core = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    for name in ("tf2onnx", "onnx", "imageio-ffmpeg"):
        assert name not in core
    assert any(d.startswith("tf2onnx") for d in extras["export"]) and any(d.startswith("onnx") for d in extras["export"])
    assert any(d.startswith("imageio-ffmpeg") for d in extras["video"])
    assert "transformnet[export,video]" in extras["test"]


@pytest.mark.parametrize("script", ["transformnet-train", "transformnet-stylize"])
def test_console_scripts_are_the_command_lines(project, script, capsys):
    module, function = project["scripts"][script].split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_installed_console_scripts_run():
    """Where this checkout is the installed transformnet (CI's fresh environment), the
    scripts exist beside the interpreter and answer --help."""
    site = sysconfig.get_paths()["purelib"]  # not the checkout's own transformnet.egg-info
    dist = next(iter(importlib.metadata.distributions(name="transformnet", path=[site])), None)
    url = json.loads((dist and dist.read_text("direct_url.json")) or "{}").get("url", "")
    if url.rstrip("/") != ROOT.as_uri():
        pytest.skip(f"transformnet is installed from {url or 'elsewhere'}, not this checkout")
    assert dist.version == transformnet.__version__
    for script in ("transformnet-train", "transformnet-stylize"):
        path = shutil.which(script, path=os.path.dirname(sys.executable))
        assert path, script
        done = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {script} "), done.stderr


def test_python_m_transformnet_prints_version_and_how_to_start(tmp_path):
    done = subprocess.run([sys.executable, "-m", "transformnet"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"transformnet {transformnet.__version__}")
    for hint in ("transformnet-stylize --model", "transformnet-train --style", "tn.load_model", "tn.train("):
        assert hint in done.stdout


def _run_without(modules, argv, cwd):
    """eval.py's main with ``modules`` not installed; returns (exit status, stderr, Keras loaded?)."""
    script = (
        "import sys\n"
        f"for name in {modules!r}: sys.modules[name] = None\n"
        "from transformnet.cli import main\n"
        f"code = main({argv!r})\n"
        "print('keras' in sys.modules)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stderr, done.stdout.strip() == "True"


@pytest.fixture
def model_file(tmp_path):
    """A .keras-shaped zip: enough for every check that runs before the model is loaded."""
    path = tmp_path / "starry.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    return path


def test_onnx_export_without_the_export_extra_is_one_line(tmp_path, model_file):
    status, err, keras_loaded = _run_without(
        ["onnx", "tf2onnx"], ["--model", str(model_file), "--export", str(tmp_path / "out"), "--format", "onnx"], tmp_path
    )
    assert status == 1 and not keras_loaded
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'out' / 'starry.onnx'}: --format onnx needs tf2onnx and onnx, which come with "
        'the [export] extra: pip install "transformnet[export]"'
    ]
    assert not (tmp_path / "out").exists()


def test_video_without_the_video_extra_is_one_line(tmp_path, model_file):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 100)
    status, err, keras_loaded = _run_without(["imageio_ffmpeg"], ["--model", str(model_file), "--video", str(clip)], tmp_path)
    assert status == 1 and not keras_loaded
    assert err.strip().splitlines() == [
        f'error: {clip}: --video needs imageio-ffmpeg, which comes with the [video] extra: pip install "transformnet[video]"'
    ]
