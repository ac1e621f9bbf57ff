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
    for name in ("tf2onnx", "onnx", "imageio-ffmpeg", "pillow-heif"):
        assert name not in core
    assert any(d.startswith("tf2onnx") for d in extras["export"]) and any(d.startswith("onnx") for d in extras["export"])
    assert any(d.startswith("imageio-ffmpeg") for d in extras["video"])
    assert any(d.startswith("pillow-heif") for d in extras["heif"])
    assert "transformnet[export,video,heif]" in extras["test"]


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


def test_export_without_tensorflow_is_one_line(tmp_path, model_file):
    """A JAX-only machine (the lent GPU's kind) exports nothing: said before Keras loads."""
    status, err, keras_loaded = _run_without(
        ["tensorflow"], ["--model", str(model_file), "--export", str(tmp_path / "out"), "--format", "tflite"], tmp_path
    )
    assert status == 1 and not keras_loaded
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'out' / 'starry.tflite'}: --format tflite needs TensorFlow, which is not installed here: pip install tensorflow"
    ]


def test_video_without_the_video_extra_is_one_line(tmp_path, model_file):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 100)
    status, err, keras_loaded = _run_without(["imageio_ffmpeg"], ["--model", str(model_file), "--video", str(clip)], tmp_path)
    assert status == 1 and not keras_loaded
    assert err.strip().splitlines() == [
        f'error: {clip}: --video needs imageio-ffmpeg, which comes with the [video] extra: pip install "transformnet[video]"'
    ]


def test_the_wheel_carries_the_shipped_models_and_finds_them_from_any_folder(tmp_path):
    """``pip install transformnet`` (a wheel, not this checkout) must find ``--model starry``.

    The wheel is built from a copy of the checkout with a stand-in ``starry.keras`` and a model
    trained for a try (``extra.keras``) in checkpoints/, then unpacked as pip would install it, and
    used from a folder with no checkpoints/ of its own. The models named in pyproject.toml (one per
    painting) and the paintings must be inside it as transformnet/pretrained/; ``extra`` must not.
    """
    build_meta = pytest.importorskip("setuptools.build_meta")  # the [test] extra has setuptools>=77
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for name in ("transformnet", "checkpoints"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("extra", "starry"):
        if not (source / "checkpoints" / f"{name}.keras").exists():
            with zipfile.ZipFile(source / "checkpoints" / f"{name}.keras", "w") as archive:
                archive.writestr("config.json", "{}")
    done = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_wheel({str(tmp_path / 'dist')!r}))"],
        cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = tmp_path / "dist" / done.stdout.strip().splitlines()[-1]
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        members = set(archive.namelist())
    shipped = {os.path.relpath(os.path.join(folder, f), source / "checkpoints")
               for folder, _, files in os.walk(source / "checkpoints") for f in files if not f.startswith(".")}
    shipped.discard("extra.keras")
    assert {"starry.keras", "styles/starry.jpg", "styles/SOURCES.tsv"} <= shipped
    assert {f"transformnet/pretrained/{f}" for f in shipped} <= members
    assert "transformnet/pretrained/extra.keras" not in members

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import json, transformnet as tn, transformnet.fast as fast\n"
        "print(json.dumps(tn.list_models()))\n"
        "try: print(fast.resolve_model('starry')[0])\n"
        "except fast.ModelError as error: print(error)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("TRANSFORMNET_CHECKPOINTS", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    models, starry = done.stdout.strip().splitlines()
    pretrained = site / "transformnet" / "pretrained"
    assert "starry" in json.loads(models) and "extra" not in json.loads(models)
    assert starry == str(pretrained / "starry.keras")


def test_the_wheel_ships_one_model_per_painting_by_name(pyproject):
    """pyproject.toml lists the shipped files by name; the list must follow SOURCES.tsv."""
    import csv

    with open(ROOT / "checkpoints" / "styles" / "SOURCES.tsv", encoding="utf-8", newline="") as handle:
        paintings = [row["file"] for row in csv.DictReader(handle, delimiter="\t")]
    names = [painting[: -len(".jpg")] for painting in paintings]
    data = pyproject["tool"]["setuptools"]["package-data"]
    assert sorted(data["transformnet.pretrained"]) == sorted(f"{name}.keras" for name in names)
    assert sorted(data["transformnet.pretrained.styles"]) == sorted(paintings + ["SOURCES.tsv"])


def test_the_source_archive_holds_the_scripts_tests_and_pictures(tmp_path):
    """``pip download --no-binary`` users unpack the sdist and follow the README: eval.py,
    train.py, the whole test suite (conftest.py too) and docs/ must be in it."""
    pytest.importorskip("setuptools.build_meta")
    source = tmp_path / "source"
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for name in listed.stdout.splitlines():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path / 'dist')!r}))"],
        cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import tarfile

    with tarfile.open(tmp_path / "dist" / done.stdout.strip().splitlines()[-1]) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    tracked = set(listed.stdout.splitlines())
    wanted = {"eval.py", "train.py", "README.md", "LICENSE", "pyproject.toml", "checkpoints/styles/starry.jpg"}
    wanted |= {name for name in tracked if name.startswith(("tests/", "docs/", "transformnet/"))}
    assert wanted <= members, sorted(wanted - members)
    assert not any("__pycache__" in name for name in members)


def test_the_readme_design_list_names_every_module():
    """A reader finds each concern's module from the README's Design list; a module added
    without a line there (tfds_photos.py, commands.py were) is one a reader cannot find."""
    design = (ROOT / "README.md").read_text(encoding="utf-8").split("## Design", 1)[1]
    modules = sorted(p.name for p in (ROOT / "transformnet").glob("*.py"))
    assert [m for m in modules if f"`transformnet/{m}`" not in design] == []
