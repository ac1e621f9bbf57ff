#!/usr/bin/env python3
"""Seconds per photo for exactly what ``eval.py --model`` does, and for each speed lever.

    python benchmarks/eval_speed.py [--widths 1.0 0.5] [--sizes 256 512 1024]
                                    [--levers default eager ...] [--big] [--video]

Per photo, as eval.py: the model is loaded once (``load_transform_model``), then each call is
``pipeline.stylize_photo(model, photo)`` (network + conversion to uint8; decoding excluded) on
a random square RGB photo, batch 1. Each cell is the median of ``--repeats`` calls after one
warm-up call (which pays tracing). Levers (one subprocess each: backends, thread counts and
oneDNN modes are fixed per process):

- ``default``: eval.py as shipped (compiled per shape, fused norm, ``--precision auto``).
- ``float32``: the same with ``--precision float32``.
- ``eager``: the previous ``fast.stylize_array`` (``model(batch)``), ``predict_on_batch``: the
  previous eval.py; ``compiled``: a compiled function per shape of the unchanged model.
- ``fpmath-bf16``: float32 graph with oneDNN's bfloat16 math mode (TF_SET_ONEDNN_FPMATH_MODE).
- ``ort-float32`` / ``ort-int8``: onnxruntime on the tf2onnx export / its static int8
  quantisation (``onnx_int8.py``), plus uint8 conversion.
- ``jax``: the default path under KERAS_BACKEND=jax.
- ``LEVER@N``: the same with N CPU threads (TensorFlow intra-op / onnxruntime intra-op).

``--big`` adds a 6000x4000 (24 MP, tiled) photo, ``--video`` 1080p frames/s (network only, and
the whole ``--video`` command on a 2-second clip) for the ``default`` lever.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_time(fn, arg, repeats):
    import numpy as np

    fn(arg)  # warm-up: tracing, compilation, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def photo_runner(lever, model, work):
    """lever -> callable(uint8 photo) -> uint8 stylized photo."""
    import numpy as np

    from transformnet.images import to_uint8
    from transformnet.pipeline import Options, stylize_photo

    if lever in ("default", "jax"):
        return lambda photo: stylize_photo(model, photo)
    if lever in ("float32", "fpmath-bf16"):  # fpmath-bf16: float32 graph, oneDNN rounds to bf16
        return lambda photo: stylize_photo(model, photo, Options(precision="float32"))
    if lever == "eager":
        return lambda photo: to_uint8(np.asarray(model(photo[None].astype("float32"), training=False))[0])
    if lever == "predict_on_batch":
        return lambda photo: to_uint8(model.predict_on_batch(photo[None].astype("float32"))[0])
    if lever == "compiled":
        from transformnet.inference import CompiledModel

        compiled = CompiledModel(model)
        return lambda photo: to_uint8(compiled(photo[None])[0])
    if lever.startswith("ort-"):
        import onnx_int8

        path = onnx_int8.export_onnx(model, work)
        if lever == "ort-int8":
            path = onnx_int8.quantize(path, os.path.join(HERE, "..", "..", "shared", "photos"), path + ".int8.onnx")
        run = onnx_int8.onnx_runner(path, int(os.environ.get("BENCH_THREADS", "0")))
        return lambda photo: to_uint8(run(photo))
    raise SystemExit(f"unknown lever {lever!r}")


def child(args):
    import keras
    import numpy as np

    threads = int(os.environ.get("BENCH_THREADS", "0"))
    if threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    from transformnet.fast import load_transform_model
    from transformnet.network import build_transform_net

    results = {}
    with tempfile.TemporaryDirectory() as work:
        for width in args.widths:
            keras.utils.set_random_seed(0)
            path = os.path.join(work, f"w{width}.keras")
            build_transform_net(width=width).save(path)
            model = load_transform_model(path)  # as eval.py: load once
            run = photo_runner(args.levers[0], model, work)
            cells = {}
            for size in args.sizes:
                photo = np.random.default_rng(size).integers(0, 256, (size, size, 3), dtype=np.uint8)
                cells[str(size)] = [median_time(run, photo, args.repeats), os.getloadavg()[0]]
                print(f"  {args.levers[0]} w{width} {size}px {cells[str(size)][0]:.4f} s (load {cells[str(size)][1]:.2f})",
                      file=sys.stderr, flush=True)
            if args.big:
                photo = np.random.default_rng(24).integers(0, 256, (4000, 6000, 3), dtype=np.uint8)
                cells["24MP"] = [median_time(run, photo, 1), os.getloadavg()[0]]
                print(f"  24 MP: {cells['24MP'][0]:.2f} s", file=sys.stderr, flush=True)
            if args.video:
                frame = np.random.default_rng(1080).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
                cells["1080p fps"] = [1.0 / median_time(run, frame, args.repeats), os.getloadavg()[0]]
                cells["1080p video fps"] = [video_fps(run, work), os.getloadavg()[0]]
                print(f"  1080p: {cells['1080p fps'][0]:.2f} frames/s network, "
                      f"{cells['1080p video fps'][0]:.2f} whole --video", file=sys.stderr, flush=True)
            results[str(width)] = cells
    print(json.dumps(results))


def video_fps(run, work, seconds=2, fps=25):
    """Frames per second of ``video.stylize_video`` (decode + network + encode) on a clip of
    moving gradients, after the warm-up the caller already did."""
    import imageio_ffmpeg
    import numpy as np

    from transformnet.video import stylize_video

    source = os.path.join(work, "clip.mp4")
    y, x = np.mgrid[0:1080, 0:1920]
    writer = imageio_ffmpeg.write_frames(source, (1920, 1080), fps=fps, ffmpeg_log_level="error")
    writer.send(None)
    for i in range(seconds * fps):
        frame = np.stack([(x + 8 * i) % 256, (y + 4 * i) % 256, (x + y) % 256], -1).astype(np.uint8)
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    start = time.perf_counter()
    frames = stylize_video(source, os.path.join(work, "out.mp4"), run, progress=False, replace=True)
    return frames / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--levers", nargs="+", default=["default"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--big", action="store_true", help="add a 24 MP photo (default lever)")
    p.add_argument("--video", action="store_true", help="add 1080p frames/s (default lever)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    table = {}
    for lever in args.levers:
        name, _, threads = lever.partition("@")
        env = dict(os.environ, BENCH_THREADS=threads or "0")
        env["KERAS_BACKEND"] = "jax" if name == "jax" else "tensorflow"
        if name == "fpmath-bf16":
            env["TF_SET_ONEDNN_FPMATH_MODE"] = "BF16"
        extra = (["--big"] if args.big and name == "default" else []) + (["--video"] if args.video and name == "default" else [])
        cmd = [sys.executable, __file__, "--child", "--levers", name, "--repeats", str(args.repeats),
               "--sizes", *map(str, args.sizes), "--widths", *map(str, args.widths), *extra]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{lever}: failed: {done.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
            continue
        table[lever] = json.loads(done.stdout.strip().splitlines()[-1])
    columns = [str(s) for s in args.sizes] + (["24MP"] if args.big else []) + (["1080p fps", "1080p video fps"] if args.video else [])
    print(f"CPU: {os.cpu_count()} cores; cells: seconds per photo (frames/s for video), (load average)")
    print()
    print("| lever | width | " + " | ".join(c if not c.isdigit() else f"{c} px" for c in columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for width in args.widths:
        for lever, widths in table.items():
            cells = widths[str(width)]
            row = [f"{cells[c][0]:.3f} ({cells[c][1]:.1f})" if c in cells else "" for c in columns]
            print(f"| {lever} | {width:g} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
