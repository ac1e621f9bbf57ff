"""The slow path (Gatys) on a JAX accelerator, for two jobs of issue 8:

``sweep``: choose a painting's style weight before spending GPU minutes on training. For each
painting and style weight, optimise a few photos and write one contact sheet per painting
(rows: weights, columns: photos) to look at.

    KERAS_BACKEND=jax python benchmarks/gpu_slow_path.py sweep --styles a.jpg b.jpg \
        --weights 10 30 100 --photos p1.jpg p2.jpg --size 384 --out sheets/

``compare``: a trained fast model's loss beside the slow path's after 50, 100 and 300 Adam
iterations, on the same photos with the same losses and weights (the model's metadata). Prints
a Markdown table and writes JSON lines.

    KERAS_BACKEND=jax python benchmarks/gpu_slow_path.py compare --model checkpoints/starry.keras \
        --style starry_night.jpg --photos *.jpg --size 512 --json out.jsonl

The loss weights are arguments of ONE jit-compiled objective (per photo shape), unlike
``transformnet.slow`` whose objective bakes them in; that is what makes a sweep of many weights
cost one compilation. The loss terms are ``losses.PerceptualLoss``'s own. The Adam update is
written out in jnp so the pixels stay on the device between jitted gradient calls; it is the update of
``slow.stylize``'s ``keras.optimizers.Adam`` (learning rate ``config.SLOW_LEARNING_RATE``, best
iterate kept), up to where the 1e-8 epsilon enters.
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
import numpy as np  # noqa: E402

from transformnet import config  # noqa: E402
from transformnet.images import load_image, resize_longer_side, save_image, to_uint8  # noqa: E402
from transformnet.losses import PerceptualLoss  # noqa: E402
from transformnet.vgg import LossNetwork  # noqa: E402

CHECKPOINTS = tuple(int(n) for n in os.environ.get("SLOW_CHECKPOINTS", "50 100 300").split())


class Objective:
    """``value_and_grad(pixels, content_features, grams, weights)`` compiled once per shape."""

    def __init__(self, loss_net):
        self.loss_net = loss_net
        unit = PerceptualLoss(loss_net, None, content_weight=1.0, style_weight=1.0, tv_weight=1.0)
        self.unit = unit

        def total(pixels, content_features, grams, weights):
            unit.style_grams = grams
            losses = unit(pixels[None], content_features=content_features)
            cw, sw, tw = weights[0], weights[1], weights[2]
            value = cw * losses["content"] + sw * losses["style"] + tw * losses["tv"]
            return value, {"content": cw * losses["content"], "style": sw * losses["style"], "tv": tw * losses["tv"]}

        self.total = jax.jit(total)
        self.grad = jax.jit(jax.value_and_grad(total, has_aux=True))

    def grams(self, painting):
        return {k: jnp.asarray(v) for k, v in PerceptualLoss.style_targets(self.loss_net, painting).items()}

    def content(self, photo):
        return self.unit.content_targets(jnp.asarray(photo[None], "float32"))

    def loss(self, pixels, content_features, grams, weights):
        value, parts = self.total(jnp.asarray(pixels, "float32"), content_features, grams, weights)
        return float(value), {k: float(v) for k, v in parts.items()}

    def optimise(self, photo, content_features, grams, weights, iterations):
        """Adam from the photo (as ``slow.stylize``); returns (best image, {N: best loss up to N})."""
        x = jnp.asarray(photo, "float32")
        m, v = jnp.zeros_like(x), jnp.zeros_like(x)
        lr, b1, b2, eps = config.SLOW_LEARNING_RATE, 0.9, 0.999, 1e-8
        best, best_x, at = np.inf, x, {}
        for t in range(1, iterations + 2):
            (value, _), g = self.grad(x, content_features, grams, weights)
            value = float(value)
            if value < best:
                best, best_x = value, x
            if t - 1 in CHECKPOINTS or t - 1 == iterations:
                at[t - 1] = best  # best iterate after t-1 updates
            if t > iterations:
                break
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            x = jnp.clip(x - lr * (m / (1 - b1**t)) / (jnp.sqrt(v / (1 - b2**t)) + eps), 0.0, 255.0)
        return np.asarray(best_x), at


def read(path, size):
    return resize_longer_side(load_image(path), size).astype("float32")


def sweep(a, objective):
    os.makedirs(a.out, exist_ok=True)
    photos = [read(p, a.size) for p in a.photos]
    contents = [objective.content(p) for p in photos]
    for style in a.styles:
        grams = objective.grams(resize_longer_side(load_image(style), a.style_size).astype("float32"))
        rows = []
        for sw in a.weights:
            weights = jnp.asarray([a.content_weight, sw, a.tv_weight], "float32")
            row = []
            for photo, content in zip(photos, contents):
                image, at = objective.optimise(photo, content, grams, weights, a.iterations)
                row.append(to_uint8(image))
                print(json.dumps({"style": os.path.basename(style), "style_weight": sw, "loss": at}), flush=True)
            rows.append(row)
        sheet = contact_sheet(rows)
        save_image(os.path.join(a.out, os.path.splitext(os.path.basename(style))[0] + ".jpg"), sheet, quality=90, replace=True)


def contact_sheet(rows):
    """Rows of images (any sizes) -> one array, each cell padded to the largest cell."""
    h = max(i.shape[0] for r in rows for i in r)
    w = max(i.shape[1] for r in rows for i in r)
    sheet = np.full((h * len(rows), w * len(rows[0]), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            sheet[r * h : r * h + image.shape[0], c * w : c * w + image.shape[1]] = image
    return sheet


def compare(a, objective):
    from transformnet.fast import load_transform_model
    from transformnet.model_file import read_model_metadata

    settings = read_model_metadata(a.model)["settings"]
    model = load_transform_model(a.model)
    grams = objective.grams(resize_longer_side(load_image(a.style), settings["style_size"]).astype("float32"))
    weights = jnp.asarray([settings["content_weight"], settings["style_weight"], settings["tv_weight"]], "float32")
    rows = []
    for path in a.photos:
        photo = read(path, a.size)
        content = objective.content(photo)
        start = time.perf_counter()
        fast = np.asarray(model(photo[None], training=False))[0]
        fast_loss, parts = objective.loss(fast, content, grams, weights)
        _, at = objective.optimise(photo, content, grams, weights, max(CHECKPOINTS))
        row = {"photo": os.path.basename(path), "size": list(photo.shape[:2]), "fast": fast_loss, "fast_parts": parts,
               **{f"slow_{n}": at[n] for n in CHECKPOINTS}, "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if a.json:
            with open(a.json, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
    print("| photo | size | fast model | " + " | ".join(f"slow {n}" for n in CHECKPOINTS) + " |")
    print("|---|---|---:|" + "---:|" * len(CHECKPOINTS))
    for r in rows:
        print(f"| {r['photo']} | {r['size'][1]}x{r['size'][0]} | {r['fast']:.2f} | "
              + " | ".join(f"{r[f'slow_{n}']:.2f}" for n in CHECKPOINTS) + " |")
    means = {k: float(np.mean([r[k] for r in rows])) for k in ["fast"] + [f"slow_{n}" for n in CHECKPOINTS]}
    print(f"| **mean** | | **{means['fast']:.2f}** | " + " | ".join(f"{means[f'slow_{n}']:.2f}" for n in CHECKPOINTS) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("sweep", "compare"))
    p.add_argument("--photos", nargs="+", required=True)
    p.add_argument("--size", type=int, default=512, help="photos' longer side")
    p.add_argument("--vgg-weights", default=config.VGG_WEIGHTS)
    p.add_argument("--styles", nargs="+", help="sweep: paintings")
    p.add_argument("--weights", type=float, nargs="+", default=[10.0, 30.0, 100.0], help="sweep: style weights")
    p.add_argument("--content-weight", type=float, default=config.CONTENT_WEIGHT)
    p.add_argument("--tv-weight", type=float, default=config.TV_WEIGHT)
    p.add_argument("--style-size", type=int, default=config.STYLE_SIZE)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--out", default="sweep", help="sweep: folder of contact sheets")
    p.add_argument("--model", help="compare: the fast model (.keras)")
    p.add_argument("--style", help="compare: the painting it was trained on")
    p.add_argument("--json", help="compare: append one JSON line per photo here")
    a = p.parse_args()
    objective = Objective(LossNetwork(weights=a.vgg_weights))
    sweep(a, objective) if a.mode == "sweep" else compare(a, objective)


if __name__ == "__main__":
    main()
