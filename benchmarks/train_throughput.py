"""Training images/s of the real train step (transformnet.training's Stepper), synthetic data.

    python benchmarks/train_throughput.py --backend jax --precision mixed_bfloat16 --batch-size 16 --image-size 256

Uses random uint8 photos already in host memory (so it measures the compiled step, not the input
pipeline: see data_throughput.py for that), excludes ``--warmup`` steps (compilation), and prints
ONE JSON line. The loss is fetched only at the end of the timed steps, exactly as the trainer
fetches it only every --log-every steps.
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=("jax", "tensorflow"), default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"), default="float32")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation)")
    p.add_argument("--vgg-weights", default=os.path.join(ROOT, "..", "shared", "weights", "vgg16_notop_block1-4_fp16.npz"))
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend

    import keras
    import numpy as np

    from transformnet.losses import PerceptualLoss
    from transformnet.network import build_transform_net
    from transformnet.training import JaxStepper, TensorFlowStepper, loss_names, seed_everything
    from transformnet.vgg import LossNetwork

    keras.mixed_precision.set_dtype_policy(args.precision)
    seed_everything(0, args.backend)
    rng = np.random.default_rng(0)
    loss_net = LossNetwork(weights=args.vgg_weights)
    style = rng.integers(0, 256, (256, 256, 3)).astype("float32")
    grams = {k: keras.ops.convert_to_tensor(np.asarray(keras.ops.convert_to_numpy(v), "float32"))
             for k, v in PerceptualLoss.style_targets(loss_net, style).items()}
    loss_fn = PerceptualLoss(loss_net, grams)
    model = build_transform_net(args.width)
    optimizer = keras.optimizers.Adam(1e-3)
    if args.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    stepper = (JaxStepper if args.backend == "jax" else TensorFlowStepper)(
        model, loss_fn, loss_net, optimizer, loss_names(loss_fn.style_layers))
    batches = [rng.integers(0, 256, (args.batch_size, args.image_size, args.image_size, 3), dtype=np.uint8) for _ in range(4)]
    start = time.perf_counter()
    for i in range(args.warmup):
        stepper.step(batches[i % 4])
    stepper.mean_losses()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(args.steps):
        stepper.step(batches[i % 4])
    losses = stepper.mean_losses()  # waits for the device
    seconds = time.perf_counter() - start
    try:
        if args.backend == "jax":
            import jax

            device = str(jax.devices()[0].device_kind)
        else:
            import tensorflow as tf

            device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    except Exception:  # noqa: BLE001
        device = "unknown"
    print(json.dumps({
        "backend": args.backend, "precision": args.precision, "batch_size": args.batch_size,
        "image_size": args.image_size, "width": args.width, "device": device, "cpu_count": os.cpu_count(),
        "steps": args.steps, "images_per_s": round(args.steps * args.batch_size / seconds, 2),
        "step_ms": round(1000 * seconds / args.steps, 2), "warmup_s": round(compile_s, 1),
        "final_total_loss": round(losses["total"], 3),
    }))


if __name__ == "__main__":
    main()
