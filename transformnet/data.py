"""Training photos for the fast trainer: a folder of photos (this module), or MS-COCO via tfds (``tfds_photos``).

Issue 3 asks for an input pipeline that needs no TensorFlow on the JAX backend (the GPU machine
has none) and keeps a GPU fed, so the folder reader is numpy + PIL only:

- Decoding runs in a thread pool. PIL releases the GIL while it decodes and resizes, so threads
  scale over cores without the pickling cost of processes. JPEGs are decoded with ``draft`` at
  the smallest DCT scale that still covers the training size (COCO's 640x480 -> 1/2 scale).
- Each photo is resized so its shorter side is the training size (paper: 256x256 crops) and then
  cropped to a square; the resized photo is kept in RAM (up to ``cache_mb``) so later epochs only
  crop, which is what lets 16 cores feed >1,500 images/s.
- Order: a permutation per epoch drawn from ``(seed, epoch)``; the crop offset of each item comes
  from ``(seed, epoch, index)``. The whole data position is therefore ``(epoch, index)``:
  a checkpoint stores it and a resumed run sees exactly the batches the first run would have.
- An unreadable photo prints one warning line naming it, is counted (``skipped``) and left out of
  every later epoch; it never stops a run. Batches always hold ``batch_size`` photos, so the
  compiled train step sees one shape.
- Not ``tf.data`` (TensorFlow) nor ``keras.utils.PyDataset`` (made for ``model.fit``'s
  workers; it keeps no data position a checkpoint could store and restore).
- A fixed validation set (``holdout`` photos chosen with a fixed seed, independent of ``--seed``,
  so validation losses of different runs are comparable; at most ``config.VALIDATION_FRACTION``
  of a folder) is removed from training. It is read when the folder is opened, so an unreadable
  candidate is replaced by the next one (``PhotoFolder._hold_out``). Every photo counts once:
  each real file (``list_images``), and each content (``distinct_photos``: byte-identical copies).
- ``shard=(index, count)`` (one training process of ``count``, issue 11) keeps every ``count``-th
  remaining photo from ``index`` on: the shards are disjoint, cover every photo and do not depend
  on the seed, and each has its own permutations and ``(epoch, index)`` position.
"""

import collections
import hashlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from . import config
from .images import PHOTO_SUFFIXES, ImageError, load_image
from .info import plural

HOLDOUT_SEED = 1234
"""Validation photos are drawn with this fixed seed so every run validates on the same photos."""


class DataError(ValueError):
    """The training data cannot be used at all (empty folder, every photo unreadable, ...)."""


def list_images(root):
    """Every photo (``images.PHOTO_SUFFIXES``) below ``root``: recursive, sorted, symlinked folders followed.

    Each real file is listed once: a folder reached again (a symlink loop, or two links to one
    folder) is not entered twice, and a photo reachable under several names (symlinks, hard
    links) counts once, so it can neither weigh more in training nor sit in the training and
    the validation set at the same time. Hidden names (``.thumbnails/``, macOS' ``._IMG.jpg``
    resource forks) are skipped. Copies in separate files are ``distinct_photos``' (it reads files).
    """
    found, folders, files_seen = [], set(), set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        try:
            key = _identity(folder)
        except OSError:
            key = None
        if key in folders:
            subfolders[:] = []
            continue
        folders.add(key)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(PHOTO_SUFFIXES):
                continue
            path = os.path.join(folder, name)
            try:
                key = _identity(path)
            except OSError:
                key = ("unresolvable", path)  # a dangling link: reported when it is read
            if key not in files_seen:
                files_seen.add(key)
                found.append(path)
    return found


def _identity(path):
    status = os.stat(path)
    return status.st_dev, status.st_ino


TAIL_BYTES = 4096
"""Bytes read from the end of photos of one size before hashing them whole: compressed pixel
data, where two different photos differ."""


