"""The Python API (``import transformnet as tn``), called directly as a notebook user would.

Training through the API is tested by test_training.py's ``trained`` fixture, which calls
``transformnet.train``; here: loading, stylizing (PIL and arrays, options) and bad input.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import transformnet as tn
from conftest import ROOT
from transformnet.fast import ModelError


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A checkpoints folder holding a randomly initialised transform net, ``random.keras``."""
    import keras

    from transformnet.network import build_transform_net

    keras.utils.set_random_seed(2)
    folder = tmp_path_factory.mktemp("checkpoints")
    build_transform_net(width=0.25).save(folder / "random.keras")
    return folder


@pytest.fixture(scope="module")
def model(checkpoints):
    return tn.load_model("random", checkpoints=checkpoints)


@pytest.fixture(scope="module")
def photo():
    return np.random.default_rng(0).integers(0, 256, size=(45, 61, 3), dtype=np.uint8)


def test_import_is_cheap_and_versioned():
    """The package imports no ML framework (eval.py checks its flags before Keras loads)."""
    code = "import sys, transformnet; print(transformnet.__version__, [m for m in ('keras', 'tensorflow', 'jax', 'tensorboard') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == [tn.__version__, "[]"]


def test_models_by_name_or_path(checkpoints, model):
    assert tn.list_models(checkpoints) == ["random"]
    from transformnet.fast import resolve_model

    with pytest.raises(ModelError, match="^random.keras: no such file here; the model named random is --model random$"):
        resolve_model("random.keras", checkpoints)  # a path, typed for the name
    with pytest.raises(ModelError, match="^nope.keras: no such file$"):
        resolve_model("nope.keras", checkpoints)
    by_path = tn.load_model(checkpoints / "random.keras")
    assert by_path.count_params() == model.count_params()
    with pytest.raises(ModelError, match="unknown model; available in .*: random"):
        tn.load_model("starry", checkpoints=checkpoints)
    info = tn.model_info(checkpoints / "random.keras")
    assert info["model"]["parameters"] == model.count_params() and info["model"]["width"] == 0.25


def test_a_painting_without_its_model_says_how_to_use_it(tmp_path):
    """A planned model whose painting ships but which is not trained yet (README) says how to
    train it and how to stylize with that painting now; other names still list what exists."""
    from transformnet.fast import resolve_model

    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "starry.jpg").write_bytes(b"not read")
    with pytest.raises(ModelError) as error:
        resolve_model("starry", tmp_path)
    message = str(error.value)
    assert "\n" not in message and "no trained model yet" in message
    painting = str(tmp_path / "styles" / "starry.jpg")
    # Named as this process can run them: the Python API names the installed entry points.
    assert f"transformnet-train --style {painting} --name starry" in message
    assert f"transformnet-stylize --style {painting} --image" in message
    with pytest.raises(ModelError, match="wave: unknown model; available in .*: none"):
        resolve_model("wave", tmp_path)


