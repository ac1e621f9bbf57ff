"""Reading and writing images: every problem becomes one ``ImageError`` naming the file.

Photos are returned as ``uint8`` arrays (H, W, 3) in RGB, after applying the EXIF orientation
(phones store rotated pixels plus a tag). Grayscale, RGBA (composited on white), palette, CMYK and
16-bit images are converted to 8-bit RGB. Writes are atomic: a temporary file in the target
folder is renamed over the target only when complete, so a crash never leaves half a file.
"""

import os
import struct
import tempfile
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

EXIF_ORIENTATION = 0x0112

MIN_SIDE = 2
"""Smallest accepted side: a 1-pixel image has no spatial structure to stylise (and breaks
reflection padding)."""


class ImageError(ValueError):
    """An input image that cannot be used; ``str()`` is one line naming the file and the problem."""


def _to_rgb(image):
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale to 8 bits instead of clipping (PIL's convert would clip).
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _check_file(path):
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a directory, not an image file")
    if not os.path.isfile(path):
        raise ImageError(f"{path}: not a regular file")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")


def _check_size(path, width, height):
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{path}: image is {width}x{height} pixels; need at least {MIN_SIDE}x{MIN_SIDE}"
        )


def _read(path, decode):
    """Opens ``path`` with PIL and returns ``decode(image)``, mapping every failure to ImageError."""
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # PIL warns before its hard limit; turn the warning into the same clear error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return decode(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{path}: image too large (over PIL's {Image.MAX_IMAGE_PIXELS:,}-pixel "
            "decompression-bomb limit)"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (unknown or unsupported format)") from None
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


def probe_image(path):
    """Cheap check of ``path`` without decoding the pixels: returns (width, height) as the
    image will be loaded (after EXIF rotation), or raises ``ImageError``.

    Catches missing/empty/non-image files, decompression bombs and too-small images; a
    truncated file is only found by :func:`load_image`.
    """
    path = os.fspath(path)

    def size(image):
        width, height = image.size
        try:
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        except Exception:  # a broken EXIF block is ignored here as exif_transpose would fail later
            orientation = 1
        if orientation in (5, 6, 7, 8):  # 90-degree rotations swap the sides
            width, height = height, width
        _check_size(path, width, height)
        return width, height

    return _read(path, size)


def load_image(path):
    """Reads ``path`` as RGB uint8 (H, W, 3), or raises ``ImageError``."""
    path = os.fspath(path)

    def decode(image):
        image = ImageOps.exif_transpose(image)
        image.load()
        return np.asarray(_to_rgb(image), dtype=np.uint8)

    array = _read(path, decode)
    _check_size(path, array.shape[1], array.shape[0])
    return array


def resize_longer_side(array, size):
    """Resizes (up or down, Lanczos) so the longer side is ``size``; keeps aspect."""
    h, w = array.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
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


def atomic_write(path, write):
    """Calls ``write(tmp_path)`` then renames the temporary file onto ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        write(tmp)
        # mkstemp creates 0600; give the result the permissions a normal new file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_image(path, array, quality=95):
    """Writes RGB ``array`` (uint8 or float 0..255) to ``path`` atomically; format from the suffix."""
    image = Image.fromarray(to_uint8(array) if array.dtype != np.uint8 else array)
    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image format (use .jpg or .png)")
    options = {"quality": quality} if fmt == "JPEG" else {}
    atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **options))