def distinct_photos(paths):
    """``paths`` less byte-identical copies (``IMG_1.jpg`` and ``IMG_1 copy.jpg``), keeping the
    first of each in ``paths``' order; returns ``(kept, number of copies left out)``.

    A copy would weigh double in training and could sit in the validation and the training set
    at once. Cheap on a COCO-sized folder: only files that share their size with another are
    read, first their last ``TAIL_BYTES``, and only those equal there as well are hashed whole
    (sha256). Empty files, and files that cannot be read here, are kept: each is then named when
    it fails to decode."""
    copies = set()
    for size, same_size in _same(paths, os.path.getsize).items():
        if size == 0:
            continue
        for same_tail in _same(same_size, _tail).values():
            for same in _same(same_tail, _sha256).values():
                copies.update(same[1:])
    return [path for path in paths if path not in copies], len(copies)


def _same(paths, key):
    """``{key: paths with that key}`` for keys of two paths or more, each list in ``paths``'
    order; a path whose key cannot be read (OSError) is in none."""
    groups = collections.defaultdict(list)
    for path in paths:
        try:
            groups[key(path)].append(path)
        except OSError:
            pass
    return {key: group for key, group in groups.items() if len(group) > 1}


def _tail(path):
    with open(path, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - TAIL_BYTES))
        return handle.read()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.digest()


def resize_short_side(array, size):
    """Resizes an RGB uint8 array so the shorter side is ``size`` (bilinear, PIL's antialiasing
    filter when shrinking)."""
    h, w = array.shape[:2]
    if min(h, w) == size:
        return array
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    return np.asarray(Image.fromarray(array).resize(new, Image.Resampling.BILINEAR))


def decode_photo(path, size):
    """Reads ``path`` as sRGB uint8 with shorter side ``size``, or raises ``ImageError``.

    ``images.load_image`` does the reading, so training photos follow the same pixel-format and
    colour-profile rules as eval.py's photos; JPEGs are decoded at a reduced DCT scale."""
    return resize_short_side(load_image(path, min_side=size), size)


def crop(array, size, rng):
    """A ``size`` x ``size`` crop at a random offset along the longer side (``config.IMAGE_SIZE``:
    the paper squashed each photo to 256x256 instead; a crop keeps shapes undistorted)."""
    h, w = array.shape[:2]
    top = int(rng.integers(0, h - size + 1)) if h > size else 0
    left = int(rng.integers(0, w - size + 1)) if w > size else 0
    return array[top : top + size, left : left + size]


def centre_crop(array, size):
    h, w = array.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return array[top : top + size, left : left + size]


