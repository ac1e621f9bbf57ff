"""Image I/O: awkward files are converted or rejected with one clear line (no Keras needed)."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from images_factory import bad_inputs, good_inputs, header_png
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
        ("directory", "is a folder"),
        ("zero_byte", "empty"),
        ("text", "not an image"),
        ("truncated", "truncated"),
        ("bomb", "image too large for this machine: decoding 1000000x1000000 pixels needs about"),
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


def test_a_photo_over_pils_limit_is_refused_only_for_memory(tmp_path, monkeypatch):
    """PIL refuses over 2 x MAX_IMAGE_PIXELS (179 MP) although tiling stylizes any size: a 200 MP
    panorama is read where its decode fits in the memory left, refused in one line where it does
    not, and PIL's limit stands where the memory cannot be known (not Linux)."""
    from transformnet import memory

    pano = tmp_path / "pano.png"
    header_png(pano, 20000, 10000)
    assert probe_image(pano) == (20000, 10000)
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**9)
    with pytest.raises(ImageError) as info:
        probe_image(pano)
    assert str(info.value) == (f"{pano}: image too large for this machine: decoding 20000x10000 pixels needs about 3.0 GB "
                               "of memory, 1.0 GB is available")
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    with pytest.raises(ImageError, match="over PIL's 178,956,970-pixel decompression-bomb limit"):
        probe_image(pano)


def test_a_photo_within_pils_limit_is_never_weighed_against_memory(tmp_path, monkeypatch):
    """The training loader decodes a 24 MP JPEG at 1/8 scale: its full-size estimate refused it
    with 300 MB left, and a container's page cache could mark a whole folder unreadable."""
    from transformnet import memory
    from transformnet.data import decode_photo

    asked = []
    monkeypatch.setattr(memory, "available_bytes", lambda: asked.append(1) or 1000)
    photo = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (90, 120, 150)).save(photo)
    assert decode_photo(photo, 256).shape == (256, 384, 3) and asked == []


def test_the_too_large_line_never_reads_the_need_as_the_memory_left():
    from transformnet import memory

    with pytest.raises(memory.HostMemoryError, match="needs about 24.1 GB of memory, 24.0 GB is available"):
        memory.decoding(40000, 40020, 15, 24_005_000_000)  # 24.012 GB in 24.005


def test_pils_limit_is_lifted_for_this_read_alone(tmp_path):
    """PIL's MAX_IMAGE_PIXELS is the whole process's, the Python API's callers' too, and the
    training loader reads in threads: while one thread reads a 200 MP photo, another thread's own
    Image.open still meets PIL's limit, and the global is never changed."""
    import threading

    from transformnet.images import _read

    pano = tmp_path / "pano.png"
    header_png(pano, 20000, 10000)
    limit = Image.MAX_IMAGE_PIXELS
    inside, done, seen = threading.Event(), threading.Event(), {}

    def held_open(image):  # the read stays open until the other thread has tried
        inside.set()
        assert done.wait(30)
        return image.size

    def other_thread():
        assert inside.wait(30)
        try:
            Image.open(pano)
            seen["other"] = "opened"
        except Image.DecompressionBombError:
            seen["other"] = "refused"
        seen["limit"] = Image.MAX_IMAGE_PIXELS
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert _read(pano, held_open) == (20000, 10000)
    finally:
        inside.set()
        done.set()
        thread.join()
    assert seen == {"other": "refused", "limit": limit} and Image.MAX_IMAGE_PIXELS == limit
    with pytest.raises(Image.DecompressionBombError):
        Image.open(pano)


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
    save_image(target, np.full((8, 6, 3), 100.4, np.float32), replace=False)
    assert load_image(target).shape == (8, 6, 3)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]
    assert (target.stat().st_mode & 0o777) != 0o600  # not mkstemp's private mode
    with pytest.raises(ImageError, match="unknown image format"):
        save_image(tmp_path / "x.foo", np.zeros((2, 2, 3), np.uint8), replace=False)


# --- issue 9: every pixel format has a rule -------------------------------------------------------
MID = 128


def _mid_gray(mode, size=(6, 4)):
    """A uniform image in ``mode`` that every rule should load as RGB (128, 128, 128)."""
    if mode == "F":
        return Image.fromarray(np.full(size[::-1], MID / 255, np.float32), "F")
    if mode in ("I;16", "I;16B", "I"):
        array = np.full(size[::-1], MID * 257, {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode])
        return Image.frombytes(mode if mode != "I" else "I", size, array.tobytes())
    if mode == "CMYK":
        return Image.new("CMYK", size, (0, 0, 0, 255 - MID))
    if mode == "1":
        return Image.new("1", size, 1)  # white: bilevel has no mid gray
    if mode in ("P", "PA"):
        return Image.new("RGB", size, (MID,) * 3).convert("P", palette=Image.Palette.ADAPTIVE).convert(mode)
    return Image.new("RGB", size, (MID,) * 3).convert(mode)


