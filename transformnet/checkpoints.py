"""Training checkpoints: one ``.npz`` per save, written atomically, the last K kept.

Why not Keras' formats: ``model.save`` / ``save_weights`` hold a model's (and a compiled
model's optimizer's) variables, not the data position and seed an exact resume needs, and the
JAX trainer keeps its state in arrays outside the Keras variables between checkpoints.
``keras.callbacks.BackupAndRestore`` serves ``model.fit`` only, and ``tf.train.Checkpoint``
needs TensorFlow, which the JAX path must not import.

Format (needs neither TensorFlow nor h5py): a NumPy ``.npz`` (a zip of ``.npy`` arrays) holding
every variable of the transform net and of the optimizer (``trainable.0000``, ``optimizer.0000``,
...) plus ``__meta__``, a JSON document: step, settings, data position, seed, and the name,
shape and dtype of every array. Zip members carry CRC-32 checksums and the zip directory sits at
the end of the file, so a file truncated mid-write or with flipped bytes fails to load; loading
also checks every array against the list in ``__meta__``. ``latest_good`` walks back from the
newest checkpoint to the first one that loads (issue 3: "a truncated checkpoint is detected and
the previous one used"). Files are written to a temporary name and renamed, and old ones are
deleted only after a new one is complete, so a good checkpoint is never overwritten or lost; a
failed write (disk full) raises ``files.WriteError`` and leaves no temporary file.
"""

import glob
import json
import os
import re

import numpy as np

from .files import atomic_write

PATTERN = re.compile(r"^ckpt-(\d{9})\.npz$")
UNREADABLE = ".unreadable"
"""Suffix of a checkpoint that would not load (``latest_good``), kept for a look, never resumed."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; ``str()`` names the file."""


def _step(path):
    return int(PATTERN.match(os.path.basename(path)).group(1))


def checkpoint_path(directory, step):
    return os.path.join(directory, f"ckpt-{step:09d}.npz")


def list_checkpoints(directory):
    """Checkpoint files in ``directory``, oldest first (by step)."""
    if not os.path.isdir(directory):
        return []
    names = sorted(n for n in os.listdir(directory) if PATTERN.match(n))
    return [os.path.join(directory, n) for n in names]


def save_checkpoint(directory, step, groups, meta, keep=None):
    """Writes ``groups`` (dict group -> list of arrays) and ``meta`` for ``step``; prunes to ``keep``."""
    arrays = {}
    listing = []
    for group, values in groups.items():
        for i, value in enumerate(values):
            value = np.asarray(value)
            name = f"{group}.{i:04d}"
            arrays[name] = value
            listing.append([name, list(value.shape), str(value.dtype)])
    meta = {**meta, "step": int(step), "arrays": listing, "groups": {g: len(v) for g, v in groups.items()}}
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = checkpoint_path(directory, step)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, __meta__=blob, **arrays)

    atomic_write(path, write, replace=True)  # a checkpoint of the same step holds the same state
    if keep:
        # Only this run's past counts: a file of a later step (another run's) is not pruned, and
        # cannot push out the file just written (which once left only a corrupt later one).
        earlier = [old for old in list_checkpoints(directory) if _step(old) < step]
        for old in earlier[: max(len(earlier) - (keep - 1), 0)]:
            os.remove(old)
    for stale in glob.glob(os.path.join(directory, ".tmp-*.npz")):
        os.remove(stale)  # left by a crash during an earlier write
    return path


def load_checkpoint(path):
    """Returns ``(groups, meta)``, or raises ``CheckpointError`` if the file is incomplete or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["__meta__"]).decode("utf-8"))
            loaded = {}
            for name, shape, dtype in meta["arrays"]:
                value = archive[name]  # reading the whole member checks its CRC-32
                if list(value.shape) != shape or str(value.dtype) != dtype:
                    raise CheckpointError(f"{path}: array {name} is {value.shape} {value.dtype}, expected {shape} {dtype}")
                loaded[name] = value
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - zipfile/numpy/json raise many types
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from None
    groups = {g: [loaded[f"{g}.{i:04d}"] for i in range(n)] for g, n in meta["groups"].items()}
    return groups, meta


def read_meta(path):
    """The ``__meta__`` document alone (step, settings, ...): cheap, the arrays are not read."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["__meta__"]).decode("utf-8"))
        int(meta["step"]), dict(meta["groups"])
    except Exception as error:  # noqa: BLE001 - zipfile/numpy/json raise many types
        raise CheckpointError(f"{path}: not a training checkpoint ({type(error).__name__}: {error})") from None
    return meta


def latest_good(directory, log=print):
    """``(path, groups, meta)`` of the newest checkpoint that loads, or ``None`` if there is none.

    One that does not load is renamed ``NAME.unreadable`` (kept, not deleted): left in place, it
    held a slot of ``--keep`` and outranked the resumed run's own newer checkpoints, which were
    then pruned as they were written."""
    for path in reversed(list_checkpoints(directory)):
        try:
            groups, meta = load_checkpoint(path)
        except CheckpointError as error:
            try:
                os.replace(path, path + UNREADABLE)
                kept = f"kept as {os.path.basename(path)}{UNREADABLE}"
            except OSError:  # another process of the job moved it first, or a read-only folder
                kept = "left in place"
            log(f"warning: {error}; {kept}, trying the previous checkpoint")
            continue
        return path, groups, meta
    return None