def test_a_name_is_looked_up_in_the_working_folder_then_in_the_shipped_models(checkpoints, tmp_path, monkeypatch, capsys):
    """Without --checkpoints: ./checkpoints (train.py's default output) first, then the models that
    ship with transformnet, so training a model of one's own never hides ``starry``, and an
    installed wheel finds its models from any folder. --checkpoints DIR (or the variable) alone
    when given. One's own ``random`` hiding a shipped ``random`` is said in a note."""
    from transformnet import fast

    mine = tmp_path / "work" / "checkpoints"
    mine.mkdir(parents=True)
    for name in ("mine", "random"):
        (mine / f"{name}.keras").write_bytes((checkpoints / "random.keras").read_bytes())
    monkeypatch.delenv("TRANSFORMNET_CHECKPOINTS", raising=False)
    monkeypatch.setattr(fast, "shipped_model_dir", lambda: str(checkpoints))
    monkeypatch.chdir(tmp_path / "work")
    assert fast.model_folders() == ["checkpoints", str(checkpoints)]
    assert tn.list_models() == ["mine", "random"]
    assert fast.resolve_model("random") == (os.path.join("checkpoints", "random.keras"), "random")  # one's own first
    hidden = str(checkpoints / "random.keras")
    assert fast.shadowed_model("random", os.path.join("checkpoints", "random.keras")) == hidden
    assert fast.shadowed_model("mine", os.path.join("checkpoints", "mine.keras")) is None
    from transformnet import cli

    assert cli._resolve_model("random", None) == (os.path.join("checkpoints", "random.keras"), "random")
    note = capsys.readouterr().err  # the command line says which file ran, and how to get the other
    assert note == f"note: --model random is checkpoints/random.keras, which comes before the shipped {hidden}; give that path to use the shipped one\n"
    (mine / "random.keras").unlink()
    assert fast.shadowed_model("random", hidden) is None
    assert fast.resolve_model("random") == (str(checkpoints / "random.keras"), "random")
    with pytest.raises(ModelError, match=f"nope: unknown model; available in checkpoints/ and {checkpoints}/: mine, random$"):
        fast.resolve_model("nope")
    monkeypatch.chdir(tmp_path)  # no ./checkpoints here: the shipped models alone
    assert fast.model_folders() == [str(checkpoints)] and tn.list_models() == ["random"]
    monkeypatch.setenv("TRANSFORMNET_CHECKPOINTS", str(mine))
    assert fast.model_folders() == [str(mine)] and tn.list_models() == ["mine"]
    assert tn.list_models(checkpoints) == ["random"]


def test_a_painting_given_by_a_model_name_points_at_the_painting(tmp_path, monkeypatch):
    """``--style starry`` (after reading ``--model starry``) is no file: the line names the file."""
    from transformnet import checks
    from transformnet.images import ImageError

    (tmp_path / "checkpoints" / "styles").mkdir(parents=True)
    (tmp_path / "checkpoints" / "styles" / "wave.jpg").write_bytes(b"")
    monkeypatch.delenv("TRANSFORMNET_CHECKPOINTS", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageError, match=r"^wave: no such file; the painting of the model wave is checkpoints/styles/wave\.jpg$"):
        checks.painting("wave", 512)
    with pytest.raises(ImageError, match=r"^nothing: no such file$"):
        checks.painting("nothing", 512)


def test_array_in_array_out_is_the_network_output(model, photo):
    out = tn.stylize(model, photo, precision="float32")  # the exact path
    assert out.dtype == np.uint8 and out.shape == photo.shape
    expected = np.clip(model.predict_on_batch(photo[None].astype("float32"))[0] + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(out.astype(int) - expected).max() <= 1
    default = tn.stylize(model, photo)  # bfloat16 where the CPU has AMX (inference.py)
    assert default.shape == photo.shape and np.abs(default.astype(int) - expected).mean() < 2


def test_pil_in_pil_out_any_mode_upright(model, photo):
    rgba = Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]), "RGBA")
    out = tn.stylize(model, rgba)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (61, 45)
    np.testing.assert_array_equal(np.asarray(out), tn.stylize(model, photo))
    assert tn.stylize(model, Image.fromarray(photo).convert("L")).size == (61, 45)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown rotated 90 degrees: a phone photo
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", exif=exif.tobytes())
    assert tn.stylize(model, Image.open(buffer)).size == (45, 61)


def test_a_photo_file_path_is_read_as_eval_py_reads_it(model, photo, tmp_path):
    from transformnet.images import ImageError

    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    for spec in (path, str(path)):
        out = tn.stylize(model, spec)
        assert isinstance(out, Image.Image) and out.size == (61, 45)
        np.testing.assert_array_equal(np.asarray(out), tn.stylize(model, photo))
    with pytest.raises(ImageError, match="missing.jpg: no such file"):
        tn.stylize(model, tmp_path / "missing.jpg")


