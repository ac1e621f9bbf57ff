"""Reading and writing images: every problem becomes one ``ImageError`` naming the file.

Photos are returned as ``uint8`` arrays (H, W, 3) in sRGB, after applying the EXIF orientation
(phones store rotated pixels plus a tag). Every pixel format a photo can arrive in has one rule:

- 8-bit gray, bilevel, palette, YCbCr, RGBX: converted to RGB (gray becomes R = G = B).
- 16-bit (``I;16*``, and ``I``, where PNG/TIFF/PGM put 16-bit gray): the full 0..65535 range
  maps to 0..255 (divided by 257), whatever the image holds, so a dark photo stays dark. ``I``
  values outside 0..65535 are refused.
- 32-bit float (``F``, float TIFFs): 0..1 is black..white, the convention of float image files;
  negative values are clipped to black; values above 1 (HDR radiance, or 0..255 data) and NaN
  are refused, since any guess at their range would be wrong for someone.
- Transparency (RGBA, LA, PA, premultiplied RGBa, a palette or colour key with a transparent
  entry): composited on white, as a photo printed on paper.
- CMYK and CIE Lab: converted to RGB through their ICC profile if they carry one, else with
  PIL's standard formulas.
- Anything else (PIL's HSV, premultiplied La, ...) is refused by name.

Colour: an embedded ICC profile (Adobe RGB and ProPhoto from cameras and editors, Display P3
from phones) is converted to sRGB with LittleCMS (PIL's ``ImageCms``), relative colorimetric
with black-point compensation, the default of photo editors. Untagged images are taken as sRGB,
as browsers do; so is an image whose profile is unreadable or does not match its pixels. Every
image written carries the sRGB profile, so colour-managed viewers show what the network made.

HEIC/HEIF (iPhones' default since 2017) is read through pillow-heif, the ``[heif]`` extra, which
registers itself with PIL (libheif applies the photo's rotation); without it such a photo is one
line saying what to install. AVIF is PIL's own.

Writes are atomic (``files.atomic_write``) and the encoded file is built in memory first: PIL's
JPEG writer ignores a failing disk write and would leave a silently truncated file.
"""

import contextlib
import contextvars
import functools
import io
import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from . import memory
from .files import atomic_write, read_problem

EXIF_ORIENTATION = 0x0112

