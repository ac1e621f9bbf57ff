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
dispatching the step and waiting for the device (``training.TIMED``, read with TensorBoard's own
event accumulator): where the time goes when the trainer runs below the probe's ceiling.
"""

import argparse
import glob
import json
import os
import statistics
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "jax")  # model_info loads Keras; JAX is all this needs


def json_lines(folders, pattern):
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            with open(path) as handle:
                for line in handle:
                    if line.strip().startswith("{"):
                        yield os.path.basename(path), json.loads(line)


def extracted_runs(folders, into):
    """{run name: folder of its events}, from each folder's extra.tar unpacked below ``into``."""
    runs = {}
    for i, folder in enumerate(folders):
        path = os.path.join(folder, "extra.tar")
        if os.path.exists(path):
            with tarfile.open(path) as tar:
                tar.extractall(os.path.join(into, str(i)), filter="data")
            for events in glob.glob(os.path.join(into, str(i), "extra", "runs", "*")):
                runs[os.path.basename(events)] = events
    return runs


def scalars(logdir, tags):
    """{tag: [values in step order]}, read as TensorBoard's own server reads the run."""
    from tensorboard.backend.event_processing import plugin_event_accumulator
    from tensorboard.util import tensor_util

    accumulator = plugin_event_accumulator.EventAccumulator(logdir, size_guidance={"tensors": 0})
    accumulator.Reload()
    present = set(accumulator.Tags()["tensors"])
    return {tag: [float(tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)] if tag in present else []
            for tag in tags}


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
    from transformnet.training import TIMED

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run, logdir in sorted(extracted_runs(folders, tmp).items()):
            series = scalars(logdir, ["images_per_second"] + [f"time/{what}_fraction" for what in TIMED])
            rates = series["images_per_second"][1:]
            shares = [statistics.median(series[f"time/{what}_fraction"][1:] or [float("nan")]) for what in TIMED]
            if rates:
                rows.append((run, len(rates), rate(statistics.median(rates)), rate(max(rates)), *(f"{100 * share:.0f} %" for share in shares)))
    return table(["run", "intervals", "median images/s", "best interval", *(f"{what} %" for what in TIMED)], rows)


def validation_table(folders):
    """Each run's validation total at every --val-every step: does the curve flatten (issue 8)?"""
    from tensorboard.backend.event_processing import plugin_event_accumulator
    from tensorboard.util import tensor_util

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run, logdir in sorted(extracted_runs(folders, tmp).items()):
            accumulator = plugin_event_accumulator.EventAccumulator(logdir, size_guidance={"tensors": 0})
            accumulator.Reload()
            if "validation/total" in accumulator.Tags()["tensors"]:
                points = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors("validation/total")]
                rows.append((run, ", ".join(f"{step}: {value:.4g}" for step, value in points)))
    return table(["run", "validation total at step"], rows)


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
                        ("Models", models_table), ("Validation curves", validation_table), ("Fast model vs slow path (total loss)", compare_table),
                        ("Stylizing speed (gpu_stylize_speed.py)", speed_table)):
        print(f"### {title}\n\n{make(a.folders)}\n")


if __name__ == "__main__":
    main()
