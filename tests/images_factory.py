"""Builds the awkward input files of issue item 8 in a folder (shared by image and CLI tests)."""

import struct
import zlib

import numpy as np
from PIL import Image


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def header_png(path, width, height):
    """A tiny PNG whose header claims width x height gray pixels; its data ends after 64 bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def medium_format_png(path, width=12000, height=8400):
    """A real, decodable photo, by default of 100.8 MP (over PIL's 89.5 MP warning): the size of a
    medium-format camera's or a phone's full-resolution photo. Flat gray, so small."""
    Image.new("L", (width, height), 128).save(path, compress_level=1)
    return path


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
    cases["bomb"] = folder / "bomb.png"  # a trillion pixels: no machine has the memory to decode it
    header_png(cases["bomb"], 1_000_000, 1_000_000)
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


SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
D65 = (0.3127, 0.3290)


def srgb_decode(encoded):
    """sRGB (and Display P3) tone curve: 0..255 -> linear 0..1."""
    c = np.asarray(encoded, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_encode(linear):
    c = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def rgb_to_xyz(primaries, white=D65):
    """3x3 matrix: linear RGB of these primaries -> CIE XYZ (white has Y = 1)."""

    def xyz(x, y):
        return np.array([x / y, 1.0, (1 - x - y) / y])

    columns = np.stack([xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, xyz(*white))


def icc_profile(primaries, description="Display P3 (transformnet test)"):
    """Bytes of a minimal ICC v2 RGB display profile: these primaries, D65 white, the sRGB tone
    curve (Display P3 is exactly that). Colorants are Bradford-adapted to the D50 connection space
    as the ICC requires. Built here because no profile file may be shipped or downloaded."""
    bradford = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
    d50 = np.array([0.9642, 1.0, 0.8249])
    d65 = rgb_to_xyz(primaries) @ np.ones(3)
    adapt = np.linalg.inv(bradford) @ np.diag((bradford @ d50) / (bradford @ d65)) @ bradford
    colorants = adapt @ rgb_to_xyz(primaries)

    def s15(values):
        return b"".join(struct.pack(">i", int(round(v * 65536))) for v in values)

    def xyz_tag(values):
        return b"XYZ " + b"\0" * 4 + s15(values)

    text = description.encode("ascii") + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    table = np.round(65535 * srgb_decode(np.linspace(0, 255, 1024))).astype(">u2").tobytes()
    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1024) + table
    tags = [(b"desc", desc), (b"wtpt", xyz_tag(d50)), (b"rXYZ", xyz_tag(colorants[:, 0])),
            (b"gXYZ", xyz_tag(colorants[:, 1])), (b"bXYZ", xyz_tag(colorants[:, 2])),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text" + b"\0" * 4 + b"public domain\0")]
    offset = 128 + 4 + 12 * len(tags)
    directory, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        directory += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
              + b"\0" * 28 + s15(d50) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + directory + body