def test_options(model, photo):
    np.testing.assert_array_equal(tn.stylize(model, photo, strength=0.0), photo)
    full, half = tn.stylize(model, photo).astype(float), tn.stylize(model, photo, strength=0.5).astype(float)
    assert np.abs(half - (full + photo) / 2).max() <= 1.0
    from transformnet.color import rgb_to_ycbcr

    kept = tn.stylize(model, photo, preserve_color=True)
    chroma = np.abs(rgb_to_ycbcr(kept)[..., 1:] - rgb_to_ycbcr(photo)[..., 1:])
    assert np.median(chroma) < 2  # the photo's colours (clipping aside)
    assert tn.stylize(model, photo, max_size=30).shape == (22, 30, 3)
    tiles, wide = [], np.concatenate([photo, photo[:, ::-1]], axis=1)  # 122 px: two tiles of 64
    tiled = tn.stylize(model, wide, tile=64, progress=lambda done, total: tiles.append((done, total)), precision="float32")
    assert tiles == [(1, 2), (2, 2)] and np.abs(tiled.astype(int) - tn.stylize(model, wide, precision="float32")).max() <= 1


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((8, 8, 3), np.float32), "uint8 \\(H, W, 3\\)"),
        (b"\x89PNG\r\n", "^image must be a PIL image, a uint8 \\(H, W, 3\\) RGB array or a photo's path, not bytes$"),  # was "not |S6 ()"
        (io.BytesIO(b"\x89PNG"), "or a photo's path, not BytesIO$"),  # was "not object ()"
        (None, "or a photo's path, not NoneType$"),
        (np.zeros((8, 8), np.uint8), "uint8 \\(H, W, 3\\)"),
        (np.zeros((1, 8, 3), np.uint8), "8x1 pixels"),
        (Image.new("RGB", (40, 1)), "40x1 pixels"),  # as a PIL image too, as a file would be
    ],
)
def test_bad_images_are_one_line_errors(model, image, message):
    with pytest.raises(tn.ImageError, match=message):
        tn.stylize(model, image)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_pil_image_whose_file_is_truncated_is_a_one_line_image_error(model, photo, fmt):
    """PIL opens a file lazily: the truncated pixels fail when stylize decodes them, which raised
    PIL's raw ``OSError: image file is truncated``; a path to the same file was an ImageError."""
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, fmt)
    with pytest.raises(tn.ImageError, match="^image: truncated or corrupt image data$"):
        tn.stylize(model, Image.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2])))


def test_the_errors_the_docstring_names_are_the_packages_and_cost_nothing_to_import():
    """``except tn.ModelError`` raised AttributeError: the classes lived in submodules only."""
    import transformnet.data
    import transformnet.fast
    import transformnet.settings

    assert tn.ModelError is transformnet.fast.ModelError and tn.DataError is transformnet.data.DataError
    assert tn.TrainingError is transformnet.settings.TrainingError and issubclass(tn.WriteError, Exception)
    assert {"ModelError", "ImageError", "DataError", "FlagError", "TrainingError", "WriteError"} <= set(tn.__all__)
    assert all(name in tn.__doc__ for name in tn.ERRORS)
    with pytest.raises(AttributeError, match="has no attribute 'ModelErorr'"):
        tn.ModelErorr
    code = "import sys, transformnet; transformnet.__all__; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_bad_options_are_refused(model, photo):
    with pytest.raises(ValueError, match="strength must be between 0 and 1"):
        tn.stylize(model, photo, strength=1.5)
    with pytest.raises(ValueError, match="tile must be at least"):
        tn.stylize(model, photo, tile=8)
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16, not int8"):
        tn.stylize(model, photo, precision="int8")


@pytest.mark.parametrize(
    "option, message",
    [
        ({"strength": "0.5"}, "^strength must be a number between 0 and 1, not '0.5'$"),
        ({"strength": None}, "^strength must be a number between 0 and 1, not None$"),
        ({"strength": True}, "^strength must be a number between 0 and 1, not True$"),
        ({"max_size": "32"}, "^max_size must be a whole number of pixels or None, not '32'$"),
        ({"tile": 64.5}, "^tile must be a whole number of pixels or None, not 64.5$"),
        ({"preserve_color": "no"}, "^preserve_color must be True or False, not 'no'$"),
        ({"tile": 8}, "^tile must be at least"),  # named as the argument, not as eval.py's --tile
    ],
)
def test_options_of_the_wrong_type_are_one_line_value_errors(model, photo, option, message):
    with pytest.raises(ValueError, match=message):
        tn.stylize(model, photo, **option)


