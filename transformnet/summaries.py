"""TensorBoard event files through the ``tensorboard`` package, without TensorFlow.

Events go through tensorboard's own ``EventFileWriter`` (TFRecord framing, CRC32C, a background
write queue) and are built with tensorboard's TensorFlow-free summary helpers: ``scalar_pb``,
``text_pb`` and the hparams plugin's ``hparams_pb``. Images have no such helper (tensorboard's
image ``pb`` imports TensorFlow), so they are built from tensorboard's protos in the format
``tf.summary.image`` writes (a string tensor ``[width, height, png]``, image plugin metadata);
PIL encodes the PNG.

TensorFlow is never imported here: the JAX trainer must not load it (seconds of start-up and
GBs of memory; the GPU machine does not even have it). ``tensorboard.compat.tf``, which the
writer uses to create folders and open files, imports TensorFlow whenever it is installed;
:func:`_use_tensorboard_file_layer` selects tensorboard's own TensorFlow-free file layer instead,
through the switch tensorboard provides for this (the ``tensorboard.compat.notf`` module of its
``no_tensorflow`` build). When TensorFlow is already loaded (the TensorFlow backend) it is
left in charge, so nothing changes there.

HParams dashboard: :meth:`SummaryWriter.hparams` writes the run's settings as one session's
hyper-parameters. No experiment config is written: runs of one painting are trained one at a
time, often on different machines, so no single run knows the others' values; without a
config TensorBoard infers each hyper-parameter's type and range from all sessions it finds,
and offers every scalar tag as a metric, its last value being the metric. The trainer logs
``losses/*`` at its last step and ``validation/*`` there too, so those columns are the final
and validation losses of each run.
"""

import io
import sys
import time
import types

import numpy as np
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams.summary_v2 import hparams_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util


def _use_tensorboard_file_layer():
    """Points ``tensorboard.compat.tf`` at tensorboard's stub unless TensorFlow is loaded."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


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
    """Writes scalar, image, text and hparams summaries to ``logdir/events.out.tfevents.*``.

    Every call is flushed before it returns: the trainer logs every ``--log-every`` steps, so
    the flush costs nothing measurable and a crash loses nothing already logged.
    """

    def __init__(self, logdir):
        _use_tensorboard_file_layer()
        self._writer = EventFileWriter(str(logdir), filename_suffix=".transformnet")

    def _write(self, summary, step):
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))
        self._writer.flush()

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

    def hparams(self, settings):
        """``settings`` (dict name -> value) as this run's hyper-parameters (HParams tab)."""
        self._write(hparams_pb({name: hparam_value(value) for name, value in settings.items()}), 0)

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
