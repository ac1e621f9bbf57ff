"""Does the jit-compiled loss network give finite, float32-close features in mixed_bfloat16 here?

A 10-second check at the start of a GPU session, before minutes go into training in that
precision. Why: on JAX 0.11.2's CPU backend the jitted VGG16 in mixed_bfloat16 returned inf from
relu2_2 on (eagerly, and on JAX 0.10.2, it is finite); the training loss stayed finite, so only
the validation losses showed it, as NaN, after the run. Exit status 0: every layer finite and
within ``--tolerance`` (relative, mean absolute) of float32; 3: not, and the session falls back
to float32 (gpu_session.sh). Prints one JSON line.

Usage: KERAS_BACKEND=jax python benchmarks/gpu_check_precision.py --vgg-weights W.npz --photos DIR
"""

import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from transformnet.data import centre_crop, decode_photo  # noqa: E402
from transformnet.vgg import LossNetwork  # noqa: E402


def features(policy, batch, weights):
    keras.mixed_precision.set_dtype_policy(policy)
    net = LossNetwork(weights=weights)
    out = jax.jit(lambda x: net(x))(batch)
    return {name: np.asarray(value, np.float32) for name, value in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vgg-weights", required=True)
    parser.add_argument("--photos", required=True, help="a folder of JPEG photos (the first --count are used)")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    paths = sorted(glob.glob(os.path.join(args.photos, "*.jpg")))[: args.count]
    batch = np.stack([centre_crop(decode_photo(p, args.size), args.size) for p in paths]).astype("float32")
    exact = features("float32", batch, args.vgg_weights)
    mixed = features("mixed_bfloat16", batch, args.vgg_weights)
    report = {"device": str(jax.devices()[0]), "jax": jax.__version__, "photos": len(paths), "layers": {}}
    good = True
    for name, value in exact.items():
        finite = bool(np.isfinite(mixed[name]).all())
        error = float(np.abs(mixed[name] - value).mean() / max(np.abs(value).mean(), 1e-12)) if finite else None
        report["layers"][name] = {"finite": finite, "relative_error": error}
        good = good and finite and error <= args.tolerance
    report["mixed_bfloat16_ok"] = good
    print(json.dumps(report), flush=True)
    return 0 if good else 3


if __name__ == "__main__":
    sys.exit(main())