@pytest.mark.parametrize(
    "mode,suffix",
    [("1", ".png"), ("L", ".png"), ("LA", ".png"), ("P", ".png"), ("PA", ".tif"), ("RGB", ".png"), ("RGBA", ".png"),
     ("CMYK", ".tif"), ("YCbCr", ".tif"), ("LAB", ".tif"), ("I;16", ".png"), ("I;16B", ".tif"), ("I", ".tif"),
     ("F", ".tif")],
)
def test_every_mode_a_photo_can_arrive_in_has_a_rule(tmp_path, mode, suffix):
    path = tmp_path / f"mid{suffix}"
    image = _mid_gray(mode)
    image.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == mode  # the file really holds that mode
    loaded = load_image(path)
    assert loaded.shape == (4, 6, 3) and loaded.dtype == np.uint8
    expected = 255 if mode == "1" else MID  # bilevel: 128 is white
    assert np.abs(loaded.astype(int) - expected).max() <= 2, (mode, loaded[0, 0])


def test_float_tiff_is_read_as_0_to_1_not_black(tmp_path):
    ramp = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    Image.fromarray(ramp, "F").save(tmp_path / "float.tif")
    loaded = load_image(tmp_path / "float.tif")
    np.testing.assert_allclose(loaded[..., 0], np.round(ramp * 255), atol=1)
    assert (loaded[..., 0] == loaded[..., 2]).all()


@pytest.mark.parametrize("values,words", [([0.0, 4.0], "range 0..4"), ([0.0, np.nan], "NaN")])
def test_float_pixels_without_a_defined_range_are_refused(tmp_path, values, words):
    array = np.resize(np.array(values, np.float32), (8, 8))
    Image.fromarray(array, "F").save(tmp_path / "hdr.tif")
    with pytest.raises(ImageError, match=words) as info:
        load_image(tmp_path / "hdr.tif")
    assert str(info.value).startswith(f"{tmp_path / 'hdr.tif'}: ")


def test_dark_sixteen_bit_photo_stays_dark(tmp_path):
    """16-bit means 0..65535 whatever the image holds: values up to 200 are nearly black."""
    array = np.random.default_rng(0).integers(0, 201, (20, 30)).astype(np.uint16)
    Image.fromarray(array).save(tmp_path / "dark16.png")
    assert load_image(tmp_path / "dark16.png").max() <= 1


def test_thirty_two_bit_integers_beyond_sixteen_bits_are_refused(tmp_path):
    Image.fromarray(np.full((8, 8), 1 << 20, np.int32)).save(tmp_path / "big.tif")
    with pytest.raises(ImageError, match="32-bit integer pixels range"):
        load_image(tmp_path / "big.tif")


def test_transparent_gray_and_palette_are_composited_on_white(tmp_path):
    Image.new("LA", (4, 4), (0, 0)).save(tmp_path / "la.png")
    Image.new("PA", (4, 4), (0, 0)).save(tmp_path / "pa.tif")
    for name in ("la.png", "pa.tif"):
        assert (load_image(tmp_path / name) == 255).all(), name


def test_a_mode_without_a_rule_is_refused_by_name():
    from transformnet.images import to_srgb

    with pytest.raises(ImageError, match=r"^photo.x: unsupported pixel format \(PIL mode HSV\)$"):
        to_srgb(Image.new("HSV", (2, 2)), "photo.x")


# --- issue 9: colour management -------------------------------------------------------------------
COLOURS = np.array([[200, 150, 100], [100, 180, 90], [90, 120, 200], [128, 128, 128]], np.uint8)


def _p3_reference(colours):
    from images_factory import P3_PRIMARIES, SRGB_PRIMARIES, rgb_to_xyz, srgb_decode, srgb_encode

    matrix = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(P3_PRIMARIES)
    return srgb_encode(srgb_decode(colours) @ matrix.T)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_display_p3_photo_is_converted_to_srgb(tmp_path, suffix):
    from images_factory import P3_PRIMARIES, icc_profile

    pixels = np.repeat(np.repeat(COLOURS[None], 8, axis=0), 8, axis=1)  # 8x8 blocks survive JPEG
    path = tmp_path / f"phone{suffix}"
    Image.fromarray(pixels).save(path, icc_profile=icc_profile(P3_PRIMARIES), **({"quality": 100} if suffix == ".jpg" else {}))
    loaded = load_image(path)[4, 4::8].astype(float)  # block centres
    stored = np.asarray(Image.open(path).convert("RGB"))[4, 4::8].astype(float)
    expected = _p3_reference(stored)
    assert np.abs(loaded - expected).max() <= 1.5, (loaded, expected)
    assert np.abs(expected - stored).max() > 20  # read as sRGB, the colours would be this far off


