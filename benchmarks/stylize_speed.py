#!/usr/bin/env python3
"""Seconds per image for the transform net on this machine's CPU, per runtime and size.

    python benchmarks/stylize_speed.py [--sizes 256 512 1024 2048] [--widths 1.0 0.5]
                                       [--runtimes keras-tf keras-jax savedmodel tflite onnx]

Randomly initialised networks (speed does not depend on the weights). Each cell is the best
of ``--repeats`` timed runs after one warm-up run (which also pays tracing/compilation), for
one square RGB image of that side, batch 1. Prints a Markdown table; ``keras-jax`` runs in a
subprocess because the Keras backend is fixed at import.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def time_fn(fn, batch, repeats):
    fn(batch)  # warm-up: tracing, compilation, allocation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        best = min(best, time.perf_counter() - start)
    return best


def keras_runner(model):
    return lambda batch: model.predict_on_batch(batch)


def measure(runtime, width, sizes, repeats, workdir):
    import numpy as np

    import keras

    from transformnet.network import build_transform_net

    keras.utils.set_random_seed(0)
    model = build_transform_net(width=width)
    if runtime.startswith("keras"):
        run = keras_runner(model)
    else:
        from transformnet import export

        path = export.export_model(model, workdir, f"w{width}", runtime, force=True)
        run = export.load_runner(path)
    results = {}
    for size in sizes:
        batch = np.random.default_rng(size).uniform(0, 255, (1, size, size, 3)).astype("float32")
        results[size] = time_fn(run, batch, repeats if size <= 1024 else 1)
        print(f"  {runtime} width {width} {size}px: {results[size]:.3f} s", file=sys.stderr, flush=True)
    return results


def model_cost(width):
    """(parameters, multiply-accumulates per output pixel) of the transform net at ``width``."""
    import keras

    from transformnet.network import build_transform_net

    model = build_transform_net(width=width)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(model.inputs, [c.output for c in convs])
    side = 64
    macs = 0
    for conv, spec in zip(convs, probe.compute_output_spec(keras.KerasTensor((1, side, side, 3)))):
        kh, kw, cin, cout = conv.kernel.shape
        macs += spec.shape[1] * spec.shape[2] * kh * kw * cin * cout
    return model.count_params(), macs / side**2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--runtimes", nargs="+", default=["keras-tf", "keras-jax", "savedmodel", "tflite", "onnx"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help=argparse.SUPPRESS)  # internal: child process output
    args = parser.parse_args()

    if args.json:  # child: one runtime, results as JSON on stdout
        with tempfile.TemporaryDirectory() as work:
            out = {str(w): measure(args.runtimes[0], w, args.sizes, args.repeats, work) for w in args.widths}
        print(json.dumps(out))
        return

    table = {}
    for runtime in args.runtimes:
        env = dict(os.environ, KERAS_BACKEND="jax" if runtime == "keras-jax" else "tensorflow")
        cmd = [sys.executable, __file__, "--json", "1", "--runtimes", runtime, "--repeats", str(args.repeats),
               "--sizes", *map(str, args.sizes), "--widths", *map(str, args.widths)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{runtime}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        table[runtime] = json.loads(done.stdout.strip().splitlines()[-1])
    for width in args.widths:
        params, macs = model_cost(width)
        print(f"width {width}: {params:,} parameters, {macs:,.0f} multiply-adds per pixel "
              f"({2 * macs * 1024**2 / 1e9:.0f} GFLOP for a 1024x1024 image)")
    load = os.getloadavg()
    print(f"CPU: {os.cpu_count()} cores; load average after the run {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
    print()
    print("| runtime | width | " + " | ".join(f"{s} px" for s in args.sizes) + " |")
    print("|---|---|" + "---:|" * len(args.sizes))
    for width in args.widths:
        for runtime, widths in table.items():
            cells = widths[str(width)]
            print(f"| {runtime} | {width} | " + " | ".join(f"{cells[str(s)]:.3f}" for s in args.sizes) + " |")


if __name__ == "__main__":
    main()
