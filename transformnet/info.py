"""``eval.py --info``: a saved model described for a person (``--json``: the raw data for scripts).

A photographer wants to know which painting a model learned and how well; a researcher wants the
budget (steps x batch = images seen, over how many distinct photos), the time and hardware it
took and the final and validation losses. Numbers are shown to 4 significant figures; the JSON
form (``fast.model_info``) keeps everything at full precision.
"""

import os

LABEL = 11


def _g(value):
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _count(value):
    return f"{value:,}" if isinstance(value, int) else "?"


def plural(value, noun):
    """'1 step', '2 steps', '40,000 steps', '? steps'."""
    return f"{_count(value)} {noun}{'' if value == 1 else 's'}"


def duration(seconds):
    """'42 s', '3 min 12 s', '5 h 7 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _losses(losses):
    """'total T = content C + style S + tv V' from a loss dict of the trainer (weighted terms)."""
    if not losses:
        return "none recorded"
    terms = [f"{name} {_g(losses[f'weighted/{name}'])}" for name in ("content", "style", "tv") if f"weighted/{name}" in losses]
    return f"total {_g(losses.get('total'))} = " + " + ".join(terms)


def describe(info):
    """The lines ``eval.py --info`` prints for ``fast.model_info(path)``."""
    keras, model, run = info.get("keras", {}), info.get("model", {}), info.get("training", {})
    settings = run.get("settings", {})
    name = run.get("name") or os.path.splitext(os.path.basename(info["file"]))[0]
    saved = str(keras.get("date_saved", "?")).replace("@", " ")
    made = "a training checkpoint" if run.get("is_checkpoint") else f"Keras {keras.get('keras_version', '?')}, saved {saved}"
    lines = [("model", f"{name}: {info['file']} ({info['size_bytes'] / 1e6:.1f} MB, {made})")]
    network = [f"{_count(model.get('parameters'))} parameters"]
    if "width" in model:
        network = [f"width {model['width']:g}", f"{model['residual_blocks']} residual blocks"] + network
    lines.append(("network", ", ".join(network)))
    if not run:
        lines.append(("training", "no training metadata in this file"))
        return _format(lines)
    lines.append(("painting", f"{run.get('style_file', '?')} (sha256 {run.get('style_sha256', '?')}), "
                              f"style measured at {settings.get('style_size', '?')} px"))
    steps, batch, seen = run.get("steps"), settings.get("batch_size"), run.get("images_seen")
    budget = f"{plural(steps, 'step')} x batch {batch} = {plural(seen, 'image')} seen"
    photos = run.get("training_photos")
    if photos:
        budget += f" ({seen / photos:.3g} epochs of {plural(photos, 'distinct photo')})"
    lines.append(("budget", budget + f", {settings.get('image_size', '?')}-px crops"))
    data = settings.get("data", "?")
    if "validation_photos" in run:
        data += f"; {plural(run['validation_photos'], 'photo')} held out for validation"
    if run.get("skipped_images"):
        data += f", {run['skipped_images']} unreadable skipped"
    lines.append(("data", data))
    when = str(run.get("finished", "")).replace("T", " ")[:16]
    time_line = f"{duration(run['wall_time_s'])}" if "wall_time_s" in run else "?"
    time_line += f" on {run.get('device', 'an unrecorded device')} ({run.get('backend', '?')}, {run.get('precision', '?')})"
    lines.append(("time", time_line + (f", finished {when}" if when else "")))
    lines.append(("settings", f"lr {_g(settings.get('lr', '?'))}, weights content {_g(settings.get('content_weight', '?'))} "
                              f"style {_g(settings.get('style_weight', '?'))} tv {_g(settings.get('tv_weight', '?'))}, "
                              f"seed {settings.get('seed', '?')}"))
    final = run.get("final_losses", {})
    every = settings.get("log_every")
    last = run.get("final_losses_steps")  # older files: the last --log-every interval of an uninterrupted run
    if not isinstance(last, int) or last < 1:
        last = (steps % every or every) if isinstance(steps, int) and isinstance(every, int) and every > 0 else None
    lines.append(("losses", _losses(final) + (f" (mean of the last {plural(last, 'step')})" if final and last else "")))
    per_layer = {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("style/")}
    if per_layer:
        lines.append(("style", ", ".join(f"{layer} {_g(v)}" for layer, v in per_layer.items()) + " (unweighted)"))
    lines.append(("validation", _losses(run.get("validation_losses", {}))))
    return _format(lines)


def _format(lines):
    return [f"{label:<{LABEL}} {text}" for label, text in lines]
