"""Images/s of the trainer's photo-folder pipeline (``data.PhotoFolder``, on grain) alone, no model.

    python benchmarks/data_throughput.py --data ../shared/photos --batch-size 16 --image-size 256

Prints one JSON line: images/s for the first pass (JPEG decode + resize) and for later passes
(RAM cache, crop only; with ``--cache-mb 0`` every pass decodes), with the number of decoding threads.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transformnet.data import PhotoFolder  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/photos")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--cached-images", type=int, default=20_000, help="images timed after the first epoch")
    p.add_argument("--cache-mb", type=int, default=16_384)
    args = p.parse_args()
    data = PhotoFolder(args.data, args.image_size, args.batch_size, workers=args.workers or None, cache_mb=args.cache_mb)
    batches = data.batches()
    n = len(data)
    start = time.perf_counter()
    seen = 0
    while data.epoch == 0:
        seen += len(next(batches))
    first = seen / (time.perf_counter() - start)
    start, seen = time.perf_counter(), 0
    while seen < args.cached_images:
        seen += len(next(batches))
    cached = seen / (time.perf_counter() - start)
    batches.close()
    print(json.dumps({
        "photos": n, "image_size": args.image_size, "batch_size": args.batch_size, "workers": data.workers,
        "cpu_count": os.cpu_count(), "first_epoch_images_per_s": round(first, 1),
        "cached_images_per_s": round(cached, 1), "skipped": data.skipped,
    }))


if __name__ == "__main__":
    main()
