"""Exporting a transform net for serving and mobile: TF SavedModel, TFLite, ONNX.

All three take and return float32 RGB 0..255 images of shape (1, H, W, 3) with H and W
dynamic (any size from 8 x 8 up), computing exactly what the Keras model computes.

- ``savedmodel``: Keras 3 ``model.export(dir, format="tf_saved_model")``; signature
  ``serving_default`` / endpoint ``serve``. Runs with TensorFlow (``tf.saved_model.load``).
- ``tflite``: converted from that SavedModel with ``tf.lite.TFLiteConverter`` (float32, builtin
  ops only, so the plain TFLite/LiteRT interpreter runs it). For another size call
  ``interpreter.resize_tensor_input(0, [1, H, W, 3])`` then ``allocate_tensors()``.
- ``onnx``: Keras 3 ``model.export(path, format="onnx")`` (tf2onnx under the TF backend).
  Runs with onnxruntime. tf2onnx and onnx are the optional ``[export]`` extra; without them
  this format is refused with one line saying what to install.

TensorFlow is imported lazily, only here: stylizing itself runs on any Keras backend. All three
converters are TensorFlow's, so an export runs on the TensorFlow backend whatever
``KERAS_BACKEND`` says (:func:`use_tensorflow_backend`): the ``.keras`` file is backend-neutral, and
the result is the same.
"""

import importlib.util
import os
import shutil
import sys
import warnings

FORMATS = ("savedmodel", "tflite", "onnx")

EXTRA_MODULES = {"onnx": ("tf2onnx", "onnx")}
"""Formats whose converter is an optional extra (``pip install "transformnet[export]"``)."""


class ExportError(ValueError):
    """An export that cannot be done; ``str()`` is one line naming the target."""


def require_exporter(fmt, target):
    """Raises ExportError naming ``target`` when ``fmt``'s converter is not installed; cheap
    (finds the modules without importing them), so the command line checks before loading."""
    if importlib.util.find_spec("tensorflow") is None:  # e.g. a JAX-only GPU machine
        raise ExportError(f"{target}: --format {fmt} needs TensorFlow, which is not installed here: pip install tensorflow")
    missing = [module for module in EXTRA_MODULES.get(fmt, ()) if importlib.util.find_spec(module) is None]
    if missing:
        raise ExportError(
            f"{target}: --format {fmt} needs {' and '.join(missing)}, which come with the [export] extra: "
            f'pip install "transformnet[export]"'
        )


def export_path(directory, name, fmt):
    """Where ``fmt`` is written inside ``directory``: NAME_savedmodel/, NAME.tflite, NAME.onnx."""
    suffix = {"savedmodel": "_savedmodel", "tflite": ".tflite", "onnx": ".onnx"}[fmt]
    return os.path.join(directory, name + suffix)


def _saved_model(model, path):
    keras_model_export(model, path, "tf_saved_model")


def _export_ready(model):
    """A clone (sharing all weights) whose reflection padding suits the exporters.

    The Keras layer pads by gathering reflected indices when H and W are unknown at trace
    time (so that 1-pixel feature maps work). Exported, that form breaks twice: tf2onnx
    converts the integer floor-mod of negative indices as truncating division (wrong pixels
    in onnxruntime), and TensorFlow loses the static channel count, which TFLite's Conv2D
    refuses. The clone uses the backend's mirror pad (ONNX Pad mode=reflect, TFLite
    MIRROR_PAD) followed by a free reshape that restates the channel count. Cost: exported
    models need H and W of at least 8 pixels (mirror padding needs pad < side).
    """
    import keras
    from keras import ops

    from .network import ReflectionPadding2D

    class MirrorPadding(ReflectionPadding2D):
        def call(self, x):
            channels = x.shape[-1]
            p = self.padding
            y = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
            shape = ops.shape(y)
            return ops.reshape(y, (-1, shape[1], shape[2], channels))

    def clone(layer):
        if isinstance(layer, ReflectionPadding2D):
            return MirrorPadding(layer.padding, name=layer.name)
        return layer

    clone = keras.models.clone_model(model, clone_function=clone)
    clone(ops.zeros((1, 16, 16, 3)))  # the ONNX exporter wants a model that has been called
    return clone