def test_a_model_name_or_path_is_loaded_and_anything_else_is_refused(checkpoints, model, photo):
    by_path = tn.stylize(checkpoints / "random.keras", photo, precision="float32")
    np.testing.assert_array_equal(by_path, tn.stylize(model, photo, precision="float32"))
    with pytest.raises(TypeError, match=r"^model must be a model from load_model\(\), or a model's name or path, not NoneType$"):
        tn.stylize(None, photo)


@pytest.mark.parametrize("function", [tn.load_model, tn.model_info])
@pytest.mark.parametrize("value, named", [(None, "NoneType"), (5, "int"), (b"random.keras", "bytes")])
def test_a_model_or_folder_of_the_wrong_type_is_named_as_the_argument(checkpoints, function, value, named):
    """It was os.fspath's "expected str, bytes or os.PathLike object, not NoneType", naming no
    argument, and for bytes "a bytes-like object is required, not 'str'"."""
    with pytest.raises(TypeError, match=f"^name_or_path must be a model's name or path, not {named}$"):
        function(value, checkpoints=checkpoints)
    if value is not None:  # None is the default folders
        with pytest.raises(TypeError, match=f"^checkpoints must be a folder's path or None, not {named}$"):
            function("random", checkpoints=value)
        with pytest.raises(TypeError, match=f"^checkpoints must be a folder's path or None, not {named}$"):
            tn.list_models(value)


def test_train_refuses_unknown_settings_and_bad_data(tmp_path):
    with pytest.raises(TypeError, match="stlye_weight"):
        tn.train(style="painting.jpg", data="photos", name="x", stlye_weight=1e5)
    with pytest.raises(tn.ImageError, match="missing.jpg: no such file"):
        tn.train(style=tmp_path / "missing.jpg", data=tmp_path, name="x", output=tmp_path, logdir=tmp_path / "runs")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "given, message",
    [
        ({"name": None}, "^--name must be text, not None$"),  # trained and exported None.keras
        ({"name": 5}, "^--name must be text, not 5$"),
        ({"style": None}, "^--style must be text, not None$"),
        ({"data": 5}, "^--data must be text, not 5$"),
        ({"force": "no"}, "^--force must be True or False, not 'no'$"),  # was true: replaced the model
        ({"resume": 1}, "^--resume must be True or False, not 1$"),
        ({"devices": 0}, "^--devices must be a whole number of at least 1, not 0$"),
        ({"coordinator": 1234}, "^--coordinator must be text \\(HOST:PORT\\), not 1234$"),
    ],
)
def test_train_checks_the_type_of_every_argument_before_loading_keras(tmp_path, monkeypatch, given, message):
    import transformnet.training as training
    from conftest import NPZ, STARRY, need

    monkeypatch.setattr(training, "load_keras", lambda: pytest.fail("Keras loaded before the checks"))
    (tmp_path / "photos").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "photos" / "a.png")
    arguments = {"style": need(STARRY), "data": tmp_path / "photos", "name": "x", "output": tmp_path, "logdir": tmp_path / "runs",
                 "vgg_weights": need(NPZ), **given}
    with pytest.raises(tn.FlagError, match=message):
        tn.train(**arguments)
    assert os.listdir(tmp_path) == ["photos"]


def test_train_takes_numpy_numbers_as_the_numbers_they_hold(tmp_path, monkeypatch):
    """``steps=np.int64(...)`` (from ``np.arange``) or ``style_weight=np.float32(...)`` was refused as
    not a number; it is taken, and saved as plain JSON."""
    import json

    import transformnet.training as training

    runs = []
    monkeypatch.setattr(training, "train", lambda settings, out: runs.append(settings) or {})
    tn.train(style="painting.jpg", data="photos", name=np.str_("x"), steps=np.int64(3), style_weight=np.float32(2.5),
             width=np.float64(0.5), force=np.bool_(True))
    (settings,) = runs
    assert (settings.name, settings.steps, settings.style_weight, settings.force) == ("x", 3, 2.5, True)
    assert type(settings.steps) is int and type(settings.style_weight) is float and type(settings.force) is bool
    json.dumps(settings.saved())


