"""Milliseconds per photo for the transform net on a JAX accelerator, batch 1, 256 to 4096 px.

    KERAS_BACKEND=jax python benchmarks/gpu_stylize_speed.py [--model checkpoints/starry.keras]
                                                          [--sizes 256 512 1024 2048 4096]

Two numbers per size and precision (one JSON line each), each the median of ``--repeats`` runs
after a warm-up run that pays compilation:

- ``device_ms``: the jit-compiled forward pass on an image already on the device, result left
  there (what a GPU service that keeps data on the device pays);
- ``host_ms``: uint8 photo from host memory in, uint8 stylized photo back in host memory
  (what ``eval.py`` pays per photo, minus JPEG coding).

Without ``--model`` randomly initialised nets of each ``--width`` are timed (speed does not depend
on the weights); with it, that model at its own width.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402


def build(model_path, width, policy):
    keras.mixed_precision.set_dtype_policy(policy)
    from transformnet.network import build_transform_net

    net = build_transform_net(width)
    if model_path:
        net.set_weights(keras.saving.load_model(model_path, safe_mode=True).get_weights())
    keras.mixed_precision.set_dtype_policy("float32")
    return net


def timed(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def measure(net, size, repeats):
    tv = [v.value for v in net.trainable_variables]
    ntv = [v.value for v in net.non_trainable_variables]

    @jax.jit
    def forward(tv, ntv, x):
        y, _ = net.stateless_call(tv, ntv, x.astype("float32"))
        return y

    @jax.jit
    def forward_uint8(tv, ntv, x):
        return jnp.round(forward(tv, ntv, x)).astype("uint8")

    photo = np.random.default_rng(size).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    on_device = jax.device_put(photo)
    device_ms = timed(lambda: forward(tv, ntv, on_device).block_until_ready(), repeats)
    host_ms = timed(lambda: np.asarray(forward_uint8(tv, ntv, jax.device_put(photo))), repeats)
    return device_ms, host_ms


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a .keras transform net (default: random weights)")
    p.add_argument("--width", type=float, nargs="+", default=[1.0, 0.5])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--policy", nargs="+", default=["float32", "mixed_bfloat16"])
    p.add_argument("--repeats", type=int, default=20)
    a = p.parse_args()
    device = jax.devices()[0].device_kind
    if a.model:
        from transformnet import model_info

        a.width = [model_info(a.model)["model"]["width"]]
    for width in a.width:
        for policy in a.policy:
            net = build(a.model, width, policy)
            for size in a.sizes:
                device_ms, host_ms = measure(net, size, a.repeats if size <= 2048 else 5)
                print(json.dumps({"device": device, "width": width, "policy": policy, "size": size,
                                  "device_ms": round(device_ms, 2), "host_ms": round(host_ms, 2)}), flush=True)


if __name__ == "__main__":
    main()
