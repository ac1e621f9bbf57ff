"""TensorBoard event files written without TensorFlow, protobuf or the tensorboard package.

Issue 3: TensorBoard logging must work on the JAX backend where TensorFlow is not installed;
the GPU machine has no tensorboard package either. An event file is a sequence of TFRecords
(length, masked CRC32C, payload, masked CRC32C) whose payloads are ``tensorflow.Event``
protocol buffers. We write only the few fields we need, encoded by hand below:

    Event:   wall_time=1 (double), step=2 (int64), file_version=3 (string), summary=5
    Summary: value=1 (repeated Value)
    Value:   tag=1, simple_value=2 (float), image=4 (Image), tensor=8, metadata=9
    Image:   height=1, width=2, colorspace=3, encoded_image_string=4 (PNG bytes)
    text:    a DT_STRING TensorProto with metadata plugin_name "text" (the text plugin)

Scalars, PNG images and text are read back by tensorboard's own ``EventAccumulator`` in the
tests, which is the check that this encoding is right.
"""

import io
import os
import socket
import struct
import time

import numpy as np


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    try:  # fast C implementations when present; the pure-Python loop otherwise
        import google_crc32c

        return google_crc32c.value(bytes(data))
    except ImportError:
        pass
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(number, wire):
    return _varint((number << 3) | wire)


def _int(number, value):
    return _key(number, 0) + _varint(int(value))


def _bytes(number, value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(number, 2) + _varint(len(value)) + value


def _float(number, value):
    return _key(number, 5) + struct.pack("<f", float(value))


def _double(number, value):
    return _key(number, 1) + struct.pack("<d", float(value))


def _png(array):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


class SummaryWriter:
    """Appends scalar, image and text summaries to ``logdir/events.out.tfevents.*``.

    Each call writes and flushes one event, so a crash loses nothing already logged.
    """

    def __init__(self, logdir):
        os.makedirs(logdir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.transformnet"
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "ab")
        self._write_event(_bytes(3, "brain.Event:2"), step=0)

    def _write_event(self, body, step):
        event = _double(1, time.time()) + _int(2, step) + body
        header = struct.pack("<Q", len(event))
        self._file.write(header + struct.pack("<I", _masked_crc(header)) + event + struct.pack("<I", _masked_crc(event)))
        self._file.flush()

    def _write_values(self, values, step):
        summary = b"".join(_bytes(1, value) for value in values)
        self._write_event(_bytes(5, summary), step)

    def scalars(self, values, step):
        """``values``: dict tag -> number, written as one event."""
        self._write_values([_bytes(1, tag) + _float(2, value) for tag, value in values.items()], step)

    def scalar(self, tag, value, step):
        self.scalars({tag: value}, step)

    def image(self, tag, array, step):
        """``array``: uint8 (H, W, 3) RGB, stored PNG-encoded."""
        array = np.asarray(array, dtype=np.uint8)
        h, w, c = array.shape
        image = _int(1, h) + _int(2, w) + _int(3, c) + _bytes(4, _png(array))
        self._write_values([_bytes(1, tag) + _bytes(4, image)], step)

    def text(self, tag, markdown, step=0):
        """Markdown text shown by TensorBoard's text plugin."""
        tensor = _int(1, 7) + _bytes(2, b"") + _bytes(8, markdown)  # DT_STRING, scalar shape
        metadata = _bytes(1, _bytes(1, "text"))  # plugin_data { plugin_name: "text" }
        self._write_values([_bytes(1, tag) + _bytes(9, metadata) + _bytes(8, tensor)], step)

    def close(self):
        if not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
