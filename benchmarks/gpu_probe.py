"""Probe: images/s of one jit-compiled JAX training step (transform net + VGG16 losses).

Synthetic data already on the device, so this is the compute ceiling the real trainer
(train.py, with its input pipeline) should approach. Prints one JSON line per setting.
Usage: KERAS_BACKEND=jax python benchmarks/gpu_probe.py --vgg-weights W.npz --width 0.5 --batch 8 16 32
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from transformnet.losses import PerceptualLoss  # noqa: E402
from transformnet.network import build_transform_net  # noqa: E402
from transformnet.vgg import LossNetwork  # noqa: E402


def probe(policy, batch, size, vgg_weights, steps, width):
    keras.mixed_precision.set_dtype_policy(policy)
    net = build_transform_net(width=width)
    loss_net = LossNetwork(weights=vgg_weights)
    style = np.random.default_rng(0).uniform(0, 255, (1, 512, 512, 3)).astype("float32")
    loss_fn = PerceptualLoss(loss_net, PerceptualLoss.style_targets(loss_net, style))
    opt = keras.optimizers.Adam(1e-3)
    opt.build(net.trainable_variables)
    tv = [v.value for v in net.trainable_variables]
    ntv = [v.value for v in net.non_trainable_variables]
    ov = [v.value for v in opt.variables]

    def compute(tv, ntv, x):
        y, _ = net.stateless_call(tv, ntv, x)
        losses = loss_fn(y, content_images=x)
        return losses["total"], losses

    grad_fn = jax.value_and_grad(compute, has_aux=True)

    @jax.jit
    def step(tv, ntv, ov, x):
        (_, losses), grads = grad_fn(tv, ntv, x)
        tv, ov = opt.stateless_apply(ov, grads, tv)
        return tv, ov, losses["total"]

    xs = [jax.device_put(np.random.default_rng(i).uniform(0, 255, (batch, size, size, 3)).astype("float32")) for i in range(4)]
    t0 = time.time()
    tv, ov, loss = step(tv, ntv, ov, xs[0])
    loss.block_until_ready()
    compile_s = time.time() - t0
    for i in range(3):
        tv, ov, loss = step(tv, ntv, ov, xs[i % 4])
    loss.block_until_ready()
    t0 = time.time()
    for i in range(steps):
        tv, ov, loss = step(tv, ntv, ov, xs[i % 4])
    loss.block_until_ready()
    dt = time.time() - t0
    return {"policy": policy, "width": width, "batch": batch, "size": size, "images_per_s": round(steps * batch / dt, 1),
            "step_ms": round(1000 * dt / steps, 2), "compile_s": round(compile_s, 1), "loss": float(loss),
            "device": str(jax.devices()[0])}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--vgg-weights", required=True)
    p.add_argument("--batch", type=int, nargs="+", default=[4, 16])
    p.add_argument("--policy", nargs="+", default=["mixed_bfloat16", "float32"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--width", type=float, default=1.0, help="transform net width (0.5: the shipped slim net)")
    a = p.parse_args()
    for policy in a.policy:
        for batch in a.batch:
            print(json.dumps(probe(policy, batch, a.size, a.vgg_weights, a.steps, a.width)), flush=True)
