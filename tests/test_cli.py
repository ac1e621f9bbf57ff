"""``eval.py`` end to end, through real subprocesses (marked ``cli``).

Most error cases are caught before Keras is imported, so they take a fraction of a second;
the few runs that load a model or the VGG network take a few seconds each.
"""

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import NPZ, ROOT, STARRY, file_size_limit, need, unwritable_folder
from images_factory import bad_inputs, good_inputs, medium_format_png

pytestmark = pytest.mark.cli

EVAL = str(ROOT / "eval.py")


def run(*args, cwd=None, env=None, **options):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TRANSFORMNET_CHECKPOINTS", None)
    result = subprocess.run(
        [sys.executable, EVAL, *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=full_env, timeout=600, **options,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def one_error_line(result, path):
    """Asserts a non-zero exit and exactly one ``error: <path>: ...`` line; returns it."""
    assert result.returncode != 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {path}: "), errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """checkpoints/ with a randomly initialised transform net saved as ``random.keras``."""
    from transformnet.network import build_transform_net

    folder = tmp_path_factory.mktemp("checkpoints")
    build_transform_net(width=0.25).save(folder / "random.keras")
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "street.jpg"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, size=(27, 35, 3), dtype=np.uint8)).save(path)
    return path


BAD_CASES = ["missing", "directory", "zero_byte", "text", "bomb", "one_pixel"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_photo_is_one_line_before_any_model_loads(case, tmp_path, model_dir):
    path = bad_inputs(tmp_path / "in")[case]
    result = run("--model", model_dir / "random.keras", "--image", path, "--output", tmp_path / "out")
    one_error_line(result, path)
    assert not (tmp_path / "out").exists()


def test_a_200_megapixel_photo_is_stylized_not_refused_as_a_bomb(tmp_path, model_dir):
    """PIL warns above 89.5 MP and refuses above 179 MP; that once refused medium-format and
    full-resolution phone photos, and then 200 MP panoramas, which tiling stylizes. Only a photo
    whose decode would not fit in the memory left is refused (the ``bomb`` case)."""
    big = medium_format_png(tmp_path / "panorama.png", 20000, 10000)
    out = tmp_path / "out.png"
    result = run("--model", model_dir / "random.keras", "--image", big, "--output", out, "--max-size", 300)
    assert result.returncode == 0, result.stderr
    assert "DecompressionBomb" not in result.stderr
    with Image.open(out) as image:
        assert image.size == (300, 150)


@pytest.mark.parametrize("case", BAD_CASES + ["truncated"])
def test_bad_painting_is_one_line(case, tmp_path, photo):
    path = bad_inputs(tmp_path / "in")[case]
    result = run("--style", path, "--image", photo, "--output", tmp_path / "out.jpg")
    one_error_line(result, path)
    assert not (tmp_path / "out.jpg").exists()


def test_bad_slow_photo_is_one_line(tmp_path):
    cases = bad_inputs(tmp_path / "in")
    painting = tmp_path / "painting.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(painting)
    for case in ("truncated", "text", "one_pixel"):
        result = run("--style", painting, "--image", cases[case], "--output", tmp_path / "o.jpg")
        one_error_line(result, cases[case])
    # 2x2 is a fine photo for the fast path, but VGG16 has nothing left of it after pooling.
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tiny)
    result = run("--style", painting, "--image", tiny, "--output", tmp_path / "o.jpg")
    assert "too small" in one_error_line(result, tiny)
    result = run("--style", tiny, "--image", painting, "--output", tmp_path / "o.jpg")
    assert "too small" in one_error_line(result, tiny)


def test_fast_path_stylizes_every_kind_of_photo_at_its_size(tmp_path, model_dir):
    """Gray, RGBA, palette, CMYK, 16-bit, EXIF-rotated, 2x2 and odd sizes all work; a
    truncated file among them is one error line and the rest are still written."""
    good = good_inputs(tmp_path / "in")
    truncated = bad_inputs(tmp_path / "bad")["truncated"]
    paths = [path for path, _ in good.values()]
    out = tmp_path / "out"
    result = run("--model", "random", "--checkpoints", model_dir, "--image", *paths, truncated, "--output", out)
    one_error_line(result, truncated)
    for name, (path, (width, height)) in good.items():
        written = out / f"{path.stem}_random.jpg"
        assert written.exists(), (name, result.stdout, result.stderr)
        with Image.open(written) as image:
            assert image.size == (width, height), name
            assert image.mode == "RGB"
    assert not (out / "truncated_random.jpg").exists()


def test_an_animated_image_is_stylized_from_its_first_frame_with_a_note(tmp_path, model_dir, photo):
    """An animated GIF given to --image lost every frame but the first, unsaid."""
    frames = [Image.new("RGB", (24, 18), (60 * i, 90, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = run("--model", "random", "--checkpoints", model_dir, "--image", tmp_path / "anim.gif", photo, "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    gif = tmp_path / "anim.gif"
    assert notes == [f"note: {gif} is animated (3 frames): stylizing its first frame; --video {gif} stylizes every frame"]
    assert (tmp_path / "out" / "anim_random.jpg").exists() and (tmp_path / "out" / "street_random.jpg").exists()


def test_each_photo_is_opened_once_before_the_work(tmp_path, model_dir, monkeypatch, capsys):
    """--image opened every file twice before the work: its size check, then the animation note."""
    from transformnet import cli

    frames = [Image.new("RGB", (24, 18), (60 * i, 90, 0)) for i in range(3)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    existing = tmp_path / "out.jpg"
    existing.write_bytes(b"an earlier result")  # stops the run after the checks, before Keras
    opened, open_image = [], Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *args, **kwargs: opened.append(fp) or open_image(fp, *args, **kwargs))
    assert cli.main(["--model", str(model_dir / "random.keras"), "--image", str(gif), "--output", str(existing)]) == 1
    err = capsys.readouterr().err
    assert f"note: {gif} is animated (3 frames)" in err and "already exists" in err
    assert opened == [str(gif)]


def test_several_models_stylize_every_photo_in_each_style(tmp_path, model_dir, photo):
    """--model a b: <stem>_<model>.jpg for each photo and model, each as --model alone writes it;
    a photo that cannot be read is one line, not one per style; two models with one name (their
    outputs would collide) are refused before any work, and a model named twice is used once."""
    from transformnet.network import build_transform_net

    other = tmp_path / "models" / "other.keras"
    other.parent.mkdir()
    build_transform_net(width=0.25).save(other)  # other random weights
    truncated = bad_inputs(tmp_path / "bad")["truncated"]
    second = tmp_path / "second.png"
    Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(second)
    both = tmp_path / "both"
    result = run("--model", "random", other, "random", "--checkpoints", model_dir, "--image", truncated, photo, second,
                 "--output", both)
    one_error_line(result, truncated)
    assert sorted(p.name for p in both.iterdir()) == ["second_other.jpg", "second_random.jpg", "street_other.jpg",
                                                     "street_random.jpg"]
    alone = tmp_path / "alone"
    assert run("--model", other, "--image", photo, second, "--output", alone).returncode == 0
    for name in ("street_other.jpg", "second_other.jpg"):
        np.testing.assert_array_equal(np.asarray(Image.open(both / name)), np.asarray(Image.open(alone / name)))
    assert np.abs(np.asarray(Image.open(both / "street_random.jpg"), float) - np.asarray(Image.open(both / "street_other.jpg"))).mean() > 1
    twin = tmp_path / "twin" / "random.keras"
    twin.parent.mkdir()
    twin.write_bytes((model_dir / "random.keras").read_bytes())
    result = run("--model", "random", twin, "--checkpoints", model_dir, "--image", photo, "--output", tmp_path / "none")
    assert "names two models called random" in one_error_line(result, twin)
    assert not (tmp_path / "none").exists()


def test_single_output_file_and_force(tmp_path, model_dir, photo):
    target = tmp_path / "styled.png"
    target.write_bytes(b"old")
    args = ["--model", model_dir / "random.keras", "--image", photo, "--output", target]
    result = run(*args)
    line = one_error_line(result, target)
    assert "--force" in line
    assert target.read_bytes() == b"old"
    result = run(*args, "--force")
    assert result.returncode == 0, result.stderr
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (35, 27)


def test_a_dangling_link_at_the_output_counts_as_existing_before_the_work(tmp_path, model_dir, photo):
    """The check before the work and the publish (files.publish) agree on what exists: a link to
    nothing used to pass the first and fail the second, after the work, as 'appeared meanwhile'."""
    link = tmp_path / "street_random.jpg"
    link.symlink_to(tmp_path / "nowhere.jpg")
    result = run("--model", model_dir / "random.keras", "--image", photo, "--output", tmp_path)
    assert "output already exists (use --force to overwrite)" in one_error_line(result, link)
    assert link.is_symlink()
    assert run("--model", model_dir / "random.keras", "--image", photo, "--output", tmp_path, "--force").returncode == 0
    assert not link.is_symlink() and Image.open(link).size == (35, 27)
    assert not (tmp_path / "nowhere.jpg").exists()


def test_default_output_is_stem_model_in_current_folder(tmp_path, model_dir, photo):
    result = run("--model", model_dir / "random.keras", "--image", photo, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "street_random.jpg").exists()
    assert "street_random.jpg" in result.stdout


def test_output_never_overwrites_an_input(tmp_path, model_dir, photo):
    copy = tmp_path / "p.jpg"
    copy.write_bytes(photo.read_bytes())
    before = copy.read_bytes()
    for output in (copy, tmp_path / "." / "p.jpg"):
        result = run("--model", model_dir / "random.keras", "--image", copy, "--output", output, "--force")
        assert "overwrite the input" in one_error_line(result, output)
    link = tmp_path / "link.jpg"
    os.symlink(copy, link)
    result = run("--model", model_dir / "random.keras", "--image", copy, "--output", link, "--force")
    assert "overwrite the input" in one_error_line(result, link)
    # The slow path protects the painting too.
    result = run("--style", copy, "--image", photo, "--output", copy, "--force")
    assert "overwrite the input" in one_error_line(result, copy)
    assert copy.read_bytes() == before


def test_two_photos_with_the_same_stem_are_refused(tmp_path, model_dir, photo):
    (tmp_path / "a").mkdir()
    other = tmp_path / "a" / "street.png"
    Image.open(photo).save(other)
    result = run("--model", model_dir / "random.keras", "--image", photo, other, "--output", tmp_path / "o")
    assert "would be written here" in one_error_line(result, tmp_path / "o" / "street_random.jpg")


def test_a_recursive_pattern_keeps_the_subfolders_so_same_named_photos_do_not_collide(tmp_path, model_dir, photo):
    """Cameras name every day's photos IMG_0001.jpg: flattened, ``'shoot/**/*'`` was refused as
    two photos writing one output."""
    for day in ("day1", "day2"):
        (tmp_path / "shoot" / day).mkdir(parents=True)
        Image.open(photo).save(tmp_path / "shoot" / day / "IMG_0001.jpg")
    result = run("--model", model_dir / "random.keras", "--image", tmp_path / "shoot" / "**" / "*", "--output", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(tmp_path / "o")) for p in (tmp_path / "o").rglob("*.jpg"))
    assert written == [os.path.join(day, "IMG_0001_random.jpg") for day in ("day1", "day2")]


def test_one_file_output_for_several_photos_is_refused(tmp_path, model_dir, photo):
    other = tmp_path / "other.png"
    Image.open(photo).save(other)
    target = tmp_path / "x.jpg"
    result = run("--model", model_dir / "random.keras", "--image", photo, other, "--output", target)
    one_error_line(result, target)
    # The same photo named twice is one photo: it may go to one file.
    again = os.path.join(os.path.dirname(photo), ".", os.path.basename(photo))
    result = run("--model", model_dir / "random.keras", "--image", photo, again, "--output", target)
    assert result.returncode == 0 and target.is_file(), result.stderr


@pytest.mark.parametrize("argv,words", [
    (["--style", "p.jpg", "--image", "a.jpg", "--tile", "512"], "--tile does nothing with --style; it goes with --model or --model --video"),
    (["--model", "m", "--image", "a.jpg", "--iterations", "5"], "--iterations does nothing with --model; it goes with --style"),
    (["--model", "m", "--image", "a.jpg", "--vgg-weights", "v.npz"], "--vgg-weights does nothing with --model"),
    (["--model", "m", "--export", "e", "--strength", "0.5"], "--strength does nothing with --model --export"),
    (["--model", "m", "--image", "a.jpg", "--format", "onnx"], "--format does nothing with --model; it goes with --model --export"),
    (["--model", "m", "--video", "v.mp4", "--image", "a.jpg"], "--image does nothing with --model --video"),
    (["--info", "m", "--output", "o.jpg"], "--output does nothing with --info"),
    (["--style", "p.jpg", "--video", "v.mp4"], "--video does nothing with --style"),
    (["--model", "m", "--json", "--image", "a.jpg"], "--json does nothing with --model; it goes with --info"),
    # Given at its default value the flag is still not read: refused all the same, not taken as absent.
    (["--model", "m", "--image", "a.jpg", "--iterations", "300"], "--iterations does nothing with --model; it goes with --style"),
    (["--model", "m", "--image", "a.jpg", "--format", "savedmodel"], "--format does nothing with --model; it goes with --model --export"),
    (["--info", "m", "--strength", "1"], "--strength does nothing with --info"),
    (["--style", "p.jpg", "--image", "a.jpg", "--precision", "auto"], "--precision does nothing with --style"),
    (["--model", "m"], "--image is required with --model"),
    (["--model", "m", "n", "--video", "v.mp4"], "--model --video takes one --model, not 2"),
    (["--model", "m", "n", "--export", "e"], "--model --export takes one --model, not 2"),
])
def test_a_flag_the_job_does_not_read_is_refused_not_ignored(argv, words, capsys):
    """Checked from the command line alone (cli.FLAGS_OF_JOB), before any file is opened."""
    from transformnet import cli

    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert f"error: {words}" in capsys.readouterr().err.strip().splitlines()[-1]


def test_help_names_the_slow_paths_values_as_the_readme_does():
    """The README's "Options: ... --size PX ... --iterations N" and --help read alike (--help
    said --size SIZE, --iterations ITERATIONS, --learning-rate LEARNING_RATE)."""
    from transformnet import cli

    text, readme = " ".join(cli.build_parser().format_help().split()), (ROOT / "README.md").read_text()
    for shown in ("--size PX", "--style-size PX", "--iterations N", "--learning-rate LR"):
        assert shown in text and f"`{shown}`" in readme
    for weight in ("--content-weight W", "--style-weight W", "--tv-weight W"):  # as train.py --help names them
        assert weight in text


def test_every_flag_belongs_to_a_job():
    """A new flag must be added to FLAGS_OF_JOB, or every use of it would be refused."""
    from transformnet import cli

    dests = {a.dest for a in cli.build_parser()._actions if a.option_strings} - set(cli.EVERY_JOB)
    assert dests == set().union(*cli.FLAGS_OF_JOB.values())


@pytest.mark.parametrize(
    "name", ["../random", "..", "a..b", ".hidden", "sub/../random", "random.h5", "/etc/passwd", "a b", "-x"]
)
def test_model_names_cannot_escape_checkpoints(name, model_dir, photo, tmp_path):
    result = run("--model=" + name, "--checkpoints", model_dir, "--image", photo, "--output", tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith(f"error: {name}: "), result.stderr
    assert not list(tmp_path.glob("*.jpg"))


def test_symlink_out_of_checkpoints_is_refused(tmp_path, model_dir, photo):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    os.symlink(model_dir / "random.keras", folder / "sneaky.keras")
    result = run("--model", "sneaky", "--checkpoints", folder, "--image", photo, "--output", tmp_path)
    assert "outside" in one_error_line(result, "sneaky")


def test_unknown_name_lists_available_models(tmp_path, photo):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in ("udnie", "starry", "wave"):
        (folder / f"{name}.keras").write_bytes(b"")
    result = run("--model", "monet", "--checkpoints", folder, "--image", photo)
    line = one_error_line(result, "monet")
    assert "starry, udnie, wave" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("--model", "monet", "--checkpoints", empty, "--image", photo)
    assert "none" in one_error_line(result, "monet")


def test_path_to_missing_or_wrongly_named_model(tmp_path, photo):
    result = run("--model", tmp_path / "nope.keras", "--image", photo)
    one_error_line(result, tmp_path / "nope.keras")
    other = tmp_path / "model.h5"
    other.write_bytes(b"x")
    result = run("--model", other, "--image", photo)
    assert ".keras" in one_error_line(result, other)


def test_corrupt_model_files_are_one_line(tmp_path, model_dir, photo):
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(os.urandom(2000))
    result = run("--model", garbage, "--image", photo, "--output", tmp_path)
    one_error_line(result, garbage)
    cut = tmp_path / "cut.keras"
    data = (model_dir / "random.keras").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    result = run("--model", cut, "--image", photo, "--output", tmp_path)
    one_error_line(result, cut)
    wrong = tmp_path / "wrong.keras"
    with zipfile.ZipFile(wrong, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Nothing", "config": {}}')
        archive.writestr("metadata.json", "{}")
    result = run("--model", wrong, "--image", photo, "--output", tmp_path)
    one_error_line(result, wrong)
    assert not list(tmp_path.glob("*.jpg"))


def test_model_with_code_is_refused_by_safe_mode(tmp_path, photo):
    import keras

    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Lambda(lambda x: x * 0.5)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    result = run("--model", path, "--image", photo, "--output", tmp_path)
    one_error_line(result, path)
    assert not list(tmp_path.glob("*.jpg"))


@pytest.mark.parametrize("kind", ["no_norm", "fixed_size"])
def test_a_model_that_is_no_transform_net_is_one_line_before_any_photo(tmp_path, photo, kind):
    """A plain conv model (no instance norm: tiling cannot run it) and a model fixed at 64x64
    were accepted, then failed on the first tiled or other-sized photo with a traceback."""
    import keras

    inputs = keras.Input((64, 64, 3) if kind == "fixed_size" else (None, None, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same")(inputs)
    path = tmp_path / f"{kind}.keras"
    keras.Model(inputs, outputs).save(path)
    result = run("--model", path, "--image", photo, "--tile", "64", "--output", tmp_path)
    one_error_line(result, path)
    words = "takes only 64x64 images" if kind == "fixed_size" else "not a transform net (no instance normalization"
    assert words in result.stderr
    assert not list(tmp_path.glob("*.jpg"))


def test_info_prints_metadata(model_dir):
    import json

    result = run("--info", "random", "--checkpoints", model_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model       random: ") and "Keras 3." in lines[0]
    assert lines[1].startswith("network     width 0.25, 5 residual blocks, ") and lines[1].endswith(" parameters")
    assert "no training metadata" in lines[2]
    result = run("--info", "random", "--checkpoints", model_dir, "--json")
    info = json.loads(result.stdout)
    assert info["model"]["width"] == 0.25 and info["model"]["parameters"] > 1000
    assert info["keras"]["keras_version"].startswith("3.") and info["training"] == {}
    result = run("--info", "../x", "--checkpoints", model_dir)
    one_error_line(result, "../x")
    assert run("--model", "random", "--checkpoints", model_dir, "--image", "x.jpg", "--json").returncode == 2


def test_slow_path_writes_default_name(tmp_path, photo):
    need(STARRY)
    weights = ["--vgg-weights", need(NPZ)]
    result = run("--style", STARRY, "--image", photo, "--size", 32, "--iterations", 3, "--quiet", *weights,
                 "--loss-log", "log.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "street_starry_night_gatys.jpg") as image:
        assert max(image.size) == 32
    # The image kept is the lowest-loss iterate, and the line says so (it called that loss "final").
    totals = [float(row.split(",")[2]) for row in (tmp_path / "log.csv").read_text().splitlines()[1:]]
    assert f"lowest total loss {min(totals):.4g}, the image kept)" in result.stdout
    result = run("--style", STARRY, "--image", photo, "--iterations", 1, cwd=tmp_path)
    assert "--force" in one_error_line(result, "street_starry_night_gatys.jpg")


def test_slow_path_bad_vgg_weights(tmp_path, photo):
    need(STARRY)
    bad = tmp_path / "vgg.npz"
    bad.write_text("nope")
    result = run("--style", STARRY, "--image", photo, "--vgg-weights", bad, "--output", tmp_path / "o.jpg")
    one_error_line(result, bad)


def test_usage_errors_exit_2():
    assert run("--image", "x.jpg").returncode == 2
    assert run("--model", "a").returncode == 2


def test_version_and_the_commands_a_message_suggests(tmp_path, photo):
    """Both commands answer --version; run as a checkout's script, a planned model's message
    names the scripts by the path they were started with (an installed wheel: its entry points)."""
    from transformnet import __version__

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"eval.py (transformnet {__version__})"
    train = subprocess.run([sys.executable, str(ROOT / "train.py"), "--version"], capture_output=True, text=True)
    assert train.returncode == 0 and train.stdout.strip() == f"train.py (transformnet {__version__})"
    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "wave.jpg").write_bytes(b"not read")
    line = one_error_line(run("--model", "wave", "--image", photo, "--checkpoints", tmp_path), "wave")
    assert f"train it with python {ROOT / 'train.py'} --style" in line
    assert f"without training: python {ROOT / 'eval.py'} --style" in line


# --- issue 9: outputs that cannot be written, offline start --------------------------------------
def test_outputs_that_cannot_be_written_are_refused_before_any_model_loads(tmp_path, model_dir, photo):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    cases = [
        (tmp_path / "x.psd", tmp_path / "x.psd", "PIL cannot write RGB photos as PSD"),
        (blocker / "out.jpg", blocker / "out.jpg", "is a file, not a folder"),
        (blocker / "new_folder", blocker / "new_folder" / "street_random.jpg", "is a file, not a folder"),
    ]
    for output, named, words in cases:
        result = run("--model", model_dir / "random.keras", "--image", photo, "--output", output)
        assert words in one_error_line(result, named)
    with unwritable_folder(tmp_path / "locked") as locked:
        result = run("--model", model_dir / "random.keras", "--image", photo, "--output", locked)
        assert "not writable" in one_error_line(result, locked / "street_random.jpg")
        result = run("--style", photo, "--image", photo, "--output", locked / "slow.jpg", "--iterations", 1)
        assert "not writable" in one_error_line(result, locked / "slow.jpg")
    assert blocker.read_text() == "a file, not a folder"


NOT_A_NAME = {
    "-": "{flag} -: standard input and output are not supported; give a file or folder (./- for one named '-')",
    "": "{flag}: an empty name is no file or folder; give one (. for the current folder)",
}


@pytest.mark.parametrize("value", NOT_A_NAME)
@pytest.mark.parametrize("flag", ["--image", "--output", "--video", "--video --output", "--export", "--model", "--style", "--loss-log",
                                  "--checkpoints"])
def test_a_dash_or_an_empty_name_is_refused_as_no_file(tmp_path, model_dir, photo, flag, value):
    """'-' is standard input or output for one photo's --image and --output (tested below); for
    every other file or folder it is no name: --output - made a folder called '-' and --image -
    said "no such file" before stdin was read, and a video is probed and seeked, an MP4 finished
    by seeking back. An empty name ("$UNSET" in a script) was the current folder for --output
    and "': no such file" for --image. One line names the flag; nothing is written."""
    if value == "-" and flag in ("--image", "--output"):
        pytest.skip("a photo's --image - and --output - are standard input and output")
    argv = {"--model": ["--image", photo], "--style": ["--image", photo], "--loss-log": ["--style", photo, "--image", photo],
            "--video --output": ["--video", photo]}
    model = [] if flag in ("--model", "--style", "--loss-log") else ["--model", model_dir / "random.keras"]
    rest = argv.get(flag, ["--image", photo] if flag in ("--output", "--checkpoints") else [])
    flag = flag.split()[-1]
    result = run(*model, *rest, flag, value, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: " + NOT_A_NAME[value].format(flag=flag)
    assert not list(tmp_path.iterdir())


PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def run_piped(*args, stdin=b"", cwd=None, **options):
    """``eval.py`` with the bytes ``stdin`` on standard input; stdout comes back as bytes,
    stderr as text."""
    result = subprocess.run([sys.executable, EVAL, *map(str, args)], input=stdin, capture_output=True, cwd=cwd, timeout=600,
                            env={k: v for k, v in os.environ.items() if k != "TRANSFORMNET_CHECKPOINTS"}, **options)
    result.stderr = result.stderr.decode()
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_a_photo_piped_in_and_out_is_the_photo_stylized_and_nothing_else(tmp_path, model_dir, photo):
    """``cat photo.jpg | eval.py --model M --image - --output - > out.png``: standard output is
    one PNG of the same pixels a file output gets; the per-photo line goes to standard error,
    and nothing is written in the current folder."""
    model = model_dir / "random.keras"
    piped = run_piped("--model", model, "--image", "-", "--output", "-", stdin=photo.read_bytes(), cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith(PNG_SIGNATURE) and piped.stdout.endswith(PNG_END)  # one PNG, nothing around it
    assert piped.stderr.splitlines()[-1].startswith("<stdout>  (35x27, ")
    assert not list(tmp_path.iterdir())
    assert run("--model", model, "--image", photo, "--output", tmp_path / "file.png").returncode == 0
    with Image.open(io.BytesIO(piped.stdout)) as piped_image, Image.open(tmp_path / "file.png") as file_image:
        assert piped_image.size == (35, 27)
        assert np.array_equal(np.asarray(piped_image), np.asarray(file_image))


def test_a_photo_from_stdin_is_named_stdin(tmp_path, model_dir):
    """Without --output it is written as stdin_<model>.jpg; messages name it <stdin>, and the
    animated note does not suggest --video, which takes files only."""
    frames = [Image.new("RGB", (24, 18), (60 * i, 90, 0)) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = run_piped("--model", model_dir / "random.keras", "--image", "-", stdin=gif.getvalue(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: <stdin> is animated (3 frames): stylizing its first frame\n" in result.stderr
    assert result.stdout.decode().startswith("stdin_random.jpg  (24x18, ")
    with Image.open(tmp_path / "stdin_random.jpg") as image:
        assert image.size == (24, 18)


def test_stdin_and_stdout_that_cannot_work_are_one_line(tmp_path, model_dir, photo):
    """Several images for one standard output, an empty or non-image standard input, and a
    terminal on either side (it would wait on a person's keyboard, or fill their screen with
    binary) are each one line, before any model loads; nothing is written anywhere."""
    model = model_dir / "random.keras"
    cases = [
        (["--image", "-", photo, "--output", "-"], photo.read_bytes(), "--output -: standard output takes one image but 2 would be written"),
        (["--image", "-", "--output", tmp_path / "out.png"], b"", "<stdin>: empty (0 bytes)"),
        (["--image", "-", "--output", "-"], b"not a photo", "<stdin>: not an image file"),
    ]
    for argv, stdin, words in cases:
        result = run_piped("--model", model, *argv, stdin=stdin, cwd=tmp_path)
        assert result.returncode == 1 and result.stdout == b""
        assert result.stderr.startswith(f"error: {words}") and result.stderr.count("\n") == 1, result.stderr
    import pty

    leader, terminal = pty.openpty()
    try:
        for argv, streams, words in ((["--image", "-"], {"stdin": terminal}, "<stdin>: standard input is a terminal"),
                                     (["--image", photo, "--output", "-"], {"stdout": terminal}, "<stdout>: standard output is a terminal")):
            result = subprocess.run([sys.executable, EVAL, "--model", model, *map(str, argv)], cwd=tmp_path, timeout=60,
                                    **{"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, **streams}, stderr=subprocess.PIPE, text=True)
            assert result.returncode == 1 and result.stderr.startswith(f"error: {words}") and result.stderr.count("\n") == 1, result.stderr
    finally:
        os.close(terminal)
        os.close(leader)
    # A closed standard output (>&-) was a traceback ('NoneType' object has no attribute 'flush').
    closed = subprocess.run(f'"{sys.executable}" "{EVAL}" --model "{model}" --image "{photo}" --output - >&-', shell=True,
                            cwd=tmp_path, timeout=60, stderr=subprocess.PIPE, text=True)
    assert closed.returncode == 1 and closed.stderr == "error: <stdout>: standard output is closed; redirect it (> out.png) or give --output a file\n"
    assert not list(tmp_path.iterdir())


def test_the_slow_path_pipes_too(tmp_path, photo):
    result = run_piped("--style", photo, "--image", "-", "--output", "-", "--iterations", 1, stdin=photo.read_bytes(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(PNG_SIGNATURE) and result.stdout.endswith(PNG_END)
    assert result.stderr.splitlines()[-1].startswith("<stdout>  (35x27, adam, ")
    assert not list(tmp_path.iterdir())


def test_full_disk_is_one_line_keeps_old_files_and_stops_the_batch(tmp_path, model_dir):
    rng = np.random.default_rng(3)
    photos = []
    for name in ("a.png", "b.png"):
        photos.append(tmp_path / name)
        Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(photos[-1])
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_random.jpg").write_bytes(b"old result")
    result = run("--model", model_dir / "random.keras", "--image", *photos, "--output", out, "--force", "--quiet",
                 preexec_fn=file_size_limit(2_000))
    line = one_error_line(result, out / "a_random.jpg")
    assert "cannot write (File too large); stopped, 1 more photo not stylized" in line
    assert (out / "a_random.jpg").read_bytes() == b"old result"
    assert sorted(p.name for p in out.iterdir()) == ["a_random.jpg"]


def test_loss_log_is_planned_like_an_output(tmp_path, photo):
    log = tmp_path / "losses.csv"
    log.write_text("earlier run")
    result = run("--style", photo, "--image", photo, "--output", tmp_path / "o.jpg", "--loss-log", log, "--iterations", 1)
    assert "--force" in one_error_line(result, log)
    result = run("--style", photo, "--image", photo, "--output", tmp_path / "o.jpg", "--loss-log", photo, "--force")
    assert "would overwrite" in one_error_line(result, photo)
    assert log.read_text() == "earlier run" and not (tmp_path / "o.jpg").exists()
    for folder in (tmp_path, f"{tmp_path / 'new'}/"):  # a folder, or a new name ending in /: --force is no cure
        result = run("--style", photo, "--image", photo, "--output", tmp_path / "o.jpg", "--loss-log", folder, "--iterations", 1)
        assert "is a folder; the loss log is a file" in one_error_line(result, folder)


@pytest.mark.parametrize("flag,value", [("--learning-rate", -1), ("--style-weight", "nan"), ("--size", 8), ("--style-size", 3)])
def test_slow_path_flags_follow_the_trainers_rules(tmp_path, photo, flag, value):
    result = run("--style", photo, "--image", photo, "--output", tmp_path / "o.jpg", flag, value)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {flag} must be ") and result.stderr.count("\n") == 1


def test_offline_imagenet_download_is_one_line(tmp_path, photo):
    env = {"KERAS_HOME": str(tmp_path / "keras_home"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    result = run("--style", photo, "--image", photo, "--output", tmp_path / "o.jpg", "--vgg-weights", "imagenet", env=env)
    line = one_error_line(result, "imagenet")
    assert "could not download" in line and "TRANSFORMNET_VGG_WEIGHTS" in line


def test_a_photo_too_wide_for_its_output_format_is_one_line_before_the_work(tmp_path, model_dir, photo):
    """libjpeg stores at most 65,500 px a side: a wider stylized photo failed when written, after
    the work, with a traceback, and the photos after it were never stylized."""
    wide = tmp_path / "wide.png"
    Image.new("RGB", (65600, 8), "gray").save(wide)
    out = tmp_path / "out"
    result = run("--model", model_dir / "random.keras", "--image", wide, photo, "--output", out)
    line = one_error_line(result, out / "wide_random.jpg")
    assert line.endswith("65600x8 is beyond JPEG's 65,500 pixels a side; write .png or .tif, or downscale with --max-size 65500")
    assert sorted(p.name for p in out.iterdir()) == ["street_random.jpg"]


def test_an_icon_format_is_refused_as_an_output(tmp_path, model_dir, photo):
    """.ico/.icns encoders write icon sizes (at most 256 or 1024 px), not the photo's, while the
    success line reported the photo's size."""
    result = run("--model", model_dir / "random.keras", "--image", photo, "--output", tmp_path / "s.ico")
    assert "ICO stores icons of its own sizes, not the photo (use .png)" in one_error_line(result, tmp_path / "s.ico")
    assert not (tmp_path / "s.ico").exists()


def test_no_output_overwrites_the_vgg_weights_even_with_force(tmp_path, photo):
    """--loss-log (or --output) naming the --vgg-weights file replaced 15 MB of weights with a
    CSV under --force: every input is protected."""
    need(NPZ)
    weights = tmp_path / "vgg.npz"
    weights.write_bytes(NPZ.read_bytes())
    common = ["--style", photo, "--image", photo, "--vgg-weights", weights, "--iterations", 1, "--size", 16, "--force"]
    log = run(*common, "--loss-log", weights)
    assert "would overwrite" in one_error_line(log, weights)
    assert weights.read_bytes() == NPZ.read_bytes()


def test_a_broken_exif_block_reads_quietly(tmp_path, model_dir):
    """PIL printed its raw "Truncated File Read"/"Corrupt EXIF data" warnings (twice, naming no
    photo) for a broken EXIF block; the photo reads as it is (no orientation to apply)."""
    bad = tmp_path / "exif.jpg"
    Image.new("RGB", (40, 30), "red").save(bad, exif=b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x0f\0\x02\0\0\0\x10\0\0\0\x50")
    result = run("--model", model_dir / "random.keras", "--image", bad, "--output", tmp_path / "o.png", env={"PYTHONWARNINGS": "always::UserWarning"})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert Image.open(tmp_path / "o.png").size == (40, 30)


def test_an_export_target_is_checked_before_tensorflow_loads(tmp_path, model_dir, monkeypatch, capsys):
    """An existing target took seconds (TensorFlow and the model loaded) to be refused, and a
    file given as the folder was reported as '<file>/.tmp-export', a name the user never gave."""
    from transformnet import cli

    monkeypatch.setattr(cli, "load_keras", lambda: pytest.fail("Keras loaded before the export target was checked"))
    (tmp_path / "random.onnx").write_text("mine")
    assert cli.main(["--model", str(model_dir / "random.keras"), "--export", str(tmp_path), "--format", "onnx"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'random.onnx'}: already exists (use --force to overwrite)"
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["--model", str(model_dir / "random.keras"), "--export", str(afile), "--format", "onnx"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {afile / 'random.onnx'}: cannot write: {afile} is a file, not a folder"


def test_a_stdin_too_large_for_memory_is_named_not_blamed_on_the_model(tmp_path, model_dir, monkeypatch, capsys):
    """Out of memory while reading standard input printed the model's out-of-memory line."""
    import io
    import types

    from transformnet import cli

    class Endless(io.BytesIO):
        def read(self, *args):
            raise MemoryError

    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=Endless(), isatty=lambda: False))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--model", str(model_dir / "random.keras"), "--image", "-"]) == 1
    assert capsys.readouterr().err == "error: <stdin>: not enough memory to read what was piped in\n"
    assert not list(tmp_path.iterdir())


def test_a_ctrl_c_that_python_swallows_still_stops_eval(monkeypatch, capsys):
    """JAX, which TensorFlow's converters import, registers a garbage-collector callback, and
    Python swallows an exception raised inside one: a Ctrl-C landing there printed "Exception
    ignored in ... _xla_gc_callback" with a traceback, and the job went on to exit 0."""
    import gc
    import signal

    from transformnet import cli

    def job(args):
        def callback(phase, info):
            gc.callbacks.remove(callback)
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, inside the callback
                pass

        gc.callbacks.append(callback)
        gc.collect()
        return cli.EXIT_OK

    monkeypatch.setattr(cli, "run_fast", job)
    assert cli.main(["--model", "m.keras", "--image", "p.jpg", "--quiet"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


ODD_SHAPES = {"transformnet.json": "not a readable .keras model file (transformnet.json is not transformnet's metadata)",
              "metadata.json": "not a Keras model file (its metadata.json is not a JSON object)"}


@pytest.mark.parametrize("member, content", [("transformnet.json", b"[1, 2]"), ("transformnet.json", b'"hello"'),
                                             ("transformnet.json", b'{"settings": "x"}'), ("metadata.json", b"[1]")])
def test_info_on_metadata_of_another_shape_is_one_line(tmp_path, capsys, model_dir, member, content):
    """Valid JSON that is not an object where one is read (another tool's member of that name, a
    hand edit) ended --info and train.py --config with an AttributeError traceback."""
    from transformnet import cli
    from transformnet.settings import TrainingError, read_settings_file

    model = tmp_path / "odd.keras"  # a good transform net but for that member
    with zipfile.ZipFile(model_dir / "random.keras") as good, zipfile.ZipFile(model, "w") as archive:
        for name in good.namelist():
            if name != member:
                archive.writestr(name, good.read(name))
        archive.writestr(member, content)
    assert cli.main(["--info", str(model)]) == 1
    assert capsys.readouterr().err == f"error: {model}: {ODD_SHAPES[member]}\n"
    if member == "transformnet.json":
        with pytest.raises(TrainingError, match="transformnet.json is not transformnet's metadata"):
            read_settings_file(str(model))


def test_a_loss_log_that_cannot_be_written_does_not_hide_the_image_written(tmp_path, photo, monkeypatch, capsys):
    """A full disk at the --loss-log printed only the log's error, so the image written just
    before read as lost; its line comes first now."""
    import errno

    from transformnet import cli
    from transformnet.files import WriteError

    need(STARRY)

    def full_disk(path, rows, force):
        raise WriteError(f"{path}: cannot write (No space left on device)", errno.ENOSPC)

    monkeypatch.setattr(cli, "_write_loss_log", full_disk)
    status = cli.main(["--style", str(STARRY), "--image", str(photo), "--size", "32", "--iterations", "2", "--quiet",
                       "--vgg-weights", str(need(NPZ)), "--output", str(tmp_path / "o.jpg"), "--loss-log", str(tmp_path / "l.csv")])
    out, err = capsys.readouterr()
    assert status == 1 and (tmp_path / "o.jpg").is_file()
    assert out.startswith(f"{tmp_path / 'o.jpg'}  (32x") and "the image kept" in out
    assert err.splitlines()[-1] == f"error: {tmp_path / 'l.csv'}: cannot write (No space left on device)"
