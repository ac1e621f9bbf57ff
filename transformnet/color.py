"""Post-processing a stylized image against its photo: colour preservation and strength.

Both work on float RGB 0..255 arrays of the same size (the transform net returns the input's
size, tiled or not) and return float32, so they compose before the one final rounding.

The YCbCr conversion is written out in NumPy rather than taken from PIL
(``Image.convert("YCbCr")``): PIL converts 8-bit images only, so the float result would be
rounded to uint8 twice more before ``--strength`` blends it, and TensorFlow's ``tf.image``
colour ops would tie this module to one Keras backend.
"""

import numpy as np

# JPEG / ITU-R BT.601 full-range YCbCr: the luminance weights every photo viewer uses.
_TO_YCBCR = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR)
_OFFSET = np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb):
    """RGB 0..255 -> (Y, Cb, Cr), float64, Cb/Cr centred on 128."""
    return np.asarray(rgb, np.float64) @ _TO_YCBCR.T + _OFFSET


def ycbcr_to_rgb(ycc):
    """Inverse of :func:`rgb_to_ycbcr` (exact up to float rounding; no clipping)."""
    return (np.asarray(ycc, np.float64) - _OFFSET) @ _FROM_YCBCR.T


_LUMA = _TO_YCBCR[0].astype(np.float32)
BAND_PIXELS = 1 << 20
"""``finish`` works through an image in bands of about this many pixels, so its float
temporaries stay a few MB whatever the photo's size (a 24 MP photo's float64 YCbCr copies were
576 MB each: --preserve-color took 4.3 GB where the plain path takes 1.7 GB)."""


def preserve_color(photo, stylized):
    """Luminance-only transfer (Gatys et al. 2016, "Preserving Color in Neural Artistic Style
    Transfer"): the stylized image's luminance Y with the photo's chroma Cb, Cr.

    The painting's brush strokes and contrast live mostly in Y; its palette lives in Cb/Cr, so
    this keeps the photo's colours. YCbCr rather than YIQ/Lab: it is linear (cheap, exact
    inverse) and is what JPEG stores. Since the inverse's Y column is (1, 1, 1), swapping in the
    stylized Y adds ``Y(stylized) - Y(photo)`` to each channel of the photo: that is computed
    directly, in float32, without building either YCbCr image (``rgb_to_ycbcr`` is the
    definition the tests check it against). Values are clipped to 0..255 only at the end, where a
    bright stylized Y meets a saturated photo colour.
    """
    photo = np.asarray(photo, np.float32)
    shift = (np.asarray(stylized, np.float32) - photo) @ _LUMA
    return np.clip(photo + shift[..., None], 0, 255)


def _checked_strength(strength):
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, not {strength}")
    return strength


def blend(photo, stylized, strength):
    """``strength * stylized + (1 - strength) * photo``: 0 gives the photo, 1 the full style.

    A pixel-space blend, the usual "amount" slider of photo editors; strength outside 0..1
    is refused rather than extrapolated.
    """
    strength = _checked_strength(strength)
    photo = np.asarray(photo, np.float32)
    stylized = np.asarray(stylized, np.float32)
    if strength == 1.0:
        return stylized
    if strength == 0.0:
        return photo.copy()
    return strength * stylized + (1.0 - strength) * photo


def finish(photo, stylized, preserve=False, strength=1.0):
    """Colour preservation (optional) then strength: the order a photographer expects, since
    the strength slider then fades between the photo and exactly what --preserve-color shows.

    Returns a new float32 image (``stylized`` itself when there is nothing to do), computed in
    bands of rows (``BAND_PIXELS``) so that a huge photo needs one more float image, not six."""
    photo, stylized = np.asarray(photo), np.asarray(stylized, np.float32)
    if not preserve and float(strength) == 1.0:
        return stylized
    strength = _checked_strength(strength)  # refused before any work
    out = np.empty(stylized.shape, np.float32)
    rows = max(1, BAND_PIXELS // max(1, stylized.shape[1]))
    for top in range(0, stylized.shape[0], rows):
        band = slice(top, top + rows)
        styled = preserve_color(photo[band], stylized[band]) if preserve else stylized[band]
        out[band] = blend(photo[band], styled, strength)
    return out
