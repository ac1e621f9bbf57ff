"""Console: TensorFlow's start-up noise hidden, real errors kept (eval.py and train.py alike).

Importing TensorFlow (the default Keras backend) and probing its devices prints absl log lines
before our first message: "All log messages before absl::InitializeLog() ...", oneDNN notes, CUDA
stubs, CPU-instruction notes and, on machines without a GPU, "failed call to cuInit".
``TF_CPP_MIN_LOG_LEVEL`` does not reach them (absl writes them before TensorFlow's own logging
is set up), so :func:`load_keras` sends file descriptor 2 through a filter while Keras is imported
and the devices are probed (and eval.py while TensorFlow's converters export a model), and only
lines matching :data:`NOISE` are dropped: Python tracebacks, warnings and every other error line
pass.

The filter is a child process, not a thread: if the import itself crashes (a CPU without AVX, a
broken CUDA install aborts the process) the child still forwards what was printed before the
crash. It ignores Ctrl-C, SIGTERM and SIGHUP, which reach every process of a terminal's (or
``timeout``'s) group: it ends when its input does, so it neither prints a traceback of its own
nor drops the lines the process prints while it stops. ``TRANSFORMNET_VERBOSE=1`` shows everything. The device in use is printed by the trainer
itself, so a GPU that failed to initialise is not hidden either.
"""

import contextlib
import os
import re
import subprocess
import sys

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "  # absl INFO and WARNING lines
    rb"|To enable the following instructions:"  # second line of the CPU-feature note
    rb"|E\d{4} [\d:.]+ +\d+ \S+:\d+\] (failed call to cuInit|Unable to register cu\w+ factory"
    # the TFLite converter reading its own graph ("... Unknown attributes will be ignored")
    rb"|NodeDef mentions attribute \w+ which is not in the op definition))"
)

_FILTER = """
import re, signal, sys
for name in ("SIGINT", "SIGTERM", "SIGHUP"):
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
noise = re.compile(sys.argv[1].encode("latin-1"))
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.match(line):
        out.write(line)
        out.flush()
"""


@contextlib.contextmanager
def filtered_stderr():
    """Within the block, file descriptor 2 (C++ and Python alike) goes through the NOISE filter
    (unless ``TRANSFORMNET_VERBOSE`` is set)."""
    if os.environ.get("TRANSFORMNET_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    try:
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, NOISE.pattern.decode("latin-1")],
            stdin=subprocess.PIPE, stdout=2,
        )
    except OSError:  # no interpreter to spawn: show everything rather than nothing
        yield
        return
    saved = os.dup(2)
    os.dup2(child.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        child.stdin.close()
        child.wait()


def load_keras():
    """Imports Keras (and TensorFlow's devices) with the start-up noise filtered;
    returns the ``keras`` module. A no-op filter when Keras is already loaded."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        import keras

        return keras
    with filtered_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA probing logs happen here
        # Not jax.devices(): a multi-process job must call jax.distributed.initialize() before
        # JAX initialises its backend (distribute.py), and JAX's start-up is quiet anyway.
    return keras


@contextlib.contextmanager
def no_tensorflow_lookups():
    """Keras' serializer asks ``tf.available`` about every object it loads, saves or clones
    (``get_config``), which imports TensorFlow whenever it is installed: on the JAX backend that
    costs seconds, prints TensorFlow's start-up log and breaks the rule that the JAX path never
    loads TensorFlow. While TensorFlow is not loaded no object can be a TensorFlow type, so
    answering False is exact. (Keras' private ``LazyModule``; if its layout changes this does
    nothing and only the import comes back.)"""
    try:
        from keras.src.utils import module_utils

        lazy = module_utils.tensorflow
        unknown = "tensorflow" not in sys.modules and lazy._available is None
    except (ImportError, AttributeError):
        unknown = False
    if not unknown:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def out_of_memory(error):
    """The backend's own first line when ``error`` is running out of memory, else None.

    JAX/XLA raise ``RESOURCE_EXHAUSTED: Out of memory allocating N bytes``, TensorFlow a
    ``ResourceExhaustedError`` ("OOM when allocating tensor ..."), NumPy a ``MemoryError``, and
    ``memory.HostMemoryError`` (a ``MemoryError``) says what would need how much: a batch, image
    or photo too large for the device, which the commands say in one line with the flag that
    lowers it instead of a traceback."""
    errors = sys.modules.get("tensorflow.python.framework.errors_impl")
    text = str(error)
    if not (isinstance(error, MemoryError) or "RESOURCE_EXHAUSTED" in text
            or (errors is not None and isinstance(error, errors.ResourceExhaustedError))):
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return first if len(first) <= 160 else first[:157] + "..."
