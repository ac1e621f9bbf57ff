"""Builds ``.carry/``, the ignored folder a GPU call of issue 8 takes along (64 MiB per call).

The GPU machine has JAX but no Keras, no ``../shared`` and no internet, so it gets: the Keras
wheels, the 15 MB fp16 VGG16 file, a subset of ``../shared/photos`` re-encoded as JPEG (quality
80, evenly spaced over the sorted list so every source is represented), and the content photos the
benchmarks use. ``--photo-mb`` caps the photos so the whole call stays under 64 MiB.

    python benchmarks/prepare_gpu_carry.py --shared ../shared --photo-mb 38
"""

import argparse
import glob
import io
import os
import shutil

from PIL import Image

COMPARE_PHOTOS = ("amber", "chicago", "corgi", "cornell", "flowers", "golden_gate", "kinkaku_ji",
                  "sailboat", "tubingen", "winter_wolf")
"""Issue 8's 10 photos for the fast-vs-slow loss table (not training photos)."""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default="../shared")
    p.add_argument("--out", default=".carry")
    p.add_argument("--photo-mb", type=float, default=38.0)
    p.add_argument("--quality", type=int, default=80)
    a = p.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    for sub in ("wheels", "photos", "content"):
        os.makedirs(os.path.join(a.out, sub))
    for wheel in glob.glob(os.path.join(a.shared, "wheels", "*.whl")):
        shutil.copy(wheel, os.path.join(a.out, "wheels"))
    shutil.copy(os.path.join(a.shared, "weights", "vgg16_notop_block1-4_fp16.npz"), os.path.join(a.out, "vgg16.npz"))
    for name in COMPARE_PHOTOS:
        shutil.copy(os.path.join(a.shared, "content", name + ".jpg"), os.path.join(a.out, "content"))

    photos = sorted(glob.glob(os.path.join(a.shared, "photos", "*.jpg")))
    encoded = []
    for path in photos:
        buffer = io.BytesIO()
        with Image.open(path) as image:
            image.convert("RGB").save(buffer, "JPEG", quality=a.quality)
        encoded.append((os.path.basename(path), buffer.getvalue()))
    # Evenly spaced over the sorted list, so every source stays represented, as many as fit.
    average = sum(len(b) for _, b in encoded) / len(encoded)
    count = min(len(encoded), int(a.photo_mb * 1e6 / average))
    keep = [encoded[round(i * (len(encoded) - 1) / max(count - 1, 1))] for i in range(count)]
    while sum(len(b) for _, b in keep) > a.photo_mb * 1e6:
        keep = keep[:-1]
    for name, data in keep:
        with open(os.path.join(a.out, "photos", name), "wb") as handle:
            handle.write(data)
    size = sum(os.path.getsize(f) for f in glob.glob(os.path.join(a.out, "**", "*"), recursive=True) if os.path.isfile(f))
    print(f"{a.out}: {len(keep)} photos ({sum(len(b) for _, b in keep) / 1e6:.1f} MB), {size / 2**20:.1f} MiB in all")


if __name__ == "__main__":
    main()
