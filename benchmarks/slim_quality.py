"""What the slim network (width 0.5) costs in quality: train it and the full-width network on
the same painting, photos, seed and steps, and compare their validation losses.

The loss is the quantity both were trained to minimise, measured on held-out photos, so a
higher value for the slim net is its quality cost in the trainer's own terms (issue 5).
Prints one JSON line per width. Example (CPU, minutes):

    python benchmarks/slim_quality.py --data ../shared/photos --style ../shared/styles/starry_night.jpg \
        --steps 300 --image-size 128
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transformnet.training import parse_settings, train  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5])
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train.py flags")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for width in a.widths:
            name = f"w{width:g}"
            argv = [
                "--style", a.style, "--name", name, "--data", a.data, "--steps", str(a.steps),
                "--image-size", str(a.image_size), "--batch-size", str(a.batch_size),
                "--width", str(width), "--val-every", str(a.steps), "--checkpoint-every", str(a.steps),
                "--log-every", str(max(1, a.steps // 10)), "--logdir", os.path.join(tmp, "runs", name),
                "--output", os.path.join(tmp, "models"), *a.extra,
            ]
            meta = train(parse_settings(argv), out=lambda line: print(line, file=sys.stderr))
            val = meta["validation_losses"]
            print(json.dumps({
                "width": width, "steps": a.steps, "image_size": a.image_size, "batch": a.batch_size,
                "validation_total": round(val["total"], 3), "validation_content": round(val["content"], 3),
                "validation_style_weighted": round(val.get("weighted/style", float("nan")), 3),
                "wall_time_s": round(meta["wall_time_s"], 1),
            }), flush=True)


if __name__ == "__main__":
    main()
