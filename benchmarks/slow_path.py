#!/usr/bin/env python3
"""Times the slow (Gatys) path end to end, as a user runs it, and prints a Markdown loss table.

    python benchmarks/slow_path.py [--image PHOTO] [--style PAINTING] [-- extra eval.py args]

Runs ``eval.py --style ... --image ... --loss-log CSV`` in a subprocess (so the wall time
includes Python and TensorFlow start-up and VGG loading), then prints the command, the wall
time and the losses every 25 iterations. Results are recorded in benchmarks/RESULTS.md.
"""

import argparse
import csv
import os
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(SHARED, "content", "chicago.jpg"))
    parser.add_argument("--style", default=os.path.join(SHARED, "styles", "starry_night.jpg"))
    parser.add_argument("--output", default=None, help="result image (default: a temporary file)")
    parser.add_argument("--every", type=int, default=25, help="table row every N iterations")
    parser.add_argument("extra", nargs="*", help="more eval.py arguments, after --")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="slow-bench-")
    output = args.output or os.path.join(workdir, "result.jpg")
    log = os.path.join(workdir, "losses.csv")
    command = [sys.executable, os.path.join(ROOT, "eval.py"), "--style", args.style, "--image", args.image,
               "--output", output, "--force", "--quiet", "--loss-log", log, *args.extra]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start

    with open(log) as handle:
        rows = list(csv.DictReader(handle))
    print(f"command: {shlex.join(command)}")
    print(f"wall time: {wall:.1f} s (optimisation {float(rows[-1]['seconds']):.1f} s, {len(rows)} loss evaluations)")
    print(f"result: {output}\n")
    print("| iteration | seconds | total | content (weighted) | style (weighted) | tv (weighted) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        i = int(row["iteration"])
        if i == 1 or i % args.every == 0 or row is rows[-1]:
            print(f"| {i} | {float(row['seconds']):.1f} | {float(row['total']):.3f} | "
                  f"{float(row['weighted/content']):.3f} | {float(row['weighted/style']):.3f} | "
                  f"{float(row['weighted/tv']):.3f} |")


if __name__ == "__main__":
    main()
