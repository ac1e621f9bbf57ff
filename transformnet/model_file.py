"""The trained model file: ``checkpoints/NAME.keras`` with the run's metadata inside it.

The ``.keras`` file is a zip written by ``model.save``; we add one member, ``transformnet.json``,
holding the metadata (style file name and sha256, all settings, steps, images seen, losses,
backend, precision, wall time). Keras ignores members it does not know, so
``keras.saving.load_model(path, safe_mode=True)`` is unaffected, and the metadata travels with the
one file. ``read_model_metadata`` reads it with ``zipfile`` alone (no Keras import), which is what
``eval.py --info NAME`` calls.
"""

import json
import os
import zipfile

from .files import atomic_write
from .quiet import no_tensorflow_lookups

METADATA_MEMBER = "transformnet.json"


def export_model(model, path, metadata, *, replace):
    """Saves ``model`` to ``path`` (.keras) with ``metadata`` inside, atomically; an existing
    ``path`` is replaced only if ``replace`` (``files.publish``)."""

    def write(tmp):
        with no_tensorflow_lookups():
            model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2, sort_keys=True))

    atomic_write(path, write, replace=replace)
    return path


OBJECTS = ("settings", "final_losses", "validation_losses")
"""The members of the metadata that are themselves JSON objects (read with ``.get``)."""


def read_model_metadata(path):
    """The metadata dict stored in a ``.keras`` file by :func:`export_model` (``{}`` if none).

    Raises ``ValueError`` with one line naming the file if it is not a readable .keras zip, or
    its metadata is not an object of objects where :data:`OBJECTS` says so: valid JSON of another
    shape (a list, a string: another tool's member of that name, a hand edit) ended
    ``eval.py --info`` and ``train.py --config`` with an AttributeError traceback.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                return {}
            metadata = json.loads(archive.read(METADATA_MEMBER).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, ValueError) as error:  # ValueError: bad JSON or UTF-8
        raise ValueError(f"{path}: not a readable .keras model file ({error})") from None
    if not isinstance(metadata, dict) or not all(isinstance(metadata.get(key, {}), dict) for key in OBJECTS):
        raise ValueError(f"{path}: not a readable .keras model file ({METADATA_MEMBER} is not transformnet's metadata)")
    return metadata