def test_callbacks_are_checked_before_the_work(model, photo, monkeypatch):
    """``progress=5`` was taken, and failed after the first tile was stylized (or never, untiled);
    ``log=5`` failed once Keras had loaded. ``log=None`` is a silent run, as ``progress=None``."""
    import transformnet.training as training

    with pytest.raises(ValueError, match=r"^progress must be a function \(done, total\) or None, not 5$"):
        tn.stylize(model, photo, progress=5)
    runs = []
    monkeypatch.setattr(training, "train", lambda settings, out: runs.append(out) or {})
    with pytest.raises(ValueError, match=r"^log must be a function \(line\) or None, not 'train.log'$"):
        tn.train(style="painting.jpg", data="photos", name="x", log="train.log")
    assert runs == []
    tn.train(style="painting.jpg", data="photos", name="x", log=None)
    assert runs[0]("a status line") is None


def test_the_readmes_python_block_runs_as_written(tmp_path, monkeypatch):
    """The README's "From Python" block, in a folder holding what it names, with a 2-step budget
    in place of 2,000 steps (its ``["parameters"]`` was a KeyError; this keeps it honest)."""
    import shutil

    from conftest import NPZ, SHARED, STARRY, need

    readme = (ROOT / "README.md").read_text()
    block = readme.split("## From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    budget = "steps=2, image_size=64, style_size=64, batch_size=1, width=0.25, validation_photos=1, log_every=1"
    assert block.count("steps=2000") == 1, "the README's training budget moved; update this test"
    block = block.replace("steps=2000", budget)
    shutil.copy(need(STARRY), tmp_path / "starry_night.jpg")
    shutil.copy(need(SHARED / "content" / "chicago.jpg"), tmp_path / "photo.jpg")
    (tmp_path / "photos").mkdir()
    for photo in sorted(need(SHARED / "photos").glob("*.jpg"))[:4]:
        shutil.copy(photo, tmp_path / "photos" / photo.name)
    from transformnet.network import build_transform_net

    (tmp_path / "checkpoints").mkdir()
    build_transform_net(width=0.25).save(tmp_path / "checkpoints" / "starry.keras")
    monkeypatch.setenv("TRANSFORMNET_VGG_WEIGHTS", str(need(NPZ)))
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md (From Python)", "exec"), {})
    assert (tmp_path / "photo_starry.jpg").is_file()
    assert tn.model_info("my_starry_2")["training"]["settings"]["style_weight"] == 20


@pytest.mark.parametrize(
    "argv0, train, stylize",
    [
        ("eval.py", "python train.py", "python eval.py"),  # a checkout's script, as typed
        ("../transformnet/train.py", "python ../transformnet/train.py", "python ../transformnet/eval.py"),
        ("/venv/bin/transformnet-stylize", "transformnet-train", "transformnet-stylize"),  # a wheel has no scripts
        ("", "transformnet-train", "transformnet-stylize"),  # the Python API in a notebook
    ],
)
def test_messages_name_the_commands_as_this_process_can_run_them(monkeypatch, argv0, train, stylize):
    from transformnet.commands import command

    monkeypatch.setattr(sys, "argv", [argv0])
    assert (command("train"), command("stylize")) == (train, stylize)


def test_a_models_folder_that_is_not_there_is_said_so(tmp_path, monkeypatch):
    """It read "available in nope/: none (train one ...)", as if the user had no models."""
    with pytest.raises(ModelError, match=f"^{tmp_path / 'nope'}: no such folder \\(the folder of models --checkpoints names\\)$"):
        tn.load_model("starry", checkpoints=tmp_path / "nope")
    monkeypatch.setenv("TRANSFORMNET_CHECKPOINTS", str(tmp_path / "file"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ModelError, match="file: not a folder \\(the folder of models \\$TRANSFORMNET_CHECKPOINTS names\\)$"):
        tn.list_models()
    done = subprocess.run([sys.executable, "-m", "transformnet"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().startswith(f"error: {tmp_path / 'file'}: not a folder")


def test_a_models_folder_that_cannot_be_entered_or_listed_is_said_so(tmp_path, monkeypatch):
    """A folder of models without search permission (another user's, mode 600) hid the model in
    it: "slim: unknown model; available in ck/: none"; one without read permission (300) still
    loads a named model, but listed "none" for what it could not list."""
    from transformnet.fast import resolve_model

    if os.geteuid() == 0:  # root enters and lists any folder: answer as the kernel does its owner
        monkeypatch.setattr(os, "access", lambda path, mode: os.stat(path).st_mode >> 6 & mode == mode)
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "slim.keras").write_bytes(b"")
    folder.chmod(0o600)
    try:
        with pytest.raises(ModelError, match=f"^{folder}: folder cannot be entered \\(permission denied; the folder of models "
                                             "--checkpoints names\\)$"):
            resolve_model("slim", folder)
        folder.chmod(0o300)
        with pytest.raises(ModelError, match=f"^nosuch: unknown model; available in {folder}/: .*; {folder}/ cannot be "
                                             "listed \\(permission denied\\)$"):
            resolve_model("nosuch", folder)
    finally:
        folder.chmod(0o700)


def test_no_folder_of_models_at_all_is_not_said_to_be_unlistable(tmp_path, monkeypatch):
    """With no ./checkpoints and no shipped models, the unknown-model line named ./checkpoints as
    a folder that "cannot be listed (permission denied)": it is not there at all."""
    from transformnet import fast

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRANSFORMNET_CHECKPOINTS", raising=False)
    monkeypatch.setattr(fast, "shipped_model_dir", lambda: None)
    with pytest.raises(ModelError) as info:
        fast.resolve_model("nosuch", None)
    assert str(info.value).startswith("nosuch: unknown model; available in checkpoints/: none (train one with ")
    assert "permission denied" not in str(info.value)


def test_a_closed_pil_image_is_said_to_be_closed(model, photo):
    """A PIL image closed before stylizing (used after its ``with`` block) raised a bare
    AssertionError from Pillow, or ``ValueError: Operation on closed image`` once loaded."""
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "PNG")
    for load_first in (False, True):
        with Image.open(io.BytesIO(buffer.getvalue())) as image:
            if load_first:  # a loaded image keeps its pixels after the with block, until .close()
                image.load()
                image.close()
        with pytest.raises(tn.ImageError, match="^image: the PIL image was closed"):
            tn.stylize(model, image)


def test_a_pil_image_whose_file_was_closed_is_said_so(model, photo, tmp_path):
    """``with open(path, "rb") as f: image = Image.open(f)``, stylized after the block: Pillow
    reads the pixels only then, from the closed file, and the error said "image: corrupt image
    (seek of closed file)" of a sound photo."""
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    with open(path, "rb") as handle:
        image = Image.open(handle)
    with pytest.raises(tn.ImageError, match="^image: the file of the PIL image was closed before its pixels were read"):
        tn.stylize(model, image)
    with open(path, "rb") as handle:  # read inside the block: its pixels outlive the file
        image = Image.open(handle)
        image.load()
    assert tn.stylize(model, image).size == image.size


def test_an_empty_name_is_refused_as_on_the_command_line(checkpoints):
    """``checkpoints=""`` (an unset variable) silently meant the default folders; eval.py refuses
    an empty name."""
    for call in (lambda: tn.list_models(""), lambda: tn.load_model("random", checkpoints=""),
                 lambda: tn.model_info("", checkpoints=checkpoints)):
        with pytest.raises(tn.FlagError, match="an empty name is no file or folder"):
            call()


def test_train_takes_devices_all_as_train_py_does(monkeypatch):
    """``devices="all"``, train.py's ``--devices all``, was refused as not a whole number."""
    import transformnet.training as training

    runs = []
    monkeypatch.setattr(training, "train", lambda settings, out: runs.append(settings) or {})
    tn.train(style="painting.jpg", data="photos", name="x", devices="all")
    assert runs[0].devices is None


def test_train_returns_the_path_its_output_setting_names(tmp_path, monkeypatch):
    """``train(..., output=DIR)`` returned ``checkpoints/NAME.keras``, the default folder's path,
    while the run exported into DIR."""
    import transformnet.training as training

    monkeypatch.setattr(training, "train", lambda settings, out: {})
    path, _ = tn.train(style="painting.jpg", data="photos", name="x", output=tmp_path / "models")
    assert path == os.path.join(str(tmp_path / "models"), "x.keras")
