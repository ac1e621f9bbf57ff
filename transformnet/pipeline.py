"""What happens to each photo between loading and saving, and which files are photos.

- :func:`expand_images`: ``--image`` arguments may be files, folders (their image files, not
  recursive, sorted by name; subfolders with photos are named) and glob patterns (``'shots/*.jpg'``, ``'**'`` recursive;
  the outputs keep the subfolders a pattern walked into), so a whole shoot is one command; mixed
  sizes are fine because each photo runs at its own size.
- :class:`Options` + :func:`stylize_photo`: optional ``--max-size`` downscale, then the network
  (tiled above ``tiling.AUTO_TILE_PIXELS`` or with ``--tile``), then ``--preserve-color`` and
  ``--strength``, then one rounding to uint8.
"""

import glob
import numbers
import os
from dataclasses import dataclass

import numpy as np

from . import config, memory
from .images import PHOTO_SUFFIXES, Encoded
from .info import plural



def expand_images(specs):
    """Returns (paths, problems, notes, folders): image paths in argument order, one-line
    messages for folders without images and patterns matching none, one-line notes for
    subfolders left out, and ``{path: output subfolder}`` for the photos a pattern found below
    its fixed part (``'shoot/**/*'`` finds ``shoot/day1/a.jpg``: ``day1``), so that the outputs
    keep the shoot's folders: flattened, ``day1/a.jpg`` and ``day2/a.jpg`` collided.

    Every file is listed once, at its first mention, however it is named (``shoot/`` and then
    ``shoot/best.jpg``, ``./a.jpg`` and ``a.jpg``, a glob that overlaps a folder): the same
    photo twice would give the same output, and the output planner would refuse the pair as
    two photos clashing on one output name. Different files that would share an output name
    are still refused there. A literal path that does not exist is passed through, so the
    image loader reports it. Folders and patterns keep image files only
    (``images.PHOTO_SUFFIXES``, as train.py's ``--data``): ``'shoot/**/*'`` skips sidecars.
    A folder's subfolders are not entered (the outputs share one folder), but never silently:
    those holding photos are named, with the pattern that takes them too. A photo that is no
    file (an ``images.Encoded``: standard input) is passed through, once.
    """
    paths, problems, notes, seen, folders = [], [], [], set(), {}

    def add(path, root=None):
        key = path if isinstance(path, Encoded) else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            paths.append(path)
            below = os.path.relpath(os.path.dirname(path) or os.curdir, root or os.curdir) if root is not None else os.curdir
            if below != os.curdir and not below.startswith(os.pardir):
                folders[path] = below

    for spec in specs:
        if isinstance(spec, Encoded):
            add(spec)
            continue
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            found, message = _folder(spec)
            if message:
                (notes if found else problems).append(message)
            for path in found:
                add(path)
        elif not os.path.exists(spec) and glob.has_magic(spec):
            matched = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
            found = [p for p in matched if _is_photo(p)]
            if not found:
                problems.append(f"{spec}: " + (f"matches {plural(len(matched), 'file')}, none an image file" if matched
                                               else "no files match this pattern"))
            for path in found:
                add(path, _fixed_part(spec))
        else:
            add(spec)
    return paths, problems, notes, folders


def _fixed_part(pattern):
    """The folders of ``pattern`` before its first wildcard: ``'shoot/**/*.jpg'`` -> ``shoot``."""
    fixed = []
    for part in pattern.split(os.sep)[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) if fixed != [""] else os.sep


def _folder(folder):
    """(the folder's photos, sorted; a message or None): the message names the subfolders with
    photos when there are any (a note beside photos, the problem without), else says the folder
    has no image files."""
    names = sorted(os.listdir(folder))
    found = [os.path.join(folder, name) for name in names if _is_photo(os.path.join(folder, name))]
    left_out = _subfolders_with_photos(folder, names)
    if left_out:
        listed = ", ".join(left_out[:3]) + (", ..." if len(left_out) > 3 else "")
        pattern = os.path.join(folder, "**", "*")
        empty = "" if found else "folder has no image files; "
        return found, f"{folder}: {empty}subfolders not entered: {listed} ('{pattern}' takes every level)"
    if not found:
        return found, f"{folder}: folder has no image files ({', '.join(PHOTO_SUFFIXES[:3])}, ...)"
    return found, None


