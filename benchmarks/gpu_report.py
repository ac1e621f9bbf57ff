"""Markdown tables for ``benchmarks/RESULTS.md`` from what issue 8's GPU calls brought back.

Each ``run`` of ``benchmarks/gpu_session.sh`` returns a folder (the device tool's ``files_at``)
with ``probe.jsonl``, ``compare_NAME.jsonl``, ``stylize_speed.jsonl``, the trained ``NAME.keras``
files and ``extra.tar`` (train logs, TensorBoard events, sweep sheets). This reads any number of
such folders and prints one table per measurement, so every number in RESULTS.md comes from the
files rather than from reading logs by eye:

    python benchmarks/gpu_report.py /work/.device/call1 /work/.device/call2 > /tmp/gpu_tables.md

The trainer's images/s is the median of its logged intervals (``images_per_second`` in the
events, one value per ``--log-every`` steps) after the first, which holds the compilation and
the first decode of the photos; validation and checkpoint intervals are in the median too, as in
any real run. Beside it, the median share of an interval the loop spent waiting for photos,
dispatching the step and waiting for the device (``training.TIMED``): where the time goes when
the trainer runs below the probe's ceiling.
"""

import argparse
import glob
import io
import json
import os
import re
import statistics
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "jax")  # model_info loads Keras; JAX is all this needs


def json_lines(folders, pattern):
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            with open(path) as handle:
                for line in handle:
                    if line.strip().startswith("{"):
                        yield os.path.basename(path), json.loads(line)


def extra_members(folders):
    """(name, bytes) of every file in each folder's extra.tar."""
    for folder in folders:
        path = os.path.join(folder, "extra.tar")
        if os.path.exists(path):
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        yield member.name, tar.extractfile(member).read()


def scalar_series(event_bytes, tag):
    """[(step, value)] of one scalar tag in an event file's bytes."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    series, data = [], io.BytesIO(event_bytes)
    while header := data.read(12):  # TFRecord: length (8), its CRC (4), event, its CRC (4)
        length = int.from_bytes(header[:8], "little")
        event = event_pb2.Event.FromString(data.read(length))
        data.read(4)
        for value in event.summary.value:
            if value.tag == tag:
                number = tensor_util.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
                series.append((event.step, float(number)))
    return series


def rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def probe_table(folders):
    rows = [(r["policy"], r.get("width", 1.0), r["batch"], rate(r["images_per_s"]), r["step_ms"], r["compile_s"])
            for _, r in json_lines(folders, "probe.jsonl")]
    return table(["precision", "width", "batch", "images/s (compute only)", "ms/step", "compile s"], rows)


def trainer_table(folders):
    rows = []
    for name, data in extra_members(folders):
        match = re.match(r"extra/runs/([^/]+)/events\.", name)
        if not match:
            continue
        rates = [v for _, v in scalar_series(data, "images_per_second")][1:]
        shares = [statistics.median([v for _, v in scalar_series(data, f"time/{what}_fraction")][1:] or [float("nan")])
                  for what in ("input", "dispatch", "device")]
        if rates:
            rows.append((match.group(1), len(rates), rate(statistics.median(rates)), rate(max(rates)),
                         *(f"{100 * share:.0f} %" for share in shares)))
    return table(["run", "intervals", "median images/s", "best interval", "waiting for input", "dispatching", "waiting for device"], rows)


def models_table(folders):
    from transformnet import model_info

    rows = []
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "*.keras"))):
            info = model_info(path)
            t, s = info["training"], info["training"]["settings"]
            rows.append((t["name"], s["width"], s["style_weight"], s["content_weight"], s["tv_weight"], s["batch_size"],
                         f"{t['images_seen']:,}", t["training_photos"], t["validation_photos"],
                         f"{t['validation_losses']['total']:.4g}", f"{t['wall_time_s']:.0f}", f"{info['size_bytes']:,}", t["device"]))
    return table(["model", "width", "style w", "content w", "tv w", "batch", "images seen", "training photos",
                  "validation photos", "validation loss", "wall s", "bytes", "device"], rows)


def compare_table(folders):
    rows, sums = [], {}
    for file, r in json_lines(folders, "compare_*.jsonl"):
        model = file[len("compare_"):-len(".jsonl")]
        values = [r["fast"], r["slow_50"], r["slow_100"], r["slow_300"]]
        rows.append((model, r["photo"], "x".join(map(str, r["size"][::-1])), *(f"{v:.3f}" for v in values)))
        sums.setdefault(model, []).append(values)
    for model, values in sums.items():
        rows.append((model, "**mean**", "", *(f"**{statistics.mean(c):.3f}**" for c in zip(*values))))
    return table(["model", "photo", "size", "fast model", "slow 50 it", "slow 100 it", "slow 300 it"], rows)


def speed_table(folders):
    rows = [(r["device"], r["width"], r["policy"], r["size"], r["device_ms"], r["host_ms"])
            for _, r in json_lines(folders, "stylize_speed.jsonl")]
    return table(["device", "width", "precision", "size (px, square)", "ms on device", "ms uint8 host to host"], rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="the files_at folder of each GPU call")
    a = p.parse_args()
    for title, make in (("Compute-only ceiling (gpu_probe.py)", probe_table), ("Trainer's own images/s (train.py)", trainer_table),
                        ("Models", models_table), ("Fast model vs slow path (total loss)", compare_table),
                        ("Stylizing speed (gpu_stylize_speed.py)", speed_table)):
        print(f"### {title}\n\n{make(a.folders)}\n")


if __name__ == "__main__":
    main()
