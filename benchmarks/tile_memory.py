#!/usr/bin/env python3
"""Peak memory and time of stylizing a 6000x4000 photo through eval.py (tiled automatically).

    python benchmarks/tile_memory.py [--width 1.0] [--side 6000x4000] [--tile PX]

Makes a 24-megapixel JPEG by upscaling a ../shared content photo (or noise when absent),
saves a randomly initialised transform net of the given width, then runs
``/usr/bin/time -v python eval.py --model M --image big.jpg --output out.jpg`` and reports
"Maximum resident set size" and wall time, and checks the output has the input's size.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--side", default="6000x4000")
    parser.add_argument("--tile", type=int, default=None)
    args = parser.parse_args()
    w, h = map(int, args.side.split("x"))

    import numpy as np
    from PIL import Image

    from transformnet.network import build_transform_net

    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(ROOT, "..", "shared", "content", "chicago.jpg")
        if os.path.exists(source):
            image = Image.open(source).convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
        else:
            image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
        big = os.path.join(work, "big.jpg")
        image.save(big, quality=92)
        del image
        model = os.path.join(work, "net.keras")
        build_transform_net(width=args.width).save(model)
        out = os.path.join(work, "out.jpg")
        cmd = ["/usr/bin/time", "-v", sys.executable, os.path.join(ROOT, "eval.py"), "--model", model,
               "--image", big, "--output", out, "--quiet"]
        if args.tile:
            cmd += ["--tile", str(args.tile)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        wall = re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)", done.stderr)
        if done.returncode != 0 or not peak:
            print(done.stdout, done.stderr[-3000:])
            sys.exit(1)
        with Image.open(out) as result:
            size = result.size
        print(f"{w}x{h} width {args.width} tile {args.tile or 'auto'}: peak RSS "
              f"{int(peak.group(1)) / 1024**2:.2f} GiB, wall {wall.group(1)}, output {size[0]}x{size[1]}"
              f" ({'same size' if size == (w, h) else 'SIZE MISMATCH'})")


if __name__ == "__main__":
    main()
