"""Images/s of the photo-folder input pipeline alone (no model): decode epoch, then cached epochs.

    python benchmarks/data_throughput.py --data ../shared/photos --batch-size 16 --image-size 256

Prints one JSON line: images/s for the first pass (JPEG decode + resize) and for later passes
(RAM cache, crop only), with the number of decoding threads.
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
    p.add_argument("--grain", action="store_true", help="time data_grain.GrainPhotoFolder instead (issue 11)")
    args = p.parse_args()
    folder = PhotoFolder
    if args.grain:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from data_grain import GrainPhotoFolder as folder
    data = folder(args.data, args.image_size, args.batch_size, workers=args.workers or None, cache_mb=args.cache_mb)
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
        "pipeline": folder.__name__, "photos": n, "image_size": args.image_size, "batch_size": args.batch_size, "workers": data.workers,
        "cpu_count": os.cpu_count(), "first_epoch_images_per_s": round(first, 1),
        "cached_images_per_s": round(cached, 1), "skipped": data.skipped,
    }))


if __name__ == "__main__":
    main()
