"""Image I/O: awkward files are converted or rejected with one clear line (no Keras needed)."""

import numpy as np
import pytest
from PIL import Image

from images_factory import bad_inputs, good_inputs
from transformnet.images import ImageError, load_image, probe_image, save_image


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return good_inputs(tmp_path_factory.mktemp("good"))


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing", "no such file"),
        ("directory", "directory"),
        ("zero_byte", "empty"),
        ("text", "not an image"),
        ("truncated", "truncated"),
        ("bomb", "decompression"),
        ("one_pixel", "1x1"),
    ],
)
def test_bad_inputs_raise_one_line_naming_the_file(bad, case, words):
    path = bad[case]
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert words in message
    assert "\n" not in message


def test_probe_finds_all_but_truncation_cheaply(bad):
    for case, path in bad.items():
        if case == "truncated":
            assert probe_image(path) == (128, 96)
        else:
            with pytest.raises(ImageError):
                probe_image(path)


def test_good_inputs_become_8bit_rgb(good):
    for name, (path, (width, height)) in good.items():
        array = load_image(path)
        assert array.shape == (height, width, 3), name
        assert array.dtype == np.uint8, name
        assert probe_image(path) == (width, height), name


def test_sixteen_bit_is_scaled_not_clipped(good):
    path, _ = good["gray16"]
    source = np.asarray(Image.open(path), dtype=np.float64) / 257.0
    loaded = load_image(path)[..., 0].astype(np.float64)
    assert np.abs(loaded - source).max() <= 1.0
    assert loaded.max() > 200  # clipping 16-bit values at 255 would give a white image...
    assert loaded.std() > 30  # ...with no contrast


def test_rgba_is_composited_on_white(tmp_path):
    clear = np.zeros((4, 4, 4), np.uint8)
    Image.fromarray(clear).save(tmp_path / "clear.png")
    assert (load_image(tmp_path / "clear.png") == 255).all()


def test_exif_rotation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the white half ends up on top
    Image.fromarray(pixels).save(tmp_path / "r.png", exif=exif.tobytes())
    loaded = load_image(tmp_path / "r.png")
    assert loaded.shape == (40, 20, 3)
    assert loaded[:20].mean() > 200 and loaded[20:].mean() < 50


def test_save_is_atomic_and_readable(tmp_path):
    target = tmp_path / "out" / "x.jpg"
    save_image(target, np.full((8, 6, 3), 100.4, np.float32))
    assert load_image(target).shape == (8, 6, 3)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]
    assert (target.stat().st_mode & 0o777) != 0o600  # not mkstemp's private mode
    with pytest.raises(ImageError, match="unknown image format"):
        save_image(tmp_path / "x.foo", np.zeros((2, 2, 3), np.uint8))
