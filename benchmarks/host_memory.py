#!/usr/bin/env python3
"""Peak host memory per pixel of each job on the TensorFlow CPU path: the constants of
``transformnet/memory.py``.

    python benchmarks/host_memory.py [--backend tensorflow|jax] [--jobs painting train slow stylize]

Runs the real commands under ``/usr/bin/time -f %M`` (peak resident set) at two sizes and
reports the growth per pixel, ``(peak2 - peak1) / (pixels2 - pixels1)``: the painting's style
(``train.py --style-size``; painting pixels), a train step (``--batch-size`` x
``--image-size``^2 pixels, per width), the slow path (``eval.py --style --size``; photo
pixels), stylizing one untiled photo (``eval.py --model``; photo pixels, per width) and
decoding a photo (``images.load_image``, per kind of file; photo pixels, any backend).
Needs ``../shared`` (paintings, photos, VGG16 weights).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
PAINTING = os.path.join(ROOT, "checkpoints", "styles", "starry.jpg")
PHOTO = os.path.join(SHARED, "content", "taj_mahal.jpg")  # 2468x1714: the slow path never upscales


def peak_bytes(command, env):
    """Runs ``command``; returns its peak resident set in bytes (GNU time's %M is KiB)."""
    result = subprocess.run(["/usr/bin/time", "-f", "PEAK %M", *command], env=env, capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.startswith("PEAK ")]
    if result.returncode != 0 or not lines:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return int(lines[-1].split()[1]) * 1024


def scaled(size, longer):
    w, h = size
    s = longer / max(w, h)
    return round(w * s), round(h * s)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--jobs", nargs="+", default=["painting", "train", "slow", "stylize", "decode"])
    args = parser.parse_args()

    from PIL import Image

    env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("TRANSFORMNET_VGG_WEIGHTS", os.path.join(SHARED, "weights", "vgg16_notop_block1-4_fp16.npz"))
    py = sys.executable
    painting_size = Image.open(PAINTING).size
    results = []
    with tempfile.TemporaryDirectory() as work:
        photos = os.path.join(work, "photos")
        os.makedirs(photos)
        for name in ("corgi.jpg", "lion.jpg", "amber.jpg"):
            Image.open(os.path.join(SHARED, "content", name)).convert("RGB").resize((600, 600)).save(os.path.join(photos, name))

        def train(name, *flags):
            return [py, os.path.join(ROOT, "train.py"), "--style", PAINTING, "--data", photos, "--name", name,
                    "--output", work, "--logdir", os.path.join(work, "runs", name), "--steps", "1",
                    "--validation-photos", "0", "--force", *flags]

        def measure(job, width, sizes, command, pixels):
            peaks = [peak_bytes(command(size), env) for size in sizes]
            counts = [pixels(size) for size in sizes]
            per_pixel = (peaks[1] - peaks[0]) / (counts[1] - counts[0])
            row = {"job": job, "width": width, "pixels": counts, "peak_bytes": peaks, "bytes_per_pixel": round(per_pixel)}
            print(json.dumps(row), flush=True)
            results.append(row)

        if "painting" in args.jobs:
            measure("painting", None, (1500, 3000),
                    lambda s: train(f"p{s}", "--style-size", str(s), "--batch-size", "1", "--image-size", "64", "--width", "0.25"),
                    lambda s: scaled(painting_size, s)[0] * scaled(painting_size, s)[1])
        if "train" in args.jobs:
            for width in (0.5, 1.0):
                measure("train", width, (2, 8),
                        lambda b, width=width: train(f"t{b}w{width}", "--style-size", "128", "--batch-size", str(b), "--image-size", "512", "--width", str(width)),
                        lambda b: b * 512 * 512)
        if "slow" in args.jobs:
            measure("slow", None, (1000, 2000),
                    lambda s: [py, os.path.join(ROOT, "eval.py"), "--style", PAINTING, "--image", PHOTO, "--size", str(s),
                               "--style-size", "128", "--iterations", "2", "--quiet", "--force", "--output", os.path.join(work, "slow.jpg")],
                    lambda s: scaled(Image.open(PHOTO).size, s)[0] * scaled(Image.open(PHOTO).size, s)[1])
        if "stylize" in args.jobs:
            for width in (0.5, 1.0):
                subprocess.run(train(f"w{width}", "--width", str(width), "--style-size", "128", "--image-size", "64", "--batch-size", "1"),
                               env=env, check=True, capture_output=True)
                model = os.path.join(work, f"w{width}.keras")

                def stylize(side, model=model):
                    photo = os.path.join(work, f"big{side}.jpg")
                    if not os.path.exists(photo):
                        Image.open(PHOTO).convert("RGB").resize((side, side)).save(photo, quality=90)
                    return [py, os.path.join(ROOT, "eval.py"), "--model", model, "--image", photo, "--quiet", "--force",
                            "--output", os.path.join(work, "out.jpg")]

                measure("stylize", width, (1000, 2800), stylize, lambda side: side * side)
        if "decode" in args.jobs:
            for kind in DECODE_KINDS:
                measure(f"decode {kind}", None, ((5000, 4000), (10000, 6000)),
                        lambda size, kind=kind: [py, "-c", "import sys; from transformnet.images import load_image; load_image(sys.argv[1])",
                                                 decode_sample(work, kind, size)],
                        lambda size: size[0] * size[1])
    return results


DECODE_KINDS = ("rgb.jpg", "gray.jpg", "icc.jpg", "cmyk.jpg", "palette-transparent.png", "rgba.png", "16-bit.png", "float.tif")
"""The classes of ``memory.decode_bytes_per_pixel``: 8-bit, transparent, deep (16-bit, float)."""


def decode_sample(folder, kind, size):
    """A smooth ``size`` photo of ``kind`` in ``folder`` (made once), for the decode job."""
    import numpy as np
    from PIL import Image, ImageCms

    path = os.path.join(folder, f"{size[0]}x{size[1]}-{kind}")
    if os.path.exists(path):
        return path
    gray = Image.linear_gradient("L").resize(size)
    rgb = Image.merge("RGB", (gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gray.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    if kind == "rgb.jpg":
        rgb.save(path, quality=85)
    elif kind == "gray.jpg":
        gray.save(path, quality=85)
    elif kind == "icc.jpg":  # any embedded profile takes the LittleCMS path
        rgb.save(path, quality=85, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    elif kind == "cmyk.jpg":
        rgb.convert("CMYK").save(path, quality=85)
    elif kind == "palette-transparent.png":
        rgb.quantize(256).save(path, transparency=0, compress_level=1)
    elif kind == "rgba.png":
        rgba = rgb.copy()
        rgba.putalpha(gray)
        rgba.save(path, compress_level=1)
    elif kind == "16-bit.png":
        Image.fromarray(np.asarray(gray, np.uint16) * 257).save(path, compress_level=1)
    else:
        Image.fromarray(np.asarray(gray, np.float32) / 255, mode="F").save(path)
    return path


if __name__ == "__main__":
    main()