MIN_SIDE = 2
"""Smallest accepted side: a 1-pixel image has no spatial structure to stylise (and breaks
reflection padding)."""

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
READABLE_MODES = SIXTEEN_BIT + ("F", "1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "YCbCr", "CMYK", "LAB")
"""Every PIL mode with a rule above; others are refused before decoding."""

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm")
"""The files a folder of photos contributes, to eval.py and to train.py alike; anything else in
it (sidecars, .xmp, videos) is left alone."""

JPEG_QUALITY = 95
"""JPEG quality 95 keeps brush strokes, files stay small."""


class ImageError(ValueError):
    """An input image that cannot be used; ``str()`` is one line naming the file and the problem."""


class Encoded(io.BytesIO):
    """An image file's bytes held in memory, for a photo that is no file (``eval.py --image -``
    reads standard input): every reader here takes it where it takes a path, and messages name
    it ``name`` (``<stdin>``). In memory because a photo is read more than once (checked, then
    decoded) and a pipe cannot be read twice."""

    def __init__(self, data, name):
        super().__init__(data)
        self.name = name

    def __str__(self):
        return self.name


def _source(path):
    """A reader's argument as PIL opens it: an ``Encoded`` rewound, else the path as a string."""
    if isinstance(path, Encoded):
        path.seek(0)
        return path
    return os.fspath(path)


def _scaled_to_gray(image, path, top, what):
    """16-bit or float gray -> 8-bit ``L``, ``top`` being white (see the module docstring)."""
    array = np.asarray(image, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ImageError(f"{path}: {what} pixels include NaN or infinity")
    if image.mode == "F":
        array = np.maximum(array, 0.0)
    low, high = float(array.min()), float(array.max())
    if high > top or low < 0:
        raise ImageError(
            f"{path}: {what} pixels range {low:g}..{high:g}, outside the defined 0..{top:g}; "
            "save the image with 8 or 16 bits per channel"
        )
    return Image.fromarray(np.clip(array * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), mode="L")


@functools.lru_cache(maxsize=1)
def srgb_icc():
    """LittleCMS' built-in sRGB profile (588 bytes), as the bytes every written image embeds.

    LittleCMS stamps the profile's header with the time it was made (ICC header bytes 24..35);
    a fixed date instead makes stylizing one photo twice give the same file, byte for byte.
    The header's profile ID (an MD5 that would cover the date) is left unset by LittleCMS."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[24:36] = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
    return bytes(icc)


@functools.lru_cache(maxsize=1)
def srgb_profile():
    """``srgb_icc`` as a profile for colour transforms (built once: every photo with an ICC
    profile is converted to it)."""
    return ImageCms.ImageCmsProfile(io.BytesIO(srgb_icc()))


def _from_profile(image, icc):
    """``image`` converted from its embedded ICC profile to sRGB RGB, or None if the profile is
    unreadable or does not fit the pixels (then the image is taken as sRGB, as browsers do)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(
            source, srgb_profile(), image.mode, "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
        return ImageCms.applyTransform(image, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def to_srgb(image, path):
    """A decoded PIL image of any supported mode -> 8-bit sRGB ``RGB`` image (module docstring)."""
    icc = image.info.get("icc_profile")
    transparent = "transparency" in image.info
    mode = image.mode
    if mode in SIXTEEN_BIT:
        image = _scaled_to_gray(image, path, 65535.0, "16-bit" if mode != "I" else "32-bit integer")
    elif mode == "F":
        image = _scaled_to_gray(image, path, 1.0, "32-bit float")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("P", "PA"):
        image = image.convert("RGBA" if transparent or mode == "PA" else "RGB")
    elif mode in ("YCbCr", "RGBX"):
        image = image.convert("RGB")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    if image.mode in ("LA", "RGBA") or (transparent and image.mode in ("L", "RGB")):
        base = "L" if image.mode in ("L", "LA") else "RGB"
        image = image.convert(base + "A")
        image = Image.composite(image.convert(base), Image.new(base, image.size, "white"), image.getchannel("A"))
    if image.mode not in ("L", "RGB", "CMYK", "LAB"):
        raise ImageError(f"{path}: unsupported pixel format (PIL mode {mode})")
    if icc:
        converted = _from_profile(image, icc)
        if converted is not None:
            return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _check_file(path):
    if isinstance(path, Encoded):
        problem = None if path.getbuffer().nbytes else "empty (0 bytes)"
    else:
        problem = read_problem(path)
    if problem:
        raise ImageError(f"{path}: {problem}")


def _check_size(path, width, height):
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{path}: image is {width}x{height} pixels; need at least {MIN_SIDE}x{MIN_SIDE}"
        )


HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
"""Major brands (bytes 8..12, after ``ftyp``) of HEIC/HEIF files."""


@functools.cache
def heif_reader():
    """Registers pillow-heif's HEIC/HEIF opener with PIL once; False when it is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _unidentified(path):
    """The one line for a file PIL cannot identify: a HEIC photo without the extra says so."""
    try:
        if isinstance(path, Encoded):
            head = path.getvalue()[:12]
        else:
            with open(path, "rb") as handle:
                head = handle.read(12)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS and not heif_reader():
        return ImageError(f'{path}: a HEIC/HEIF photo; reading it needs pillow-heif, which comes with the [heif] extra: pip install "transformnet[heif]"')
    return ImageError(f"{path}: not an image file (unknown or unsupported format)")


_MEMORY_DECIDES = contextvars.ContextVar("transformnet_memory_decides", default=False)
"""True inside a :func:`_read` that checks the photo against the memory left: this thread's read
only, whatever other threads (the training loader's, the caller's) do meanwhile."""

_pil_pixel_check = getattr(Image, "_decompression_bomb_check", None)  # private: a later Pillow may rename it


def _pixel_check(size, *args, **kwargs):
    """Stands in for PIL's decompression-bomb check (``Image._decompression_bomb_check``, which
    PIL calls on opening, and on loading a TIFF or seeking a GIF): PIL's own, except inside a
    :func:`_read` that checks memory instead (``_MEMORY_DECIDES``).

    Why: PIL refuses images over ``2 * Image.MAX_IMAGE_PIXELS`` (179 MP), a guess at what a
    server can afford, while tiling stylizes any size in bounded memory; 200 MP panoramas and
    gigapixel scans are real. ``MAX_IMAGE_PIXELS`` is a process-wide global that the Python API's
    callers may rely on; setting it around a read would lift it for every thread at that moment.
    A context variable lifts it for this read alone, and everyone else gets PIL's check as it is."""
    if not _MEMORY_DECIDES.get():
        _pil_pixel_check(size, *args, **kwargs)


if _pil_pixel_check is not None:  # else PIL's limit stands, as where memory cannot be read
    Image._decompression_bomb_check = _pixel_check


def _decode_bytes_per_pixel(image):
    deep = image.mode in SIXTEEN_BIT or image.mode == "F"
    transparent = image.mode in ("LA", "PA", "RGBA", "RGBa") or "transparency" in image.info
    return memory.decode_bytes_per_pixel(deep, transparent)


def _check_pixels(image):
    """A photo over PIL's decompression-bomb limit (PIL's own check, skipped at opening) is
    refused only when decoding it would not fit in the memory left (``memory.decoding``); where
    that cannot be known (not Linux), PIL's limit stands. Below the limit nothing is read: the
    training loader decodes JPEGs at 1/8 scale, where a full-size estimate would refuse photos
    that need a few MB."""
    if _pil_pixel_check is None:  # not wrapped: PIL's check ran at opening
        return
    try:
        _pil_pixel_check(image.size)
        return
    except Image.DecompressionBombError:
        available = memory.available_bytes()
        if available is None:
            raise
    memory.decoding(*image.size, _decode_bytes_per_pixel(image), available)


def _read(path, decode):
    """Opens ``path`` (a path or an ``Encoded``) with PIL and returns ``decode(image)``, mapping
    every failure to ImageError."""
    path = _source(path)
    _check_file(path)
    heif_reader()
    memory_decides = _MEMORY_DECIDES.set(True)  # _check_pixels instead of PIL's check
    try:
        with _decoding(path), warnings.catch_warnings():
            # PIL warns above MAX_IMAGE_PIXELS (89.5 MP) where its limit stands: photos of 100 to
            # 150 MP (medium-format cameras, phones' full-resolution modes) are real and tiling
            # stylizes them in bounded memory, so the warning is not shown.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # A broken EXIF block only loses the orientation (none is then applied); PIL's raw
            # warnings ("Corrupt EXIF data", "Truncated File Read"), once per read and naming no
            # photo, said nothing a user could act on.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")  # EXIF is TIFF inside
            # Left as is: a corrupt compressed TIFF (LZW, Deflate, JPEG; Pillow decodes them all
            # with libtiff) also gets libtiff's own lines on fd 2 ("ZIPDecode: Decoding error at
            # scanline 0, ...", or "_TIFFVSetField: tempfile.tif: Bad value 9 for
            # "ResolutionUnit" tag." even for a TIFF that loads). Pillow mutes libtiff's warnings
            # but not its errors, with no setting for them and no decoder without libtiff; muting
            # them would take ctypes into the libtiff inside Pillow's wheel (a private path that
            # differs by platform) for the whole process, or filtering fd 2 for the whole run.
            with Image.open(path) as image:
                _check_pixels(image)
                return decode(image)
    finally:
        _MEMORY_DECIDES.reset(memory_decides)


@contextlib.contextmanager
def _decoding(path):
    """Within the block, every failure of PIL decoding the image named ``path`` is one ImageError."""
    try:
        yield
    except ImageError:
        raise
    except memory.HostMemoryError as error:
        raise ImageError(f"{path}: image too large for this machine: {error}") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: image too large (over PIL's {2 * Image.MAX_IMAGE_PIXELS:,}-pixel decompression-bomb limit)") from None
    except UnidentifiedImageError:
        raise _unidentified(path) from None
    except OSError as error:
        # PIL's message for a truncated file mentions "truncated"; others mean not an image.
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "truncated" in text.lower() or "premature end" in text.lower():
            raise ImageError(f"{path}: truncated or corrupt image data") from None
        raise ImageError(f"{path}: not a readable image ({text})") from None
    except (ValueError, SyntaxError, struct.error, IndexError, KeyError, TypeError) as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"{path}: corrupt image ({text})") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode this image") from None


def image_array(image, name):
    """An open PIL image (the Python API's) as :func:`load_image` returns a file's: upright, sRGB
    uint8 (H, W, 3) by every mode's rule. PIL decodes an opened file's pixels only now, so a
    truncated one fails here: one ImageError naming ``name``, as for the file (it was PIL's raw
    ``OSError: image file is truncated``). A closed one, or one whose file was closed before PIL
    read its pixels, is said so (PIL: "Operation on closed image", "seek of closed file")."""
    with _decoding(name):
        try:
            return np.asarray(to_srgb(ImageOps.exif_transpose(image), name), dtype=np.uint8)
        except (ValueError, AssertionError) as error:  # Pillow's words once loaded, a bare assert before
            if getattr(getattr(image, "fp", None), "closed", False):  # Image.open(f) after f's with block: "corrupt image"
                raise ImageError(f"{name}: the file of the PIL image was closed before its pixels were read; "
                                 "stylize it inside its with block") from None
            if isinstance(error, ValueError) and str(error) != "Operation on closed image":
                raise
            raise ImageError(f"{name}: the PIL image was closed; stylize it inside its with block") from None


def probe_image(path):
    """Cheap check of ``path`` without decoding the pixels: returns (width, height) as the
    image will be loaded (after EXIF rotation), or raises ``ImageError``.

    Catches missing/empty/non-image files, photos too large to decode in the memory left
    (decompression bombs), unsupported pixel formats and
    too-small images; a truncated file or out-of-range pixels are only found by :func:`load_image`.
    """
    width, height, _ = probe_photo(path)
    return width, height


def probe_photo(path):
    """:func:`probe_image`'s (width, height) and the number of frames of an animated image
    (``is_animated``), else None: eval.py checks each photo and notes an animation from one
    opening of the file."""
    def size(image):
        if image.mode not in READABLE_MODES:
            raise ImageError(f"{path}: unsupported pixel format (PIL mode {image.mode})")
        width, height = image.size
        try:
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        except Exception:  # a broken EXIF block is ignored here as exif_transpose would fail later
            orientation = 1
        if orientation in (5, 6, 7, 8):  # 90-degree rotations swap the sides
            width, height = height, width
        _check_size(path, width, height)
        try:
            frames = image.n_frames if is_animated(image) else None
        except Exception:  # a damaged later frame (a truncated GIF): the first is still the photo load_image reads
            frames = None
        return width, height, frames

    return _read(path, size)


def is_animated(image):
    """Whether an open PIL image has several frames that play (GIF, WebP, APNG): a camera's MPO
    JPEG (a photo plus a preview or a stereo pair) is still."""
    return bool(getattr(image, "is_animated", False)) and image.format != "MPO"


def load_image(path, min_side=None):
    """Reads ``path`` as sRGB uint8 (H, W, 3), or raises ``ImageError``.

    ``min_side``: the caller will shrink the image so its shorter side is this; a JPEG is then
    decoded at the smallest DCT scale that still covers it (COCO's 640x480 at 1/2 for 256 px),
    which is several times faster.
    """
    def decode(image):
        if min_side and image.format == "JPEG":
            scale = min_side / min(image.size)
            image.draft(None, (int(image.size[0] * scale) + 1, int(image.size[1] * scale) + 1))
        ImageOps.exif_transpose(image, in_place=True)
        return np.asarray(to_srgb(image, path), dtype=np.uint8)

    array = _read(path, decode)
    _check_size(path, array.shape[1], array.shape[0])
    return array


def resize_longer_side(array, size):
    """Resizes (up or down, Lanczos) so the longer side is ``size``; keeps aspect."""
    h, w = array.shape[:2]
    scale = size / max(h, w)
    new = (max(min(MIN_SIDE, w), round(w * scale)), max(min(MIN_SIDE, h), round(h * scale)))  # a side never drops below MIN_SIDE
    if new == (w, h):
        return array
    return np.asarray(Image.fromarray(array).resize(new, Image.Resampling.LANCZOS))


def resize_to_max_side(array, max_side):
    """Downscales (never upscales) so the longer side is at most ``max_side``; keeps aspect."""
    if max_side is None or max(array.shape[:2]) <= max_side:
        return array
    return resize_longer_side(array, max_side)


def to_uint8(array):
    """Float RGB 0..255 (any range) -> rounded, clipped uint8."""
    return np.clip(np.asarray(array, dtype=np.float32) + 0.5, 0, 255).astype(np.uint8)


MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}
"""The encoders' own limits (libjpeg, libwebp) on a side, in pixels: a wider photo failed only
when written, after the work, as a traceback."""
ICON_FORMATS = ("ICO", "ICNS")
"""Formats whose encoders write their own icon sizes (at most 256 or 1024 px), not the photo's."""


@functools.lru_cache(maxsize=None)
def _writable_format(suffix):
    """PIL's format for ``suffix`` if PIL can write an RGB photo in it, else the reason it cannot."""
    heif_reader()  # registers .heic for writing too, whichever comes first
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        return None, "unknown image format (use .jpg or .png)"
    if fmt in ICON_FORMATS:
        return None, f"{fmt} stores icons of its own sizes, not the photo (use .png)"
    try:
        _encode(Image.new("RGB", (2, 2)), fmt)
    except Exception:  # noqa: BLE001 - KeyError, OSError, ValueError: PIL cannot write it
        return None, f"PIL cannot write RGB photos as {fmt} (use .jpg, .png, .tif or .webp)"
    return fmt, None


def output_format(path):
    """The PIL format ``save_image`` will write ``path`` in, or ``ImageError`` if it cannot:
    an unknown suffix or a format PIL only reads (``.psd``) is found before any work."""
    fmt, problem = _writable_format(os.path.splitext(os.fspath(path))[1].lower())
    if problem:
        raise ImageError(f"{path}: {problem}")
    return fmt


def check_output_size(path, width, height):
    """``ImageError`` before the work when a ``width`` x ``height`` image is beyond what
    ``path``'s format can store (``MAX_SIDE``)."""
    fmt = output_format(path)
    limit = MAX_SIDE.get(fmt)
    if limit and max(width, height) > limit:
        raise ImageError(f"{path}: {width}x{height} is beyond {fmt}'s {limit:,} pixels a side; "
                         f"write .png or .tif, or downscale with --max-size {limit}")


def _encode(image, fmt, quality=JPEG_QUALITY):
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt == "JPEG" else {}
    image.save(buffer, format=fmt, icc_profile=srgb_icc(), **options)
    return buffer.getvalue()


def encode_image(array, fmt, name, quality=JPEG_QUALITY):
    """RGB ``array`` (uint8 or float 0..255) as the bytes of a ``fmt`` file tagged sRGB, built in
    memory (see the module docstring), or ``ImageError`` naming ``name`` when the encoder fails."""
    try:
        return _encode(Image.fromarray(to_uint8(array) if array.dtype != np.uint8 else array), fmt, quality)
    except (OSError, ValueError) as error:  # an encoder's limit not in MAX_SIDE
        raise ImageError(f"{name}: cannot be written as {fmt} ({str(error).splitlines()[0] or type(error).__name__})") from None


def save_image(path, array, quality=JPEG_QUALITY, *, replace):
    """Writes RGB ``array`` (uint8 or float 0..255) to ``path`` atomically, tagged sRGB; format
    from the suffix; an existing ``path`` is replaced only if ``replace`` (``files.publish``). Raises ``ImageError`` for a format it cannot write, ``files.WriteError``
    when the file cannot be written (disk full, permissions)."""
    check_output_size(path, array.shape[1], array.shape[0])
    data = encode_image(array, output_format(path), path, quality)

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)

    atomic_write(path, write, replace=replace)