def _fingerprint(paths, root):
    """sha256 of the photo list (paths relative to ``root``, so a folder moved to another machine
    matches): what a resume must find unchanged (``PhotoFolder.restore``)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.relpath(path, root).encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def held_out(count, asked):
    """Validation photos taken from ``count``: as many as asked, but never more than
    ``config.VALIDATION_FRACTION`` of them, so a small folder still has photos to train on."""
    return max(0, min(int(asked), int(count * config.VALIDATION_FRACTION)))


class PhotoFolder:
    """Batches of uint8 (B, S, S, 3) training crops from every photo below ``root``.

    ``position`` is ``{"epoch", "index"}``: the next item of the epoch's permutation. It is
    updated when a batch is handed out, so saving it after training on that batch and restoring
    it later continues with exactly the next batch.
    """

    def __init__(
        self,
        root,
        image_size=config.IMAGE_SIZE,
        batch_size=config.BATCH_SIZE,
        seed=0,
        workers=None,
        cache_mb=config.DATA_CACHE_MB,
        holdout=config.VALIDATION_PHOTOS,
        log=None,
        shard=(0, 1),
    ):
        if not os.path.isdir(root):
            raise DataError(f"{root}: not a folder of photos (or use tfds:NAME)")
        paths, self.copies = distinct_photos(list_images(root))
        if not paths:
            raise DataError(f"{root}: found 0 photos ({', '.join(PHOTO_SUFFIXES[:4])}, ...; looked in every subfolder)")
        self.root = root
        self.size = int(image_size)
        self.shard = (int(shard[0]), int(shard[1]))
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.total = len(paths)
        self.fingerprint = _fingerprint(paths, root)
        self.holdout_asked = int(holdout)
        self._all = paths
        self._split(*self._hold_out(paths, holdout))
        index = self.shard[0]
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.workers = int(workers or min(32, os.cpu_count() or 1))
        self.prefetch = max(4 * self.batch_size, 4 * self.workers)
        self.cache_bytes = int(cache_mb) * 2**20
        self.epoch = 0
        self.index = 0
        self.skipped = len(self._unreadable) if index == 0 else 0  # the hold-out is every process's: process 0 counts it
        self.bad = set()
        self._cache = {}
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._check_a_photo_reads()

    def _check_a_photo_reads(self):
        """Reads training photos in the first epoch's order until one decodes (it stays cached):
        a folder whose training photos are all unreadable stops here, in seconds, not after the
        train step has compiled (minutes). An unreadable one is skipped, warned of and counted as
        training would skip it (``_skip``), so the batches are the same either way."""
        for k in self.permutation(0).tolist():
            array, problem = self._load(0, 0, k)
            if array is not None:
                return
            self._skip(k, problem)

    def _hold_out(self, paths, asked):
        """The validation photos, read now (they are few): ``held_out`` of the photos not found
        unreadable, taking the candidates in the fixed ``HOLDOUT_SEED`` order and the next one for
        each unreadable one. Returns (their indices in ``paths``, sorted; their centre crops; the
        unreadable indices).

        Read at opening, validation has as many photos as asked and the console line that counts
        them is exact. Each unreadable candidate lowers the count as it lowers the photos there
        are, so a folder of a few readable photos among broken files still trains on some. An
        unreadable candidate is left out of training too, where it would only be skipped again
        with a second warning. ``state()`` records the split, which a resume takes as it was.
        Shard 0 alone warns: every process holds out the same photos."""
        held, arrays, unreadable = [], {}, []
        for k in np.random.default_rng(HOLDOUT_SEED).permutation(len(paths)).tolist():
            if len(held) >= held_out(len(paths) - len(unreadable), asked):
                break
            arrays[k] = self._validation_crop(k)
            (unreadable if arrays[k] is None else held).append(k)
        held.sort()
        return held, [arrays[k] for k in held], unreadable

    def _validation_crop(self, k):
        """The centre crop of photo ``k`` of the list, or None if it is unreadable (one warning,
        from shard 0)."""
        try:
            return centre_crop(decode_photo(self._all[k], self.size), self.size)
        except ImageError as error:
            if self.shard[0] == 0:
                self.log(f"warning: skipping unreadable validation photo: {error}")
            return None

    def _split(self, held, arrays, unreadable):
        """Validation: ``held`` (indices into the photo list) and their crops; training: every
        other photo but the ``unreadable`` candidates, this process's shard of them."""
        paths, index, count = self._all, *self.shard
        self._held, self._unreadable = list(held), list(unreadable)
        self.val_paths, self._val_arrays = [paths[k] for k in held], arrays
        left_out = set(held) | set(unreadable)
        rest = [p for k, p in enumerate(paths) if k not in left_out]
        if not rest:
            left = f" left to train on ({len(held)} held out for validation, {len(unreadable)} unreadable)" if held else ""
            raise DataError(f"{self.root}: no readable photos{left}")
        self.paths = rest[index::count]
        if not self.paths:
            raise DataError(f"{self.root}: shard {index} of {count} holds no photos; need at least {count} training photos")

    def __len__(self):
        return len(self.paths)

    def counts(self):
        """(distinct readable training photos so far in this process's shard, photos held out for validation)."""
        return len(self.paths) - len(self.bad), len(self.val_paths)

    def describe(self):
        """What is trained on and what is held out, for the console."""
        index, count = self.shard
        part = f" (this process's shard {index} of {count})" if count > 1 else ""
        copies = f" ({plural(self.copies, 'duplicate')} left out: byte-identical copies)" if self.copies else ""
        unreadable = f", {len(self._unreadable)} unreadable" if self._unreadable else ""
        text = (f"{plural(self.total, 'photo')} below {self.root}{copies}: {len(self.paths):,} for training{part}{unreadable}, "
                f"{len(self.val_paths)} held out for validation")
        if len(self.val_paths) < self.holdout_asked:
            text += f" (not {self.holdout_asked}: at most {config.VALIDATION_FRACTION:.0%} are held out)"
        if 0 < len(self.val_paths) <= 8:
            text += ": " + ", ".join(os.path.relpath(p, self.root) for p in self.val_paths)
        return text

    # --- position -------------------------------------------------------------------------
    def state(self):
        def relative(indices):  # the few held-out photos: not the whole list at every checkpoint
            return [os.path.relpath(self._all[k], self.root) for k in indices]

        return {"epoch": self.epoch, "index": self.index, "skipped": self.skipped, "bad": sorted(self.bad),
                "photos": self.total, "photos_sha256": self.fingerprint,
                "validation": relative(self._held), "unreadable_candidates": relative(self._unreadable)}

    def restore(self, state):
        """Continues at ``state`` (a checkpoint's position); refuses a folder whose photos changed.

        The order of every epoch follows from the folder's photo list: on a folder with photos
        added or removed since the checkpoint, a resume would train on earlier validation photos
        and join two different validation curves. The split is taken as the checkpoint saved it,
        not drawn again: a validation photo that became unreadable since is left out of
        validation, not replaced from the training photos (which would shift every position)."""
        saved = state.get("photos_sha256")
        if saved is not None and saved != self.fingerprint:
            then = int(state.get("photos", 0))
            if "validation" not in state and self.copies:
                raise DataError(f"{self.root}: the checkpoint is from an older transformnet, which counted byte-identical "
                                "copies of a photo as photos; --resume cannot continue it: train a new run")
            change = f"holds {self.total} photos, not the {then} of the checkpoint" if then != self.total else "holds other photos than at the checkpoint"
            raise DataError(f"{self.root}: {change}; --resume needs the same photos (its validation photos would "
                            "become training photos): restore them, or train a new run")
        held, unreadable = self._saved_split(state)
        found = {self.paths[k] for k in self.bad}  # at opening (_check_a_photo_reads), by path: see below
        if (held, unreadable) != (self._held, self._unreadable):
            crops = {**dict.fromkeys(self._unreadable), **dict(zip(self._held, self._val_arrays))}  # read at opening
            for k in held:
                if k not in crops:
                    crops[k] = self._validation_crop(k)
            readable = [k for k in held if crops[k] is not None]
            self._split(readable, [crops[k] for k in readable], unreadable + [k for k in held if crops[k] is None])
            # Positions in the list of training photos drawn at opening name other photos in this
            # one: the photo cached then would be trained on in another's place.
            self._cache, self._cached_bytes = {}, 0
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        bad = set(int(k) for k in state.get("bad", ()))
        new = {k for k, path in enumerate(self.paths) if path in found} - bad  # broken since the checkpoint: counted once
        self.skipped = int(state.get("skipped", 0)) + len(new)
        self.bad = bad | new

    def _saved_split(self, state):
        """(validation indices, unreadable candidates) of a checkpoint; one from before the split
        was saved held out the first ``held_out`` photos of the fixed order, readable or not."""
        if "validation" not in state:
            count = held_out(self.total, self.holdout_asked)
            return sorted(np.random.default_rng(HOLDOUT_SEED).permutation(self.total)[:count].tolist()), []
        index = {os.path.relpath(p, self.root): k for k, p in enumerate(self._all)}
        return [index[name] for name in state["validation"]], [index[name] for name in state["unreadable_candidates"]]

    def permutation(self, epoch):
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))

    # --- loading ----------------------------------------------------------------------------
    def _resized(self, k):
        array = self._cache.get(k)
        if array is None:
            array = decode_photo(self.paths[k], self.size)
            with self._lock:
                if self._cached_bytes + array.nbytes <= self.cache_bytes:
                    self._cache[k] = array
                    self._cached_bytes += array.nbytes
        return array

    def _load(self, epoch, i, k):
        try:
            array = self._resized(k)
        except ImageError as error:
            return None, str(error)
        except Exception as error:  # noqa: BLE001 - a photo must never stop a run
            return None, f"{self.paths[k]}: unreadable ({type(error).__name__}: {error})"
        return np.ascontiguousarray(crop(array, self.size, np.random.default_rng([self.seed, epoch, i]))), None

    def _items(self):
        epoch, index = self.epoch, self.index
        while True:
            perm = self.permutation(epoch)
            for i in range(index, len(perm)):
                if int(perm[i]) not in self.bad:
                    yield epoch, i, int(perm[i])
            epoch, index = epoch + 1, 0

    def _skip(self, k, problem):
        """Photo ``k`` could not be read: one warning line the first time, counted, left out of
        every later epoch; a folder with no readable photo left stops with a DataError."""
        if k in self.bad:
            return
        self.bad.add(k)
        self.skipped += 1
        self.log(f"warning: skipping unreadable photo: {problem}")
        if len(self.bad) >= len(self.paths):
            held = f" left to train on ({len(self.val_paths)} held out for validation)" if self.val_paths else ""
            raise DataError(f"{self.root}: no readable photos{held}")

    def batches(self):
        """Endless generator of uint8 batches; advances ``position`` as batches are handed out."""
        items = self._items()
        pending = collections.deque()
        batch = []
        with ThreadPoolExecutor(self.workers, thread_name_prefix="photos") as pool:
            try:
                while True:
                    while len(pending) < self.prefetch:
                        e, i, k = next(items)
                        pending.append((e, i, k, pool.submit(self._load, e, i, k)))
                    e, i, k, future = pending.popleft()
                    array, problem = future.result()
                    if array is None:
                        self._skip(k, problem)
                        continue
                    batch.append(array)
                    if len(batch) == self.batch_size:
                        self.epoch, self.index = (e, i + 1) if i + 1 < len(self.paths) else (e + 1, 0)
                        yield np.stack(batch)
                        batch = []
            finally:
                for *_, future in pending:
                    future.cancel()

    def validation_images(self):
        """The held-out photos (``val_paths``, read at opening) as uint8 (V, S, S, 3) centre crops."""
        return np.stack(self._val_arrays) if self._val_arrays else np.zeros((0, self.size, self.size, 3), np.uint8)


