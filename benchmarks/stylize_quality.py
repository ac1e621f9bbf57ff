#!/usr/bin/env python3
"""What a lossy inference path costs in quality: perceptual loss vs float32 on unseen photos.

    python benchmarks/stylize_quality.py --model MODEL.keras [--photos ../shared/content]
        [--count 20] [--size 512] [--paths float32 bfloat16 int8] [--save DIR]

Each photo (sorted by name, the first ``--count``; none is a training photo) is scaled to
``--size`` px on its longer side and stylized by every path; the result is scored with
``transformnet.losses.PerceptualLoss`` built from the model's own metadata (painting, style
size, content/style/TV weights, VGG weights), i.e. the quantity the model was trained to
minimise. Prints a Markdown table: mean losses per path, their change relative to float32, and
the pixel difference to float32. ``--save DIR`` writes every result as PNG (look for banding in
skies and other smooth areas). ``int8`` is onnxruntime's static quantisation
(``benchmarks/onnx_int8.py``), calibrated on training photos, not these.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")


def stylizers(model, path, paths, calibration, workdir):
    """name -> callable(uint8 photo) -> float32 stylized, for each requested path."""
    from transformnet.inference import Stylizer

    out = {}
    for name in paths:
        if name in ("float32", "bfloat16"):
            out[name] = Stylizer(model, name)
        elif name == "int8":
            from onnx_int8 import quantized_runner

            out[name] = quantized_runner(model, calibration, workdir)
        else:
            raise SystemExit(f"unknown path {name!r}")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--photos", default=os.path.join(SHARED, "content"))
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--paths", nargs="+", default=["float32", "bfloat16", "int8"])
    p.add_argument("--calibration", default=os.path.join(SHARED, "photos"), help="int8 calibration photos")
    p.add_argument("--save", help="write every stylized photo here as PNG")
    a = p.parse_args()

    import tempfile

    import numpy as np

    from transformnet.fast import load_transform_model
    from transformnet.images import load_image, resize_to_max_side, save_image
    from transformnet.losses import PerceptualLoss
    from transformnet.model_file import read_model_metadata
    from transformnet.pipeline import expand_images
    from transformnet.vgg import LossNetwork

    meta = read_model_metadata(a.model)
    settings = meta["settings"]
    model = load_transform_model(a.model)
    loss_net = LossNetwork(weights=settings["vgg_weights"])
    style = settings["style"]
    if not os.path.exists(style):
        style = os.path.join(SHARED, "styles", meta["style_file"])
    painting = resize_to_max_side(load_image(style), settings["style_size"])
    loss_fn = PerceptualLoss(
        loss_net,
        PerceptualLoss.style_targets(loss_net, painting),
        content_weight=settings["content_weight"],
        style_weight=settings["style_weight"],
        tv_weight=settings["tv_weight"],
    )
    photos = expand_images([a.photos])[0][: a.count]
    keys = ("total", "weighted/content", "weighted/style", "weighted/tv")
    with tempfile.TemporaryDirectory() as work:
        runners = stylizers(model, a.model, a.paths, a.calibration, work)
        sums = {name: dict.fromkeys(keys, 0.0) for name in runners}
        diffs = {name: [] for name in runners}
        for photo_path in photos:
            photo = resize_to_max_side(load_image(photo_path), a.size)
            reference = None
            for name, run in runners.items():
                result = np.clip(np.asarray(run(photo), np.float32), 0, 255)
                rounded = np.floor(result + 0.5)  # what is written to the file
                losses = loss_fn(rounded[None], photo[None].astype("float32"))
                for key in keys:
                    sums[name][key] += float(losses[key]) / len(photos)
                if reference is None:
                    reference = rounded
                diffs[name].append(np.abs(rounded - reference))
                if a.save:
                    os.makedirs(a.save, exist_ok=True)
                    stem = os.path.splitext(os.path.basename(photo_path))[0]
                    save_image(os.path.join(a.save, f"{stem}_{name}.png"), rounded.astype(np.uint8), replace=True)
            print(f"  {os.path.basename(photo_path)} {photo.shape[1]}x{photo.shape[0]}", file=sys.stderr, flush=True)
    base = sums[next(iter(runners))]["total"]
    print(f"{len(photos)} photos from {a.photos}, longer side {a.size} px; model {a.model}")
    print()
    print("| path | total | vs first | content | style | tv | mean abs px diff | 99.9th pct | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in sums.items():
        d = np.concatenate([x.ravel() for x in diffs[name]])
        print(f"| {name} | {s['total']:.3f} | {100 * (s['total'] / base - 1):+.2f} % | {s['weighted/content']:.3f} | "
              f"{s['weighted/style']:.3f} | {s['weighted/tv']:.4f} | {d.mean():.3f} | {np.percentile(d, 99.9):.0f} | {d.max():.0f} |")


if __name__ == "__main__":
    main()
