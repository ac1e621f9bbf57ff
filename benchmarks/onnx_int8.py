"""int8 lever (issue 12): the model as ONNX, statically quantised with onnxruntime's own tools.

``quantized_runner(model, photos_dir, workdir)`` exports the model (``transformnet.export``,
tf2onnx), runs ``quant_pre_process`` and ``quantize_static`` (QDQ format, per-channel int8
weights, uint8 activations, MinMax calibration on ``CALIBRATION_PHOTOS`` training photos, only
the convolutions quantised: instance norm and tanh stay float) and returns
``run(photo) -> float32 (H, W, 3)`` on onnxruntime's CPU provider. onnxruntime picks its
VNNI/AMX int8 kernels itself. Used by stylize_speed.py/eval_speed.py and stylize_quality.py;
not by eval.py (RESULTS.md: slower than the TensorFlow path, so it is not shipped).
"""

import os

import numpy as np

CALIBRATION_PHOTOS = 32


def quantize(onnx_path, photos_dir, out_path, count=CALIBRATION_PHOTOS):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from transformnet.images import load_image
    from transformnet.pipeline import expand_images

    import onnxruntime

    name = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    everything = expand_images([photos_dir])[0]
    photos = everything[:: max(1, len(everything) // count)][:count]  # spread over the folder

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.items = iter(photos)

        def get_next(self):
            path = next(self.items, None)
            return None if path is None else {name: load_image(path)[None].astype(np.float32)}

    prepared = out_path + ".pre.onnx"
    quant_pre_process(onnx_path, prepared, skip_symbolic_shape=True)
    quantize_static(
        prepared, out_path, Photos(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
    )
    os.remove(prepared)
    return out_path


def onnx_runner(path, threads=0):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda photo: session.run(None, {name: np.asarray(photo, np.float32)[None]})[0][0]


def export_onnx(model, workdir, name="model"):
    from transformnet.export import export_model

    return export_model(model, workdir, name, "onnx", force=True)


def quantized_runner(model, photos_dir, workdir, threads=0):
    path = export_onnx(model, workdir)
    return onnx_runner(quantize(path, photos_dir, os.path.join(workdir, "model.int8.onnx")), threads)
