"""Whether a job fits in the memory this machine has left, asked before TensorFlow runs it on the CPU.

Why hand-written: TensorFlow's oneDNN CPU kernels do not raise ``ResourceExhaustedError`` when an
allocation fails; the process dies without a message (SIGSEGV after "OOM when allocating
tensor", or SIGABRT "double free or corruption"). Measured here (TensorFlow 2.x, 24 GB) with
``train.py --batch-size 16 --image-size 1024`` and ``--style-size 20000``; tensorflow#22885 is
the same class. JAX raises RESOURCE_EXHAUSTED, and so do GPUs, and ``quiet.out_of_memory`` turns
that into one line. ``TF_ENABLE_ONEDNN_OPTS=0`` makes TensorFlow raise too, but stylizes 5.7x
slower (1024 px, slim: 0.14 s -> 0.80 s).

Decoding a photo (PIL and NumPy) is checked on every backend (:func:`decoding`): Linux overcommits
memory, so a decode larger than the memory left is no ``MemoryError`` but the kernel's OOM killer.

So on the TensorFlow CPU path each job estimates its peak from its pixel count before the work.
The painting (``losses.PerceptualLoss.style_targets``), a train step (``training.train``) and the
slow path (``slow.stylize``) raise :class:`HostMemoryError`. It is a ``MemoryError``, so each
command's one out-of-memory line names the flags to lower. A photo too large to stylize whole
is tiled instead (``pipeline.stylize_photo``): tiles bound the memory.

The estimates are the growth of the peak resident memory per pixel, measured by
``benchmarks/host_memory.py`` (command and numbers in benchmarks/RESULTS.md, "Host memory").
A job is refused only when its estimate is above the memory available. A job just below that
line may still fail.
"""

import math
import sys

PAINTING_BYTES_PER_PIXEL = 1300
"""Measured 1,305 per painting pixel: VGG16 to relu4_3 and four Gram matrices."""

SLOW_BYTES_PER_PIXEL = 2300
"""Measured 2,304 per pixel of the slow path's image: VGG16 forward and backward."""


def decode_bytes_per_pixel(deep, transparent):
    """Per pixel of ``images.load_image``: measured 10 bytes for an RGB JPEG, 11 gray, 14 with an
    ICC profile or in CMYK; 18 for a palette with a transparent entry, 21 RGBA (composited on
    white); 26 for 16-bit gray, 28 float (``deep``: scaled through float64). Each class's value
    lies at or above its cases."""
    return 29 if deep else 22 if transparent else 15


def train_bytes_per_pixel(net_width):
    """Per pixel of a batch, measured 4,427 bytes at ``--width 0.25``, 5,245 at 0.5 and 6,131 at
    1.0 (the transform net and VGG16, forward and backward); this line lies at or under each."""
    return 3900 + 2200 * net_width


def stylize_bytes_per_pixel(net_width):
    """Per pixel of a photo stylized whole, measured 130 bytes at ``--width 0.5``, 200 at 1.0."""
    return 60 + 140 * net_width


def painting(height, width):
    """The painting's style is measured once, at ``--style-size`` (or the slow path's size)."""
    check(height * width * PAINTING_BYTES_PER_PIXEL, f"measuring the painting's style at {width}x{height} px")


def train_step(batch_size, image_size, net_width):
    """One step of ``--batch-size`` crops of ``--image-size``."""
    need = batch_size * image_size**2 * train_bytes_per_pixel(net_width)
    check(need, f"a train step of {batch_size} crops of {image_size}x{image_size} px")


def slow_path(height, width):
    """The image the slow path optimises, at most ``--size``."""
    check(height * width * SLOW_BYTES_PER_PIXEL, f"optimising {width}x{height} pixels")


def untiled_pixels(net_width, default):
    """The most pixels to stylize whole (``default`` unless memory is short); above it the
    photo is tiled."""
    available = available_bytes() if on_tensorflow_cpu() else None
    if available is None:
        return default
    return min(default, int(available / stylize_bytes_per_pixel(net_width)))


class HostMemoryError(MemoryError):
    """A job whose estimated peak exceeds the memory available; ``str()`` says both."""


def decoding(width, height, bytes_per_pixel, available):
    """Decoding a ``width`` x ``height`` photo at ``bytes_per_pixel`` (``decode_bytes_per_pixel``)
    in the ``available`` bytes (``available_bytes``, read by the caller before it opens the file)."""
    need = width * height * bytes_per_pixel
    if need > available:  # the need rounded up and the memory down, so the two never read alike
        raise HostMemoryError(f"decoding {width}x{height} pixels needs about {math.ceil(need / 1e8) / 10:.1f} GB of memory, "
                              f"{math.floor(available / 1e8) / 10:.1f} GB is available")


def available_bytes():
    """Memory this process may still use: ``MemAvailable``, lowered to what a cgroup v2 limit
    (a container, a SLURM job) leaves; None where neither can be read (not Linux)."""
    found = []
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as current:
            text = limit.read().strip()
            if text != "max":
                found.append(int(text) - int(current.read().strip()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def on_tensorflow_cpu():
    """True when Keras computes on TensorFlow and TensorFlow sees no GPU: the one path whose
    out-of-memory is a crash instead of an exception."""
    if "keras" not in sys.modules:
        return False
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


def _gb(count):
    return f"{count / 1e9:.1f} GB" if count < 1e10 else f"{count / 1e9:.0f} GB"


def check(need, what):
    """Raises :class:`HostMemoryError` when ``need`` bytes for ``what`` exceed the memory
    available on TensorFlow's CPU path; elsewhere the backend raises by itself."""
    if not on_tensorflow_cpu():
        return
    available = available_bytes()
    if available is not None and need > available:
        raise HostMemoryError(f"{what} needs about {_gb(need)} of memory, {_gb(available)} is available")
