"""TensorBoard event files through the ``tensorboard`` package, without TensorFlow.

Each event is a ``tensorboard.compat.proto`` ``Event``, framed and CRC32C-checksummed by
tensorboard's ``RecordWriter`` (the record layer of its ``EventFileWriter``), in a file named as
``EventFileWriter`` names it. Summaries come from tensorboard's TensorFlow-free helpers:
``scalar_pb``, ``text_pb`` and the hparams plugin's ``hparams_pb``. Images have no such helper
(tensorboard's image ``pb`` imports TensorFlow), so they are built from tensorboard's protos in
the format ``tf.summary.image`` writes (a string tensor ``[width, height, png]`` with image
plugin metadata); PIL encodes the PNG.

Why not ``EventFileWriter`` itself: it creates folders and opens files through
``tensorboard.compat.tf``, which imports TensorFlow whenever it is installed, and the JAX
trainer must never load TensorFlow (seconds of start-up, GBs of memory; the GPU machine has
none). Forcing tensorboard's TensorFlow-free stub instead (its ``tensorboard.compat.notf``
switch) pins the stub for the whole process, after which ``tf.summary`` raises "cannot import
tensorflow 2.0 API" in a notebook that uses both. A plain Python file under ``RecordWriter``
has neither problem. Its background queue is not needed either: every call is flushed before it
returns (the trainer logs every ``--log-every`` steps, so the flush costs nothing measurable and
a crash loses nothing already logged).

A write that fails (a full disk, a file-size limit, a folder gone read-only) is a
``files.WriteError`` naming the event file, as a checkpoint's is; a bare ``OSError`` carries no
file name, so train.py said "error: output: No space left on device". The partial record is cut
off again, so the file ends with the last complete event.

HParams dashboard: :meth:`SummaryWriter.hparams` writes the run's settings as one session's
hyper-parameters. No experiment config is written: runs of one painting are trained one at a
time, often on different machines, so no single run knows the others' values; without a
config TensorBoard infers each hyper-parameter's type and range from all sessions it finds,
and offers every scalar tag as a metric, its last value being the metric. The trainer logs
``losses/*`` and ``validation/*`` at its last step, so those columns are the final and
validation losses of each run.
"""

import contextlib
import io
import itertools
import os
import socket
import time

import numpy as np
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from .files import WriteError, describe

_FILE_NUMBER = itertools.count()
"""Distinguishes writers opened in the same second by one process (as EventFileWriter does)."""


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def hparam_value(value):
    """A setting as an hparams value (bool, number or string): None and lists become text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class SummaryWriter:
    """Writes scalar, image, text and hparams summaries to ``logdir/events.out.tfevents.*``."""

    def __init__(self, logdir):
        os.makedirs(logdir, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%s.%s.transformnet" % (
            time.time(), socket.gethostname(), os.getpid(), next(_FILE_NUMBER))
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "wb")
        self._records = RecordWriter(self._file)
        self._complete = 0  # bytes of complete events written
        self._add(event_pb2.Event(file_version="brain.Event:2"))

    def _add(self, event):
        event.wall_time = time.time()
        try:
            self._records.write(event.SerializeToString())
            self._records.flush()
        except OSError as error:
            with contextlib.suppress(OSError):  # the buffer that failed would fail again at close
                self._records.close()
            with contextlib.suppress(OSError):
                os.truncate(self.path, self._complete)
            raise WriteError(f"{self.path}: cannot write ({describe(error)})", error.errno) from None
        self._complete = self._file.tell()

    def _write(self, summary, step):
        self._add(event_pb2.Event(step=int(step), summary=summary))

    def scalars(self, values, step):
        """``values``: dict tag -> number, written as one event."""
        summary = summary_pb2.Summary()
        for tag, value in values.items():
            summary.value.extend(scalar_pb(tag, float(value)).value)
        self._write(summary, step)

    def scalar(self, tag, value, step):
        self.scalars({tag: value}, step)

    def image(self, tag, array, step):
        """``array``: uint8 (H, W, 3) RGB, stored PNG-encoded."""
        array = np.asarray(array, dtype=np.uint8)
        height, width = array.shape[:2]
        tensor = tensor_util.make_tensor_proto([str(width), str(height), _png(array)], dtype=np.object_)
        summary = summary_pb2.Summary()
        summary.value.add(tag=tag, metadata=image_metadata.create_summary_metadata(display_name=None, description=None), tensor=tensor)
        self._write(summary, step)

    def text(self, tag, markdown, step=0):
        """Markdown text shown by TensorBoard's text plugin."""
        self._write(text_pb(tag, markdown), step)

    def start(self, first_step):
        """Marks where this process's part of the run begins: TensorBoard drops what earlier
        processes in this logdir wrote from ``first_step`` on (a killed run logs past its last
        checkpoint; a run that found no usable checkpoint starts over), so each step is drawn
        once. The standard ``SessionLog.START`` event, honoured in ``brain.Event:2`` files."""
        self._add(event_pb2.Event(step=int(first_step), session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))

    def hparams(self, settings):
        """``settings`` (dict name -> value) as this run's hyper-parameters (HParams tab)."""
        self._write(hparams_pb({name: hparam_value(value) for name, value in settings.items()}), 0)

    def close(self):
        if not self._records.closed:
            self._records.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
