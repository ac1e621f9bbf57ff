"""Builds the awkward input files of issue item 8 in a folder (shared by image and CLI tests)."""

import struct
import zlib

import numpy as np
from PIL import Image


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _bomb_png(path, width=20000, height=20000):
    """A tiny PNG whose header claims width x height pixels (over PIL's bomb limit)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def bad_inputs(folder):
    """``{case: path}`` of inputs that must give one ``error:`` line naming the file."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {"missing": folder / "missing.jpg"}
    cases["directory"] = folder / "a_folder.jpg"
    cases["directory"].mkdir(exist_ok=True)
    cases["zero_byte"] = folder / "empty.jpg"
    cases["zero_byte"].write_bytes(b"")
    cases["text"] = folder / "notes.jpg"
    cases["text"].write_text("this is a text file, not a JPEG\n")
    full = folder / "full.jpg"
    Image.fromarray(_noise(96, 128)).save(full, quality=95)
    cases["truncated"] = folder / "truncated.jpg"
    cases["truncated"].write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    cases["bomb"] = folder / "bomb.png"
    _bomb_png(cases["bomb"])
    cases["one_pixel"] = folder / "one_pixel.png"
    Image.fromarray(_noise(1, 1)).save(cases["one_pixel"])
    return cases


def good_inputs(folder):
    """``{case: (path, (width, height) expected after loading)}`` of inputs that must work."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = _noise(30, 40)
    cases = {}

    def add(name, image, size=(40, 30), **save):
        path = folder / name
        image.save(path, **save)
        cases[path.stem] = (path, size)

    add("gray.jpg", Image.fromarray(rgb[..., 0]))
    rgba = np.dstack([rgb, np.full((30, 40), 128, np.uint8)])
    add("rgba.png", Image.fromarray(rgba))
    add("palette.png", Image.fromarray(rgb).convert("P"))
    pal_t = Image.fromarray(rgb).convert("P")
    pal_t.info["transparency"] = 0
    add("palette_transparent.png", pal_t, transparency=0)
    add("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"))
    add("gray16.png", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    add("rotated.jpg", Image.fromarray(rgb), size=(30, 40), exif=exif.tobytes())
    add("tiny.png", Image.fromarray(_noise(2, 2)), size=(2, 2))
    add("odd.jpg", Image.fromarray(_noise(37, 51)), size=(51, 37))
    return cases