def open_data(
    spec, image_size, batch_size, seed, workers=None, cache_mb=config.DATA_CACHE_MB, holdout=config.VALIDATION_PHOTOS, log=None, shard=(0, 1)
):
    """``--data``: a folder of photos, or ``tfds:NAME`` (e.g. ``tfds:coco/2017``); ``shard``: see PhotoFolder."""
    if spec.startswith("tfds:"):
        from .tfds_photos import TfdsPhotos

        return TfdsPhotos(spec[5:], image_size, batch_size, seed, holdout=holdout, log=log, shard=shard)
    return PhotoFolder(spec, image_size, batch_size, seed, workers=workers, cache_mb=cache_mb, holdout=holdout, log=log, shard=shard)


class Prefetcher:
    """Runs ``data.batches()`` in a background thread, ``depth`` batches ahead of training.

    Batch assembly (and ``put``, e.g. ``jax.device_put`` for an early host->device copy) then
    overlaps the compiled step instead of sitting between two dispatches. ``position`` is the data
    position after the last batch *taken*, which is what a checkpoint must store.
    """

    _END = object()

    def __init__(self, data, depth=4, put=None):
        import queue

        self.data = data
        self.position = data.state()
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._put = put or (lambda batch: batch)
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _run(self):
        batches = self.data.batches()
        try:
            for batch in batches:
                item = (self._put(batch), self.data.state())
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except Exception:  # noqa: BLE001 - queue.Full: check for stop, retry
                        continue
                if self._stop.is_set():
                    break
        except BaseException as error:  # noqa: BLE001 - handed to the training thread
            self._queue.put((self._END, error))
        finally:
            batches.close()

    def __next__(self):
        batch, state = self._queue.get()
        if batch is self._END:
            raise state
        self.position = state
        return batch

    def __iter__(self):
        return self

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except Exception:  # noqa: BLE001 - queue.Empty
                pass
        self._thread.join()
