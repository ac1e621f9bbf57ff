"""Builds ``docs/gallery.jpg``: redistributable content photos x the shipped styles (issue 8).

    python benchmarks/make_gallery.py [--models starry wave scream composition_vii udnie]
                                      [--photos ../shared/content/skimage_astronaut.jpg ...]

Row 0 holds the paintings (``checkpoints/styles/NAME.jpg``), column 0 the photos; every other
cell is ``eval.py``'s own stylizing (``fast.stylize_array``) of the photo at ``--size`` px on its
longer side, scaled into the cell. Only public-domain / CC photos (``skimage_*``, ``sklearn_*``
in ``../shared/content``) may go into the committed picture.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

SHIPPED = ("starry", "wave", "scream", "composition_vii", "udnie")
PHOTOS = ("skimage_astronaut", "skimage_chelsea", "skimage_coffee", "sklearn_china")


def fit(array, cell):
    """Scales an image to fit a ``cell`` x ``cell`` square, centred on white."""
    image = Image.fromarray(array)
    image.thumbnail((cell, cell), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (cell, cell), "white")
    canvas.paste(image, ((cell - image.width) // 2, (cell - image.height) // 2))
    return canvas


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(SHIPPED))
    p.add_argument("--photos", nargs="+", default=[os.path.join(root, "..", "shared", "content", n + ".jpg") for n in PHOTOS])
    p.add_argument("--checkpoints", default=os.path.join(root, "checkpoints"))
    p.add_argument("--size", type=int, default=512, help="stylizing resolution (longer side)")
    p.add_argument("--cell", type=int, default=256)
    p.add_argument("--output", default=os.path.join(root, "docs", "gallery.jpg"))
    a = p.parse_args()

    from transformnet.fast import load_transform_model, shipped_painting, stylize_array
    from transformnet.images import load_image, resize_longer_side, save_image

    photos = [resize_longer_side(load_image(path), a.size) for path in a.photos]
    rows = [[Image.new("RGB", (a.cell, a.cell), "white")]]
    for name in a.models:
        rows[0].append(fit(load_image(shipped_painting(name, a.checkpoints)), a.cell))
    for photo in photos:
        rows.append([fit(photo, a.cell)])
    for name in a.models:
        model = load_transform_model(os.path.join(a.checkpoints, name + ".keras"))
        for r, photo in enumerate(photos, start=1):
            rows[r].append(fit(stylize_array(model, photo), a.cell))
        print(f"{name}: {len(photos)} photos", flush=True)
    sheet = Image.new("RGB", (a.cell * len(rows[0]), a.cell * len(rows)), "white")
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            sheet.paste(cell, (c * a.cell, r * a.cell))
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(a.models, start=1):
        draw.text((c * a.cell + 6, 4), name, fill="white", stroke_width=2, stroke_fill="black")
    save_image(a.output, np.asarray(sheet), quality=88, replace=True)
    print(f"wrote {a.output} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
