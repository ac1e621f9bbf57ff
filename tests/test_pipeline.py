"""Which files --image means, and the per-photo pipeline."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

from transformnet import pipeline
from transformnet.network import build_transform_net


def _touch_image(path, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(path)
    return str(path)


def test_files_folders_and_globs(tmp_path):
    a = _touch_image(tmp_path / "shoot" / "b.jpg")
    b = _touch_image(tmp_path / "shoot" / "a.PNG")
    (tmp_path / "shoot" / "notes.txt").write_text("x")
    (tmp_path / "shoot" / "sub").mkdir()
    c = _touch_image(tmp_path / "other" / "c.png")
    d = _touch_image(tmp_path / "other" / "deep" / "d.jpg")
    (tmp_path / "empty").mkdir()
    specs = [a, tmp_path / "shoot", str(tmp_path / "other" / "*.png"), str(tmp_path / "other" / "**" / "*.jpg"),
             tmp_path / "empty", str(tmp_path / "none" / "*.jpg"), tmp_path / "missing.jpg",
             a, str(tmp_path / "shoot" / "." / "a.PNG")]  # named again: listed once
    paths, problems, notes, _ = pipeline.expand_images(specs)
    # Folder contents sorted by name; a file is listed once, at its first mention.
    assert paths == [a, b, c, d, str(tmp_path / "missing.jpg")]
    assert len(problems) == 2
    assert "empty: folder has no image files" in problems[0]
    assert "no files match" in problems[1]


def test_options_check():
    assert pipeline.Options().check() is None
    assert "--strength" in pipeline.Options(strength=1.5).check()
    assert "--tile" in pipeline.Options(tile=10).check()
    assert "--max-size" in pipeline.Options(max_size=1).check()
    assert "--precision" in pipeline.Options(precision="int4").check()


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(4)
    return build_transform_net(width=0.25)


def test_stylize_photo_options(model):
    photo = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    full = pipeline.stylize_photo(model, photo)
    assert full.shape == photo.shape and full.dtype == np.uint8
    np.testing.assert_array_equal(pipeline.stylize_photo(model, photo, pipeline.Options(strength=0.0)), photo)
    small = pipeline.stylize_photo(model, photo, pipeline.Options(max_size=35))
    assert small.shape == (25, 35, 3)
    # Tiled == untiled to rounding in float32 (bfloat16 rounds the two norm variants differently).
    exact = pipeline.Options(precision="float32")
    untiled = pipeline.stylize_photo(model, photo, exact)
    tiled = pipeline.stylize_photo(model, photo, pipeline.Options(tile=64, precision="float32"))
    assert np.abs(tiled.astype(int) - untiled.astype(int)).max() <= 1


def test_subfolders_are_named_never_skipped_silently_and_patterns_keep_photos(tmp_path):
    shoot = tmp_path / "shoot"
    a = _touch_image(shoot / "a.jpg")
    b = _touch_image(shoot / "day1" / "b.jpg")
    c = _touch_image(shoot / "day2" / "deep" / "c.png")
    _touch_image(shoot / ".cache" / "d.jpg")  # hidden: neither named nor matched
    (shoot / "empty").mkdir()
    (shoot / "sidecars").mkdir()
    (shoot / "sidecars" / "a.xmp").write_text("<x/>")
    only = tmp_path / "only"
    _touch_image(only / "sub" / "e.jpg")

    paths, problems, notes, folders = pipeline.expand_images([shoot])
    assert paths == [a] and problems == []
    assert notes == [f"{shoot}: subfolders not entered: day1/, day2/ ('{shoot}/**/*' takes every level)"]
    paths, problems, notes, _ = pipeline.expand_images([only])
    assert paths == [] and notes == []
    assert problems == [f"{only}: folder has no image files; subfolders not entered: sub/ ('{only}/**/*' takes every level)"]
    # The pattern the note gives takes every level, photos only.
    paths, problems, _, folders = pipeline.expand_images([str(shoot / "**" / "*")])
    assert paths == [a, b, c] and problems == []
    assert folders == {b: "day1", c: os.path.join("day2", "deep")}  # the outputs keep the shoot's folders
    _, problems, _, _ = pipeline.expand_images([str(shoot / "sidecars" / "*")])
    assert problems == [f"{shoot / 'sidecars' / '*'}: matches 1 file, none an image file"]


def test_a_pattern_keeps_the_folders_below_its_fixed_part(tmp_path, monkeypatch):
    """``'*/*.jpg'`` from the shoot, and an absolute ``.../shoot/*/x/*``, give the folders their
    wildcards walked; a plain ``'*.jpg'`` gives none, so its outputs stay side by side."""
    a = _touch_image(tmp_path / "day1" / "x" / "a.jpg")
    b = _touch_image(tmp_path / "day2" / "x" / "a.jpg")
    top = _touch_image(tmp_path / "top.jpg")
    monkeypatch.chdir(tmp_path)
    paths, _, _, folders = pipeline.expand_images([os.path.join("*", "x", "*.jpg"), "*.jpg"])
    assert paths == [os.path.relpath(a), os.path.relpath(b), "top.jpg"]
    assert folders == {os.path.relpath(a): os.path.join("day1", "x"), os.path.relpath(b): os.path.join("day2", "x")}
    _, _, _, folders = pipeline.expand_images([str(tmp_path / "day*" / "x" / "*")])
    assert folders == {a: os.path.join("day1", "x"), b: os.path.join("day2", "x")} and top not in folders