def use_tensorflow_backend():
    """Makes Keras start on TensorFlow in this process, before it is imported (an export job);
    once Keras runs on another backend, :func:`export_model` refuses in one line instead."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"


MIN_SIDE = 8
"""Smallest H or W an exported model accepts (see ``_export_ready``)."""


def keras_model_export(model, path, fmt):
    import contextlib
    import io

    model = _export_ready(model)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # Keras prints the signature
        # Keras' tf2onnx shim probes np.object, which NumPy 2 answers with a FutureWarning.
        warnings.filterwarnings("ignore", message="In the future `np.object`", category=FutureWarning)
        model.export(path, format=fmt, verbose=False)


def _tflite(model, path, workdir):
    import tensorflow as tf

    saved = os.path.join(workdir, "saved_model")
    _saved_model(model, saved)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with open(path, "wb") as handle:
        handle.write(converter.convert())


def check_target(directory, name, fmt, force=False):
    """The path ``export_model`` will write, checked without loading anything (eval.py calls it
    before TensorFlow starts): the format and its converter, an existing target (``--force``),
    a folder that cannot be written. ``ExportError``, one line naming the target."""
    from .files import WriteError, absolute, check_writable

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    target = export_path(directory, name, fmt)
    require_exporter(fmt, target)
    if os.path.lexists(target) and not force:
        raise ExportError(f"{target}: already exists (use --force to overwrite)")
    parent = os.path.dirname(absolute(target))
    if os.path.isdir(target) and not os.access(parent, os.W_OK | os.X_OK):  # a SavedModel folder, --force
        raise ExportError(f"{target}: cannot write: folder {parent} is not writable")
    if not os.path.isdir(target):
        try:
            check_writable(target)
        except WriteError as error:
            raise ExportError(str(error)) from None
    return target


def export_model(model, directory, name, fmt, force=False):
    """Writes ``model`` in format ``fmt`` under ``directory``; returns the path written.

    An output that cannot be written is found before converting where possible
    (``files.check_writable``); a failure while writing (disk full) is one ExportError line,
    and the partial export is removed."""
    import keras

    from .files import WriteError, describe, make_temporary, publish, remove_empty_folders, write_failure_named_in

    target = check_target(directory, name, fmt, force)
    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"{target}: export runs on the TensorFlow backend, and Keras was started on {keras.backend.backend()}")
    work, made, published = None, [], False
    try:
        work, made = make_temporary(directory, is_folder=True)
        tmp = os.path.join(work, os.path.basename(target))
        if fmt == "savedmodel":
            _saved_model(model, tmp)
        elif fmt == "tflite":
            _tflite(model, tmp, work)
        else:
            keras_model_export(model, tmp, "onnx")
        publish(tmp, target, replace=force)
        published = True
    except ExportError:
        raise
    except WriteError as error:  # the target appeared while converting
        raise ExportError(str(error)) from None
    except OSError as error:
        raise ExportError(f"{target}: cannot write ({describe(error)})") from None
    except Exception as error:  # noqa: BLE001 - TF and ONNX errors alike: one line
        number = write_failure_named_in(str(error))  # TF's savers report a full disk as text
        if number is not None:
            raise ExportError(f"{target}: cannot write ({os.strerror(number)})") from None
        raise ExportError(f"{target}: export failed ({describe(error)})") from None
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if not published:  # a failed export leaves no empty --export folder it made
            remove_empty_folders(made)
    return target


# --- running exported files with their own runtimes (tests, benchmarks) ---------------------


def load_runner(path):
    """Returns ``run(batch) -> numpy`` for an exported file, using that format's own runtime."""
    import numpy as np

    if os.path.isdir(path):
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]

        def run(batch):
            out = serve(tf.constant(np.asarray(batch, np.float32)))
            return next(iter(out.values())).numpy()

        return run
    if path.endswith(".tflite"):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
        shape = [None]

        def run(batch):
            batch = np.asarray(batch, np.float32)
            index = interpreter.get_input_details()[0]["index"]
            if shape[0] != batch.shape:
                interpreter.resize_tensor_input(index, batch.shape, strict=False)
                interpreter.allocate_tensors()
                shape[0] = batch.shape
            interpreter.set_tensor(index, batch)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        return run
    if path.endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(batch):
            return session.run(None, {name: np.asarray(batch, np.float32)})[0]

        return run
    raise ExportError(f"{path}: not an exported model (a SavedModel folder, .tflite or .onnx)")