def test_unusable_profile_is_read_as_srgb(tmp_path):
    pixels = np.repeat(COLOURS[None], 2, axis=0)
    Image.fromarray(pixels).save(tmp_path / "junk.png", icc_profile=b"not an ICC profile at all")
    np.testing.assert_array_equal(load_image(tmp_path / "junk.png"), pixels)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp"])
def test_outputs_are_tagged_srgb_and_read_back_unchanged(tmp_path, suffix):
    import io

    from PIL import ImageCms

    pixels = np.repeat(np.repeat(COLOURS[None], 8, axis=0), 8, axis=1)
    save_image(tmp_path / f"out{suffix}", pixels, replace=False)
    with Image.open(tmp_path / f"out{suffix}") as image:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    if suffix in (".png", ".tif"):
        np.testing.assert_array_equal(load_image(tmp_path / f"out{suffix}"), pixels)


def test_one_image_saved_by_two_runs_is_the_same_file(tmp_path):
    """The embedded sRGB profile carried the second it was made: two runs on one photo differed."""
    import subprocess
    import sys
    import time

    from conftest import ROOT

    code = "import sys, numpy as np; from transformnet.images import save_image; save_image(sys.argv[1], np.full((8, 8, 3), 90, np.uint8), replace=False)"
    for name in ("a.png", "b.png"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], cwd=ROOT, check=True)
        time.sleep(1.1)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_max_size_never_makes_a_side_thinner_than_a_photo_may_be():
    """--max-size 100 on a 3x500 strip wrote a 1x100 image, which --image refuses as input."""
    from transformnet.images import MIN_SIDE, resize_to_max_side

    strip = np.zeros((3, 500, 3), np.uint8)
    assert resize_to_max_side(strip, 100).shape == (MIN_SIDE, 100, 3)
    assert resize_to_max_side(strip[:1, :, :], 100).shape == (1, 100, 3)  # never taller than it was


def _phone_photo():
    array = np.zeros((40, 60, 3), np.uint8)
    array[:, :30], array[:, 30:] = (200, 30, 30), (30, 30, 200)
    return array


@pytest.mark.parametrize("suffix", [".HEIC", ".avif"])
def test_heic_and_avif_photos_are_read_and_found_in_folders(tmp_path, suffix):
    """iPhones save HEIC (read through the [heif] extra, pillow-heif), AVIF is PIL's own; a
    folder of them is a folder of photos."""
    import transformnet.images as images
    from transformnet.pipeline import expand_images

    if suffix == ".HEIC" and not images.heif_reader():
        pytest.skip("pillow-heif (the [heif] extra) is not installed")
    if suffix == ".avif" and not __import__("PIL.features").features.check("avif"):
        pytest.skip("this Pillow reads no AVIF")
    path = tmp_path / f"IMG_0001{suffix}"
    Image.fromarray(_phone_photo()).save(path, quality=95)
    assert probe_image(path) == (60, 40)
    loaded = load_image(path).astype(int)
    assert np.abs(loaded[:, 2:28] - (200, 30, 30)).mean() < 12 and np.abs(loaded[:, 32:58] - (30, 30, 200)).mean() < 12
    assert expand_images([str(tmp_path)])[0] == [str(path)]
    # An output may be one too; before any photo is read (a fresh process), as after.
    code = f"from transformnet.images import output_format; print(output_format('out{suffix}'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() in ("HEIF", "AVIF"), done.stderr


def test_a_heic_photo_without_the_extra_says_what_to_install(tmp_path):
    """Without pillow-heif PIL cannot identify HEIC: the line says what it is and what to install."""
    photo = tmp_path / "IMG_0002.HEIC"
    photo.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64))  # the header an iPhone writes
    script = ("import sys; sys.modules['pillow_heif'] = None\n"
              "from transformnet.images import ImageError, load_image\n"
              f"try: load_image({str(photo)!r})\n"
              "except ImageError as error: print(error)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == (f"{photo}: a HEIC/HEIF photo; reading it needs pillow-heif, which comes with the "
                                   '[heif] extra: pip install "transformnet[heif]"'), done.stderr