def _is_photo(path):
    name = os.path.basename(path)
    return name.lower().endswith(PHOTO_SUFFIXES) and not name.startswith(".") and os.path.isfile(path)


def _subfolders_with_photos(folder, entries):
    """Names of ``folder``'s subfolders (of its sorted ``entries``; not hidden) with a photo at
    any depth; stops at the first photo of each."""
    names = []
    for name in entries:
        top = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isdir(top):
            continue
        for root, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if any(_is_photo(os.path.join(root, f)) for f in files):
                names.append(name + os.sep)
                break
    return names


@dataclass
class Options:
    """How to stylize: see ``eval.py --help`` for each flag."""

    tile: int = None  # force tiling with this core tile size (px)
    max_size: int = None  # downscale so the longer side is at most this (px)
    preserve_color: bool = False
    strength: float = 1.0
    precision: str = "auto"  # inference.PRECISIONS: auto = bfloat16 where the CPU has it

    def check(self, as_arguments=False):
        """Returns a one-line problem with the options, or None. Options are named as eval.py's
        flags (``--max-size``), or with ``as_arguments`` as the Python API's (``max_size``)."""

        def name(field):
            return field if as_arguments else "--" + field.replace("_", "-")

        for field, (fits, words) in OPTION_TYPES.items():
            value = getattr(self, field)
            if not fits(value):
                return f"{name(field)} must be {words}, not {value!r}"
        # config, not tiling: checking flags must not import Keras (cli.py checks before loading).
        minimum = 2 * config.TILE_BLEND
        if self.tile is not None and self.tile < minimum:
            return f"{name('tile')} must be at least {minimum} pixels, not {self.tile}"
        if self.max_size is not None and self.max_size < 2:
            return f"{name('max_size')} must be at least 2 pixels, not {self.max_size}"
        if not 0.0 <= self.strength <= 1.0:
            return f"{name('strength')} must be between 0 and 1, not {self.strength}"
        from .inference import PRECISIONS  # numpy only: no Keras import

        if self.precision not in PRECISIONS:
            return f"{name('precision')} must be one of {', '.join(PRECISIONS)}, not {self.precision}"
        return None


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _pixels_or_none(value):
    return value is None or (isinstance(value, numbers.Integral) and not _is_bool(value))


OPTION_TYPES = {
    "tile": (_pixels_or_none, "a whole number of pixels or None"),
    "max_size": (_pixels_or_none, "a whole number of pixels or None"),
    "strength": (lambda value: isinstance(value, numbers.Real) and not _is_bool(value), "a number between 0 and 1"),
    "preserve_color": (_is_bool, "True or False"),
    "precision": (lambda value: isinstance(value, str), "a string"),
}
"""Each option's type, checked first: argparse types the flags, the Python API does not, where
``strength="0.5"`` failed in a comparison and ``preserve_color="no"`` switched it on. A bool is
no number here."""


def stylize_photo(model, photo, options=None, progress=None):
    """RGB uint8 photo -> stylized RGB uint8 at the photo's size (or its --max-size size).

    The network runs as ``inference.get_stylizer``'s compiled clone (cached for the model, one
    graph per photo size), tiled or not; see transformnet/inference.py for why."""
    from .color import finish
    from .images import resize_to_max_side
    from .inference import get_stylizer
    from .network import width_of
    from .tiling import AUTO_TILE_PIXELS, stylize_large

    options = options or Options()
    photo = resize_to_max_side(photo, options.max_size)
    stylizer = get_stylizer(model, options.precision)
    limit = memory.untiled_pixels(width_of(model) or config.NETWORK_WIDTH, AUTO_TILE_PIXELS)
    stylized = stylize_large(
        stylizer.model, photo, tile=options.tile, limit=limit, untiled=lambda _, image: stylizer(image), progress=progress
    )
    return _to_uint8(finish(photo, stylized, options.preserve_color, options.strength))


def _to_uint8(array):
    """Rounds and clips float RGB to uint8 in place: a 24 MP float32 image is 288 MB, so the
    usual ``np.clip(a + 0.5, ...)`` would hold two more copies at the memory peak."""
    if array.dtype == np.uint8:
        return array
    array = np.asarray(array, np.float32)
    np.add(array, 0.5, out=array)
    np.clip(array, 0, 255, out=array)
    return array.astype(np.uint8)
