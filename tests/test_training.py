"""The fast trainer end to end (issue 3), on tiny sizes so it runs in minutes on 2 CPU cores.

Run on both backends:  python -m pytest tests/test_training.py
                       KERAS_BACKEND=jax python -m pytest tests/test_training.py
Needs ../shared (VGG16 fp16 weights, photos, styles); skipped with a reason when it is absent.
"""

import json
import os
import socket
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
import tensorboard_reader
from conftest import as_from_a_terminal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
WEIGHTS = os.path.join(SHARED, "weights", "vgg16_notop_block1-4_fp16.npz")
STYLE = os.path.join(SHARED, "styles", "great_wave_crop.jpg")
PHOTOS = os.path.join(SHARED, "photos")

pytestmark = pytest.mark.skipif(
    not (os.path.isfile(WEIGHTS) and os.path.isfile(STYLE) and os.path.isdir(PHOTOS)),
    reason="../shared (VGG16 fp16 weights, styles, photos) is not beside the checkout",
)

SIZE = 32
TOLERANCE_BF16 = 0.3
"""mixed_bfloat16's loss after 20 tiny steps vs float32's: measured +18 % (TensorFlow) and -2 %
(JAX); bfloat16 rounding moves a 20-step trajectory that much, a broken policy far more."""


def make_photos(folder, count=10, corrupt=True):
    """``count`` small real photos (in a subfolder too: the reader is recursive) + 2 broken files."""
    from PIL import Image

    os.makedirs(os.path.join(folder, "sub"), exist_ok=True)
    names = sorted(n for n in os.listdir(PHOTOS) if n.endswith(".jpg"))[:count]
    for i, name in enumerate(names):
        with Image.open(os.path.join(PHOTOS, name)) as image:
            image = image.convert("RGB").resize((48, 40))
            target = os.path.join(folder, "sub" if i % 2 else "", f"p{i}.png" if i % 3 == 0 else f"p{i}.jpg")
            image.save(target)
    if corrupt:
        with open(os.path.join(folder, "not_a_photo.jpg"), "w") as handle:
            handle.write("this is text, not a JPEG")
        data = open(os.path.join(folder, "p1.jpg") if os.path.exists(os.path.join(folder, "p1.jpg")) else os.path.join(folder, "sub", "p1.jpg"), "rb").read()
        with open(os.path.join(folder, "sub", "truncated.jpg"), "wb") as handle:
            handle.write(data[: len(data) // 3])
    return folder


def tiny_settings(tmp, name, steps, **extra):
    """Tiny settings for ``transformnet.train(**tiny_settings(...))``."""
    return {
        "style": STYLE, "name": name, "data": str(tmp / "photos"), "steps": steps, "batch_size": 2,
        "image_size": SIZE, "style_size": 64, "width": 0.25, "vgg_weights": WEIGHTS, "log_every": 5,
        "val_every": 10, "checkpoint_every": 10, "validation_photos": 2, "workers": 2,
        "logdir": str(tmp / "runs" / name), "output": str(tmp / "checkpoints"), **extra,
    }


def args(tmp, name, steps, **extra):
    """The same settings as a train.py command line."""
    values = {f"--{k.replace('_', '-')}": v for k, v in tiny_settings(tmp, name, steps, **extra).items()}
    argv = []
    for key, value in values.items():
        if value is True:
            argv.append(key)
        elif value is not None and value is not False:
            argv += [key, str(value)]
    return argv


def run(argv, lines=None):
    from transformnet.training import parse_settings, train

    return train(parse_settings(argv), out=(lines.append if lines is not None else print))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 20-step run on 8 training photos (+2 validation, +2 broken files)."""
    import transformnet

    tmp = tmp_path_factory.mktemp("train")
    make_photos(tmp / "photos")
    lines = []
    path, metadata = transformnet.train(**tiny_settings(tmp, "tiny", 20), log=lines.append)  # the Python API
    assert path == os.path.join(tmp, "checkpoints", "tiny.keras") and os.path.isfile(path)
    return tmp, metadata, lines


def test_twenty_steps_lower_the_training_loss(trained):
    tmp, metadata, _ = trained
    totals = [value for _, value in tensorboard_reader.values(tensorboard_reader.run(tmp / "runs" / "tiny"), "losses/total")]
    assert len(totals) == 4  # every 5 steps
    assert totals[-1] < 0.7 * totals[0], totals
    assert metadata["steps"] == 20 and metadata["images_seen"] == 40


def test_mixed_bfloat16_trains_as_float32_does_and_exports_float32(trained, tmp_path):
    """The GPU runs train with --precision mixed_bfloat16 (issue 8): the same 20 steps lower the
    loss as much as in float32 (same seed, photos and order), and the model is a float32 file."""
    import keras

    import transformnet

    tmp, float32_metadata, _ = trained
    make_photos(tmp_path / "photos")
    path, metadata = transformnet.train(**tiny_settings(tmp_path, "tiny", 20, precision="mixed_bfloat16"), log=lambda line: None)
    totals = [value for _, value in tensorboard_reader.values(tensorboard_reader.run(tmp_path / "runs" / "tiny"), "losses/total")]
    reference = [value for _, value in tensorboard_reader.values(tensorboard_reader.run(tmp / "runs" / "tiny"), "losses/total")]
    assert totals[-1] < 0.7 * totals[0], totals
    assert abs(totals[-1] / reference[-1] - 1) < TOLERANCE_BF16, (totals, reference)
    assert metadata["precision"] == "mixed_bfloat16"
    model = keras.saving.load_model(path, safe_mode=True)
    assert {weight.dtype for weight in model.weights} == {"float32"}
    assert model.dtype_policy.name == "float32"


def test_a_run_leaves_the_callers_dtype_policy_and_random_generators_as_they_were(photos):
    """``tn.train`` set Keras' global dtype policy (``--precision``, float32 at the export) and
    seeded ``random`` and ``np.random`` (``--seed``) for good: a notebook's own policy came back
    float32, or mixed_bfloat16 after a run that failed, and its random numbers restarted."""
    import random

    import keras

    import transformnet

    def broken_log(line):
        if line.startswith("compiling"):  # after the model is built in mixed_bfloat16
            raise RuntimeError("the caller's log failed")

    keras.config.set_dtype_policy("mixed_float16")
    try:
        for precision, log in (("mixed_bfloat16", broken_log), ("float32", lambda line: None)):
            random.seed(7)
            np.random.seed(7)
            expected = random.random(), np.random.random()
            random.seed(7)
            np.random.seed(7)
            settings = tiny_settings(photos, f"kept_{precision}", 1, precision=precision, batch_size=1, width=0.125,
                                     validation_photos=1)
            try:
                transformnet.train(**settings, log=log)
            except RuntimeError as error:
                assert str(error) == "the caller's log failed"
            assert keras.config.dtype_policy().name == "mixed_float16", precision
            assert (random.random(), np.random.random()) == expected, precision
    finally:
        keras.config.set_dtype_policy("float32")


def test_corrupt_photos_are_skipped_and_counted(trained):
    _, metadata, lines = trained
    warnings = [line for line in lines if line.startswith("warning: skipping unreadable")]
    assert len(warnings) == 2, lines
    assert any("not_a_photo.jpg" in line for line in warnings)
    assert any("truncated.jpg" in line for line in warnings)
    assert metadata["skipped_images"] == 2


def test_tensorboard_tags(trained):
    """Every tag of issue 3, read back as TensorBoard's server reads it, under its plugin."""
    tmp, _, _ = trained
    run = tensorboard_reader.run(tmp / "runs" / "tiny")
    for tag in [
        "losses/content", "losses/style", "losses/tv", "losses/total", "weighted_losses/content",
        "weighted_losses/style", "weighted_losses/tv", "style_losses/relu1_2", "style_losses/relu4_3",
        "learning_rate", "images_per_second", "data/skipped_images", "validation/total", "validation/content",
        "time/input_fraction", "time/dispatch_fraction", "time/device_fraction",
    ]:
        assert tensorboard_reader.plugin(run, tag) == "scalars", tag
    for tag in ["images/style", "images/validation_photo_0", "images/validation_0"]:
        assert tensorboard_reader.plugin(run, tag) == "images", tag
    assert tensorboard_reader.plugin(run, "settings") == "text"


def time_shares(logdir):
    from transformnet.training import TIMED

    run = tensorboard_reader.run(logdir)
    return {what: [v for _, v in tensorboard_reader.values(run, f"time/{what}_fraction")] for what in TIMED}


def test_time_shares_of_each_interval_are_fractions_of_it(trained):
    tmp, _, _ = trained
    shares = time_shares(tmp / "runs" / "tiny")
    assert all(len(values) == 4 for values in shares.values()), shares  # every 5 steps
    for interval in zip(*shares.values()):
        assert all(0 <= share <= 1 for share in interval) and sum(interval) <= 1.0 + 1e-6, interval


def test_a_slow_input_pipeline_shows_as_input_time(tmp_path, monkeypatch):
    """Issue 8: the trainer itself says where its time goes. Photos that take 0.4 s each to decode
    (and no cache, so every epoch decodes) must leave the loop waiting for input most of the time
    once the batches read ahead during compilation are used up (the last interval)."""
    import time

    import transformnet
    from transformnet import data

    make_photos(tmp_path / "photos", corrupt=False)
    decode = data.decode_photo
    monkeypatch.setattr(data, "decode_photo", lambda path, size: (time.sleep(0.4), decode(path, size))[1])
    transformnet.train(**tiny_settings(tmp_path, "slow_input", 20, cache_mb=0, val_every=100, checkpoint_every=100), log=lambda line: None)
    shares = time_shares(tmp_path / "runs" / "slow_input")
    assert len(shares["input"]) == 4 and shares["input"][-1] > 0.5, shares


def test_hparams_dashboard_lists_settings_and_losses(trained):
    """TensorBoard's HParams backend shows the run: the settings that make it what it is, its
    budget, final and validation losses."""
    from transformnet.settings import HPARAMS

    tmp, metadata, _ = trained
    (hparams, metrics), = tensorboard_reader.hparams_table(tmp / "runs").values()
    assert hparams["style_weight"] == metadata["settings"]["style_weight"]
    assert hparams["name"] == "tiny" and metrics["budget/steps"] == 20 and hparams["precision"] == "float32"
    assert set(hparams) == set(HPARAMS) and set(HPARAMS) <= set(metadata["settings"])
    for name in ("total", "content", "style", "tv"):
        assert metrics[f"losses/{name}"] == pytest.approx(metadata["final_losses"][name], rel=1e-6)
        assert metrics[f"validation/{name}"] == pytest.approx(metadata["validation_losses"][name], rel=1e-6)


def test_exported_model_loads_with_safe_mode_and_carries_metadata(trained):
    import keras

    import transformnet.network  # noqa: F401 - registers the custom layers
    from transformnet.model_file import read_model_metadata
    from transformnet.training import sha256_of

    tmp, metadata, _ = trained
    path = tmp / "checkpoints" / "tiny.keras"
    model = keras.saving.load_model(str(path), safe_mode=True)
    out = keras.ops.convert_to_numpy(model(np.full((1, 21, 27, 3), 128.0, "float32")))
    assert out.shape == (1, 21, 27, 3) and 0 <= out.min() and out.max() <= 255
    stored = read_model_metadata(path)
    assert stored == json.loads(json.dumps(metadata))
    assert stored["style_file"] == "great_wave_crop.jpg"
    assert stored["style_sha256"] == sha256_of(STYLE)
    assert stored["backend"] == keras.backend.backend()
    assert stored["precision"] == "float32"
    from transformnet import config

    assert stored["settings"]["steps"] == 20
    assert stored["settings"]["style_weight"] == config.STYLE_WEIGHT
    for key in ("images_seen", "final_losses", "validation_losses", "wall_time_s"):
        assert key in stored
    assert np.isfinite(stored["validation_losses"]["total"])


def test_exported_model_stylizes_through_eval_py(trained, tmp_path):
    """The user's path after training: eval.py --model PATH and --info on the exported file."""
    from PIL import Image

    tmp, metadata, _ = trained
    model = str(tmp / "checkpoints" / "tiny.keras")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(photo)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "eval.py"), "--model", model, "--image", str(photo),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "out" / "photo_tiny.jpg") as result:
        assert result.size == (53, 37)
    info = subprocess.run(
        [sys.executable, os.path.join(ROOT, "eval.py"), "--info", model],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert info.returncode == 0, info.stderr
    assert "great_wave_crop.jpg" in info.stdout and metadata["style_sha256"] in info.stdout


def test_config_reproduces_settings_and_refuses_to_overwrite(trained, capsys):
    from transformnet.training import main, parse_settings

    tmp, metadata, _ = trained
    model = str(tmp / "checkpoints" / "tiny.keras")
    settings = parse_settings(["--config", model])
    assert {k: v for k, v in settings.to_dict().items() if k in metadata["settings"]} == metadata["settings"]
    assert parse_settings(["--config", model, "--steps", "7"]).steps == 7
    assert main(["--config", model]) == 1  # NAME.keras exists, no --force
    assert "exists; use --force" in capsys.readouterr().err


def test_config_file_keys_and_values_are_checked_naming_the_file(tmp_path):
    """A typo in a hand-written --config file is an error, not a silently dropped setting; a
    value its flag refuses names the file, not a flag the user never typed (argparse's usage)."""
    from transformnet.training import TrainingError, parse_settings

    def config(document):
        path = tmp_path / "settings.json"
        path.write_text(json.dumps(document))
        return ["--config", str(path), "--style", STYLE, "--name", "x", "--data", PHOTOS]

    assert parse_settings(config({"steps": "7", "style_weight": 10})).steps == 7
    assert parse_settings(config({"settings": {"width": 0.5}})).width == 0.5
    # runs/NAME is the saved run's default logdir, not a setting: another --name gets its own folder
    assert parse_settings(config({"name": "old", "logdir": os.path.join("runs", "old")})).logdir == os.path.join("runs", "x")
    # An explicit --logdir is the saved run's own: kept for that run (--name x), not for another,
    # where "holds checkpoints of an earlier run; use --resume" would have continued the saved run.
    assert parse_settings(config({"name": "x", "logdir": "elsewhere"})).logdir == "elsewhere"
    assert parse_settings(config({"name": "old", "logdir": "elsewhere"})).logdir == os.path.join("runs", "x")
    assert parse_settings(config({"name": "old", "logdir": "elsewhere"}) + ["--logdir", "elsewhere"]).logdir == "elsewhere"
    for document, words in (
        ({"style_wieght": 10}, "unknown setting 'style_wieght'"),
        ({"steps": "many"}, "steps: 'many' is not a valid --steps value"),
        ({"resume": True}, "give --resume on the command line"),
        ({"steps": 10.0}, "--steps must be a whole number of at least 1, not 10.0"),
        ({"steps": 0}, "--steps must be a whole number of at least 1, not 0"),
        ({"precision": "fp8"}, "--precision must be one of float32, mixed_bfloat16, mixed_float16, not 'fp8'"),
        ({"style_weight": -1}, "--style-weight must be a number of at least 0"),
        ({"output": ""}, "--output: an empty name is no file or folder"),
    ):
        with pytest.raises(TrainingError) as info:
            parse_settings(config(document))
        assert str(info.value).startswith(f"{tmp_path / 'settings.json'}: ") and words in str(info.value)


def test_resume_gives_the_same_weights(tmp_path):
    from transformnet.checkpoints import load_checkpoint

    make_photos(tmp_path / "photos", corrupt=False)
    common = dict(checkpoint_every=3, log_every=3, val_every=100)
    run(args(tmp_path, "straight", 6, **common))
    run(args(tmp_path, "split", 3, **common))
    # A newer checkpoint cut off mid-write must be detected and the step-3 one used instead.
    folder = tmp_path / "runs" / "split" / "checkpoints"
    good = (folder / "ckpt-000000003.npz").read_bytes()
    (folder / "ckpt-000000004.npz").write_bytes(good[: len(good) // 2])
    lines = []
    run(args(tmp_path, "split", 6, resume=True, force=True, **common), lines)
    assert any("ckpt-000000004.npz" in line and "previous" in line for line in lines), lines
    assert any("resumed from" in line and "ckpt-000000003.npz" in line for line in lines), lines
    a, meta_a = load_checkpoint(tmp_path / "runs" / "straight" / "checkpoints" / "ckpt-000000006.npz")
    b, meta_b = load_checkpoint(folder / "ckpt-000000006.npz")
    assert meta_a["data"] == meta_b["data"]
    for group in a:
        for x, y in zip(a[group], b[group]):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


UNTIL_A_SIGNAL = dict(checkpoint_every=100000, log_every=100000, val_every=100000)
"""Settings under which a run writes no checkpoint of its own, so the one found is the signal's."""


def _signalled_after_compiling(tmp_path, name, signum, after=0.0):
    """train.py on a budget it will not finish, sent ``signum`` ``after`` seconds past its first
    compile; returns (status, the console after "compiled in", stderr)."""
    make_photos(tmp_path / "photos", corrupt=False)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "train.py"] + args(tmp_path, name, 100000, **UNTIL_A_SIGNAL), cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal())
    for line in child.stdout:
        if line.startswith("compiled in"):
            break
    time.sleep(after)
    child.send_signal(signum)
    out, err = child.communicate(timeout=120)
    return child.returncode, out, err


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    """Ctrl-C is answered at the next step boundary with a checkpoint there (not only the last
    --checkpoint-every one, hours back on a CPU); --resume from it equals an uninterrupted run."""
    import signal

    from transformnet.checkpoints import list_checkpoints, load_checkpoint

    status, out, err = _signalled_after_compiling(tmp_path, "c", signal.SIGINT, after=2)
    assert status == 130, err
    saved = list_checkpoints(tmp_path / "runs" / "c" / "checkpoints")
    assert len(saved) == 1, (out, err)
    step = load_checkpoint(saved[0])[1]["step"]
    assert 1 <= step < 100000 and f"interrupted at step {step}: saved {saved[0]}" in out, out
    run(args(tmp_path, "c", step + 2, resume=True, force=True, **UNTIL_A_SIGNAL))
    run(args(tmp_path, "straight", step + 2, **UNTIL_A_SIGNAL))
    a = load_checkpoint(tmp_path / "runs" / "c" / "checkpoints" / f"ckpt-{step + 2:09d}.npz")[0]
    b = load_checkpoint(tmp_path / "runs" / "straight" / "checkpoints" / f"ckpt-{step + 2:09d}.npz")[0]
    for group in a:
        for x, y in zip(a[group], b[group]):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_a_resume_that_trains_no_step_exports_the_run_as_it_was(tmp_path):
    """The cure the trainer names for an export that lost a race (--resume --force, or --resume
    with another --output) re-exported the model with its losses "none recorded" and the
    re-export's start-up added to the training time: checkpoints now carry both."""
    make_photos(tmp_path / "photos", corrupt=False)
    common = dict(checkpoint_every=3, log_every=4, val_every=3)
    first = run(args(tmp_path, "r", 6, **common))
    again = run(args(tmp_path, "r", 6, resume=True, output=tmp_path / "again", **common))
    for key in ("final_losses", "final_losses_steps", "validation_losses", "steps", "images_seen"):
        assert again[key] == first[key], key
    assert again["wall_time_s"] <= first["wall_time_s"]  # the step-6 checkpoint's time; the export came after it
    assert first["final_losses_steps"] == 2 and first["final_losses"]["total"] > 0  # steps 5 and 6
    # A late resume: the step-6 losses average the one step trained after it, and --info says so.
    late = run(args(tmp_path, "r", 7, resume=True, force=True, **common))
    assert late["final_losses_steps"] == 1
    from transformnet.info import describe
    from transformnet.fast import model_info

    lines = describe(model_info(str(tmp_path / "checkpoints" / "r.keras")))
    assert any(line.startswith("losses") and line.endswith("(mean of the last 1 step)") for line in lines), lines


def test_a_resume_after_a_kill_draws_each_step_once_in_tensorboard(tmp_path):
    """A killed run has logged past its last checkpoint; the resumed run logs those steps again,
    and TensorBoard drew both (steps 4, 5, 6 twice here) until the resume marked its start."""
    make_photos(tmp_path / "photos", count=6, corrupt=False)
    common = dict(checkpoint_every=3, log_every=1, val_every=3)
    run(args(tmp_path, "k", 6, **common))
    os.remove(tmp_path / "runs" / "k" / "checkpoints" / "ckpt-000000006.npz")  # the kill came before it
    run(args(tmp_path, "k", 6, resume=True, force=True, **common))
    logs = tensorboard_reader.run(tmp_path / "runs" / "k")
    assert [step for step, _ in tensorboard_reader.values(logs, "losses/total")] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in tensorboard_reader.values(logs, "validation/total")] == [0, 3, 6]


def test_a_resume_that_grows_the_budget_shows_the_new_one_in_tensorboard(tmp_path):
    """The HParams tab showed --steps 6 for a run resumed to 9 (TensorBoard keeps a run's first
    hyper-parameters): the budget is a scalar whose last value the tab shows, and the settings
    text is written again where the resume starts."""
    import json

    make_photos(tmp_path / "photos", count=6, corrupt=False)
    common = dict(checkpoint_every=3, log_every=3, val_every=100)
    run(args(tmp_path, "grow", 6, **common))
    run(args(tmp_path, "grow", 9, resume=True, force=True, **common))
    (hparams, metrics), = tensorboard_reader.hparams_table(tmp_path / "runs").values()
    assert "steps" not in hparams and metrics["budget/steps"] == 9
    logs = tensorboard_reader.run(tmp_path / "runs" / "grow")
    from tensorboard.util import tensor_util

    texts = [(event.step, tensor_util.make_ndarray(event.tensor_proto).item().decode()) for event in logs.Tensors("settings")]
    assert [step for step, _ in texts] == [0, 7]
    assert [json.loads(text.strip("`\n"))["steps"] for _, text in texts] == [6, 9]


def test_validation_runs_a_batch_size_at_a_time_with_the_losses_of_all_at_once():
    """--validation-photos 200 ran as one batch of 200 (6.5 GB at 256 px), beyond the memory
    checked for a train step of --batch-size photos."""
    from types import SimpleNamespace

    from transformnet.training import Run

    seen = []

    def evaluate(batch):  # a loss that is a mean over the batch's images, as every loss is
        seen.append(len(batch))
        return batch + 1, {"total": float(batch.mean()), "tv": float((batch ** 2).mean())}

    run = object.__new__(Run)
    run.settings, run.stepper = SimpleNamespace(batch_size=3), SimpleNamespace(evaluate=evaluate)
    images = np.arange(7 * 2 * 2 * 3, dtype=np.float32).reshape(7, 2, 2, 3)
    shown, losses = run.evaluate_in_batches(images)
    assert seen == [3, 3, 1]
    assert losses == pytest.approx({"total": float(images.mean()), "tv": float((images ** 2).mean())}, rel=1e-6)
    np.testing.assert_array_equal(shown, images[:4] + 1)  # the ones TensorBoard shows


def test_a_fetch_right_after_compiling_shows_no_rate_rather_than_zero(tmp_path, capsys):
    """--log-every 1: the first fetch's interval holds only the compiling step, so its rate is
    unknown; it was printed (and logged to TensorBoard) as 0 img/s."""
    make_photos(tmp_path / "photos", count=4, corrupt=False)
    run(args(tmp_path, "rate", 2, log_every=1, val_every=100))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert len(lines) == 2 and "img/s" not in lines[0] and "img/s" in lines[1], lines
    assert " 0 img/s" not in lines[1]
    rates = tensorboard_reader.values(tensorboard_reader.run(tmp_path / "runs" / "rate"), "images_per_second")
    assert [step for step, _ in rates] == [2] and rates[0][1] > 0


def test_resume_refuses_a_run_with_other_settings_or_painting(tmp_path):
    """--resume continues the same run: a changed style weight or painting would train a model
    whose metadata reports settings it was only half trained with."""
    from transformnet.training import TrainingError

    make_photos(tmp_path / "photos", count=6, corrupt=False)
    run(args(tmp_path, "r", 2, checkpoint_every=2))
    checkpoint = str(tmp_path / "runs" / "r" / "checkpoints" / "ckpt-000000002.npz")
    other = tmp_path / "other.jpg"
    Image.open(STYLE).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    for changed, words in (({"style_weight": 100.0}, "--style-weight 30.0, not 100.0"), ({"style": str(other)}, "another painting")):
        with pytest.raises(TrainingError) as info:
            run(args(tmp_path, "r", 4, resume=True, force=True, **changed))
        assert str(info.value).startswith(f"{checkpoint}: was trained with ") and words in str(info.value)
    with pytest.raises(TrainingError, match=f"^{checkpoint}: is at step 2, beyond --steps 1; .* give --steps 2 "):
        run(args(tmp_path, "r", 1, resume=True, force=True))  # it used to export the step-2 model as if asked for
    lines = []  # more steps, other logging: the same run
    run(args(tmp_path, "r", 4, resume=True, force=True, log_every=1), lines)
    assert any("resumed from" in line for line in lines), lines


def test_checkpoint_truncated_or_corrupt_falls_back(tmp_path):
    from transformnet.checkpoints import latest_good, list_checkpoints, save_checkpoint

    groups = {"trainable": [np.arange(1000, dtype="float32")], "optimizer": [np.int64(3)]}
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, groups, {"data": {"epoch": 0, "index": step}}, keep=3)
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path)] == [f"ckpt-00000000{i}.npz" for i in (2, 3, 4)]
    newest = tmp_path / "ckpt-000000004.npz"
    newest.write_bytes(newest.read_bytes()[:-200])  # truncated
    middle = tmp_path / "ckpt-000000003.npz"
    data = bytearray(middle.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the array data
    middle.write_bytes(bytes(data))
    log = []
    path, loaded, meta = latest_good(tmp_path, log=log.append)
    assert os.path.basename(path) == "ckpt-000000002.npz" and meta["step"] == 2
    assert len(log) == 2
    np.testing.assert_array_equal(loaded["trainable"][0], groups["trainable"][0])


def test_an_unreadable_or_later_checkpoint_never_prunes_the_runs_own(tmp_path):
    """A corrupt ckpt-50 (resumed from 3 past it) kept its --keep slot and outranked each new
    checkpoint, which was deleted as it was written while the console said it was saved."""
    from transformnet.checkpoints import latest_good, list_checkpoints, save_checkpoint

    groups = {"trainable": [np.arange(10, dtype="float32")], "optimizer": [np.int64(3)]}

    def save(step, keep):
        return save_checkpoint(tmp_path, step, groups, {"data": {"epoch": 0, "index": step}}, keep=keep)

    def steps():
        return [int(os.path.basename(p)[5:14]) for p in list_checkpoints(tmp_path)]

    for step in (1, 2, 3):
        save(step, keep=2)
    (tmp_path / "ckpt-000000050.npz").write_bytes(b"killed mid-write")
    log = []
    assert latest_good(tmp_path, log=log.append)[2]["step"] == 3
    assert len(log) == 1 and "kept as ckpt-000000050.npz.unreadable, trying the previous checkpoint" in log[0]
    for step in (4, 5):
        assert os.path.isfile(save(step, keep=2))
    assert steps() == [4, 5] and (tmp_path / "ckpt-000000050.npz.unreadable").read_bytes() == b"killed mid-write"
    save(60, keep=1)  # a later checkpoint that loads: not this run's past, so neither pruned nor counted
    assert os.path.isfile(save(6, keep=1)) and steps() == [6, 60]


def test_fresh_run_refuses_to_reuse_a_logdir_with_checkpoints(trained, capsys):
    from transformnet.training import main

    tmp, _, _ = trained
    assert main(args(tmp, "tiny", 20, output=str(tmp / "other"))) == 1
    assert "--resume" in capsys.readouterr().err


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, capsys):
    from transformnet.training import main

    make_photos(tmp_path / "photos", count=10, corrupt=False)
    # Adam at this rate sends the weights, then the activations, past float32.
    assert main(args(tmp_path, "nan", 4, lr="1e30", log_every=2)) == 1
    err = capsys.readouterr().err
    assert "non-finite loss at step 2" in err and "Last good checkpoint" in err
    assert "a lower --lr than 1e+30" in err and "weights" not in err  # finite at step 0: not a weight
    assert not (tmp_path / "checkpoints" / "nan.keras").exists()


def test_a_weight_that_overflows_float32_is_named_before_training(tmp_path, capsys):
    """``--style-weight 1e38`` is a valid number, but times the style loss it is not a float32:
    the run was told to lower --lr after its first steps. The validation at step 0 finds it."""
    from transformnet.training import main

    make_photos(tmp_path / "photos", count=10, corrupt=False)
    assert main(args(tmp_path, "big", 4, style_weight="1e38")) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "not finite before training" in err and "--style-weight 1e+38 times the style loss" in err, err
    assert "--lr" not in err and "--content-weight" not in err
    assert not list(tmp_path.rglob("ckpt-*")) and not list(tmp_path.rglob("big.keras"))


def test_jax_path_runs_without_tensorflow(tmp_path):
    """Like the GPU machine: TensorFlow cannot be imported at all, and is never loaded."""
    pytest.importorskip("jax")
    make_photos(tmp_path / "photos", count=4, corrupt=False)
    script = f"""
import sys
tried = []
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'tensorflow_datasets'):
            import traceback
            tried.append(''.join(traceback.format_stack(limit=8)))
            raise ImportError('TensorFlow is not installed here')
sys.meta_path.insert(0, NoTensorFlow())
from transformnet.training import main
code = main({args(tmp_path, 'jaxonly', 2, log_every=1)!r})
assert 'tensorflow' not in sys.modules
# Nothing may even try: where TensorFlow is installed, a try would load it (issue 9).
assert not tried, tried[0]
sys.exit(code)
"""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "checkpoints" / "jaxonly.keras").exists()
    run = tensorboard_reader.run(tmp_path / "runs" / "jaxonly")  # written by tensorboard's writer, no TensorFlow
    assert [step for step, _ in tensorboard_reader.values(run, "losses/total")] == [1, 2]


def test_tfds_source_with_mock_data():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("tfds needs TensorFlow; the tfds path is tested on the TensorFlow backend")
    tfds = pytest.importorskip("tensorflow_datasets")
    from transformnet.data import open_data

    with tfds.testing.mock_data(num_examples=9):
        data = open_data("tfds:coco/2017", SIZE, 2, seed=1, holdout=2)
        batches = data.batches()
        first = [next(batches) for _ in range(2)]
        assert first[0].shape == (2, SIZE, SIZE, 3) and first[0].dtype == np.uint8
        state = data.state()
        third = next(batches)
        batches.close()
        again = open_data("tfds:coco/2017", SIZE, 2, seed=1, holdout=2)
        again.restore(state)
        np.testing.assert_array_equal(next(again.batches()), third)
        assert data.validation_images().shape == (2, SIZE, SIZE, 3)


def test_tfds_can_prepare_the_dataset_it_downloads(tmp_path):
    """Preparing a tfds dataset (``download_and_prepare``, which mock_data above skips) reads the
    builder's code_path through importlib_resources, a module tensorflow-datasets does not declare
    (tensorflow/datasets#11212): without it --data tfds:coco/2017 stopped with "No module named
    'importlib_resources'" before any download. pyproject.toml declares it."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("tfds needs TensorFlow; the tfds path is tested on the TensorFlow backend")
    tfds = pytest.importorskip("tensorflow_datasets")
    builder = tfds.builder("coco/2017", data_dir=str(tmp_path))
    assert os.path.basename(os.fspath(builder.code_path)) == "coco.py"


def test_the_first_line_counts_the_photos_and_a_validation_photos_warning_follows_it(tmp_path):
    """README: the first line says how many photos are held out and which. An unreadable
    validation candidate is read, and warned of, as the photos are opened: that warning was the
    run's first line, before the line that counts it. Now it follows that line; a photo found
    unreadable later still warns through the run's console."""
    from types import SimpleNamespace

    from transformnet.data import HOLDOUT_SEED, list_images
    from transformnet.training import _open_data

    root = make_photos(str(tmp_path / "photos"), count=12, corrupt=False)
    paths = list_images(root)
    broken = paths[int(np.random.default_rng(HOLDOUT_SEED).permutation(len(paths))[0])]  # the first candidate
    with open(broken, "wb") as handle:
        handle.write(b"not a photo")
    settings = SimpleNamespace(data=root, image_size=SIZE, seed=0, workers=1, cache_mb=16, validation_photos=2)
    dist = SimpleNamespace(shard=lambda: (0, 1), describe=lambda: "1 cpu device")
    lines = []
    data = _open_data(settings, 2, dist, lines.append)
    assert lines[0].startswith("data: 12 photos below ") and "1 unreadable, 2 held out for validation: " in lines[0], lines
    assert len(lines) == 2 and lines[1].startswith("warning: skipping unreadable validation photo: ") and broken in lines[1]
    data.log("warning: later")
    assert lines[-1] == "warning: later"


def test_train_py_cli_reports_bad_data_in_one_line(tmp_path):
    (tmp_path / "photos").mkdir()
    result = subprocess.run(
        [sys.executable, "train.py"] + args(tmp_path, "empty", 2),
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'photos'}: found 0")


# --- issue 9 ----------------------------------------------------------------------------------------
def _one_error(stderr):
    """The one ``error:`` line of a failed run (tqdm's bar may share stderr); no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def test_help_gives_every_flag_a_line_and_its_default():
    from transformnet import config
    from transformnet.training import build_parser

    parser = build_parser()
    for action in parser._actions:
        if action.dest in ("help", "version"):  # argparse's own
            continue
        assert action.help, action.option_strings
        if action.default not in (None, False):
            assert "%(default)s" in action.help, action.option_strings
    text = " ".join(parser.format_help().split())
    assert f"training steps (default {config.STEPS})" in text
    assert f"Adam learning rate (default {config.LEARNING_RATE})" in text
    assert "(default runs/NAME)" in text


@pytest.fixture
def photos(tmp_path):
    make_photos(tmp_path / "photos", count=4, corrupt=False)
    return tmp_path


BAD_FLAGS = [
    ({"lr": -0.001}, "--lr must be a positive number"),
    ({"lr": "nan"}, "--lr must be a positive number"),
    ({"lr": 0}, "--lr must be a positive number"),
    ({"width": 0}, "--width must be between 0.125 and 4"),
    ({"width": 0.01}, "--width must be between"),
    ({"style_weight": -1}, "--style-weight must be a number of at least 0"),
    ({"tv_weight": "inf"}, "--tv-weight must be"),
    ({"image_size": 8}, "--image-size must be a whole number of at least 16"),
    ({"style_size": 4}, "--style-size must be a whole number of at least 16"),
    ({"batch_size": 0}, "--batch-size must be"),
    ({"seed": -1}, "--seed must be"),
    ({"workers": -2}, "--workers must be"),
    ({"validation_photos": -1}, "--validation-photos must be"),
    ({"vgg_weights": "/no/such/vgg.npz"}, "/no/such/vgg.npz: VGG16 weights: no such file"),
    ({"data": "/no/such/folder"}, "/no/such/folder: not a folder of photos"),
    ({"output": "-"}, "--output -: standard input and output are not supported"),
    ({"logdir": "-"}, "--logdir -: standard input and output are not supported"),
    ({"data": "-"}, "--data -: standard input and output are not supported"),
    ({"logdir": ""}, "--logdir: an empty name is no file or folder"),
    ({"output": ""}, "--output: an empty name is no file or folder"),
    ({"style": ""}, "--style: an empty name is no file or folder"),
]


@pytest.mark.parametrize("extra,words", BAD_FLAGS)
def test_bad_flags_are_one_line_before_anything_is_built(photos, monkeypatch, capsys, extra, words):
    import transformnet.training as training

    def built(*_):
        raise AssertionError("the flags were not checked before Keras was loaded")

    monkeypatch.setattr(training, "load_keras", built)
    assert training.main(args(photos, "bad", 2, **extra)) == 1
    assert f"error: {words}" in _one_error(capsys.readouterr().err)


def test_thin_painting_and_unwritable_outputs_are_found_before_building(photos, monkeypatch, capsys):
    from PIL import Image

    import transformnet.training as training

    monkeypatch.setattr(training, "load_keras", lambda: pytest.fail("Keras loaded before the checks"))
    thin = photos / "thin.png"
    Image.new("RGB", (1000, 20), "white").save(thin)  # 10 px on the shorter side at --style-size 512
    assert training.main(args(photos, "thin", 2, style=thin, style_size=512)) == 1
    assert f"error: {thin}: 1000x20 pixels is too thin" in _one_error(capsys.readouterr().err)
    tiny = photos / "tiny.png"  # scaled up, a blur: the same rule as eval.py --style
    Image.new("RGB", (12, 12), "white").save(tiny)
    assert training.main(args(photos, "tiny", 2, style=tiny)) == 1
    assert f"error: {tiny}: 12x12 pixels is too small for a painting" in _one_error(capsys.readouterr().err)
    blocker = photos / "a_file"
    blocker.write_text("x")
    assert training.main(args(photos, "out", 2, output=blocker / "models")) == 1
    assert f"{blocker} is a file, not a folder" in _one_error(capsys.readouterr().err)
    assert training.main(args(photos, "log", 2, logdir=blocker / "runs")) == 1
    assert f"{blocker} is a file, not a folder" in _one_error(capsys.readouterr().err)


@pytest.mark.parametrize("name", ["starry", "a.b-c_d", "7", "a..b", "..", ".hidden", "-x", "x.keras", "a/b", "a b", "x" * 101])
def test_train_and_eval_accept_the_same_model_names(name, tmp_path):
    from transformnet.checks import FlagError
    from transformnet.fast import ModelError, resolve_model
    from transformnet.training import parse_settings, validate

    try:
        validate(parse_settings(["--style", STYLE, "--name=" + name, "--data", PHOTOS, "--vgg-weights", WEIGHTS,
                                 "--output", str(tmp_path), "--logdir", str(tmp_path / "runs")]))
        trainer = True
    except FlagError as error:
        assert str(error).startswith(f"--name {name}: "), error
        trainer = False
    try:
        zipfile.ZipFile(tmp_path / f"{name}.keras", "w").close()  # an empty zip passes the archive check
    except OSError:
        pass
    try:
        resolve_model(name, str(tmp_path))
        evaluator = True
    except ModelError:
        evaluator = False
    assert trainer == evaluator == (name in ("starry", "a.b-c_d", "7"))


def test_offline_without_weights_is_one_line_and_no_start_up_noise(photos):
    """The imagenet download fails (a proxy that refuses); train.py says so in one line, with the
    remedy, and TensorFlow's start-up log lines are not printed around it."""
    env = {**os.environ, "KERAS_HOME": str(photos / "keras_home"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "train.py"] + args(photos, "offline", 2, vgg_weights="imagenet"),
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: imagenet: could not download Keras' VGG16 ImageNet weights (")
    assert "TRANSFORMNET_VGG_WEIGHTS" in lines[0]


def test_checkpoint_on_a_full_disk_is_one_line_and_leaves_no_temp_file(photos):
    from conftest import file_size_limit

    result = subprocess.run([sys.executable, "train.py"] + args(photos, "full", 2, checkpoint_every=2, val_every=100),
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            preexec_fn=file_size_limit(300_000))  # a width-0.25 checkpoint is ~1.3 MB
    assert result.returncode == 1
    folder = photos / "runs" / "full" / "checkpoints"
    line = _one_error(result.stderr)
    assert line.startswith(f"error: {folder / 'ckpt-000000002.npz'}: cannot write (File too large); training stopped at step 2")
    assert not folder.exists()  # made for the checkpoint that failed: no temporary file, no empty folder
    assert not (photos / "checkpoints" / "full.keras").exists()
    assert not [n for n in result.stderr.splitlines() if n.startswith(("I0000", "W0000", "WARNING: All log"))]


def test_a_model_another_run_exported_meanwhile_is_not_replaced(photos, monkeypatch):
    """Two runs with one --name (three --style-weights tried at once, each with its own --logdir)
    all pass the check at the start; the first to finish used to be replaced by the next without a
    word. Now the model is kept, the line names the checkpoint that holds this run's weights, and
    --resume --force exports them."""
    import transformnet
    from transformnet.files import WriteError
    from transformnet.training import Run

    output = photos / "checkpoints" / "same.keras"
    loop = Run.loop

    def other_run_finishes_first(self, stop):
        loop(self, stop)
        output.parent.mkdir(exist_ok=True)
        output.write_bytes(b"the other run's model")

    monkeypatch.setattr(Run, "loop", other_run_finishes_first)
    with pytest.raises(WriteError) as info:
        transformnet.train(**tiny_settings(photos, "same", 2, checkpoint_every=100, val_every=100), log=lambda line: None)
    checkpoint = photos / "runs" / "same" / "checkpoints" / "ckpt-000000002.npz"
    assert str(info.value) == (f"{output}: appeared while this job ran (another job writing the same name?); left as it is, "
                               f"use --force to replace it; the trained weights are in {checkpoint}: rerun with --resume "
                               "and --force, or with --resume and another --output")
    assert output.read_bytes() == b"the other run's model"
    assert sorted(p.name for p in output.parent.iterdir()) == ["same.keras"]
    monkeypatch.setattr(Run, "loop", loop)
    path, metadata = transformnet.train(**tiny_settings(photos, "same", 2, checkpoint_every=100, val_every=100),
                                        resume=True, force=True, log=lambda line: None)
    assert path == str(output) and metadata["steps"] == 2 and output.read_bytes()[:2] == b"PK"


def test_a_second_run_in_a_busy_logdir_stops_in_one_line(photos):
    """One --name started twice: both used to pass the checks at the start, then interleave and
    prune each other's checkpoints. The second stops before it opens the photos, naming the first."""
    import transformnet
    from transformnet.files import folder_lock
    from transformnet.settings import TrainingError

    logdir = photos / "runs" / "twice"
    with folder_lock(logdir):
        with pytest.raises(TrainingError) as info:
            transformnet.train(**tiny_settings(photos, "twice", 2), log=lambda line: None)
    assert str(info.value) == (f"{logdir}: another training run (pid {os.getpid()} on {socket.gethostname()}) is using "
                               "this folder; wait for it to end, or give this run another --name or --logdir")
    assert not logdir.exists()  # the second wrote nothing there, and the lock's folders went with it
    assert not (photos / "checkpoints").exists()
    transformnet.train(**tiny_settings(photos, "twice", 2), log=lambda line: None)  # free again: it trains
    assert (photos / "checkpoints" / "twice.keras").is_file()


def test_bar_moves_every_step_without_a_sync_per_step(photos, monkeypatch):
    import io

    import transformnet.training as training

    events, fetches = [], []

    class Recording(training.Progress):
        def start(self, step):
            events.append(("start", step))
            super().start(step)

        def advance(self, step):
            events.append(("advance", step))
            super().advance(step)

        def losses(self, step, text):
            events.append(("losses", step, text))
            super().losses(step, text)

    for cls in (training.JaxStepper, training.TensorFlowStepper):
        original = cls.mean_losses
        monkeypatch.setattr(cls, "mean_losses", lambda self, _o=original: fetches.append(1) or _o(self))
    lines, screen = [], io.StringIO()
    settings = training.parse_settings(args(photos, "bar", 7, log_every=100, val_every=100, checkpoint_every=100))
    training.train(settings, out=lines.append, progress=Recording(7, file=screen))
    assert lines.index("compiling the train step (once per run; a minute or more on a CPU) ...") < len(lines)
    assert any(line.startswith("compiled in ") for line in lines)
    assert events[0] == ("start", 1)
    shown = [e[1] for e in events if e[0] == "advance"]
    assert len(shown) >= 7 and shown == sorted(shown) and shown[-1] == 7
    assert all(step - shown[i] <= training.RUN_AHEAD for i, step in enumerate(range(1, 8))), shown  # one per step
    assert len(fetches) == 1 and [e[1] for e in events if e[0] == "losses"] == [7]  # one sync, at the end
    assert "7/7" in screen.getvalue() and "loss " in screen.getvalue()
    assert lines[-2].startswith(f"exported {settings.output_path} (7 steps, ")
    assert lines[-1] == f"stylize with it: transformnet-stylize --model {settings.output_path} --image PHOTO"  # as installed


def test_the_command_that_uses_a_model_is_by_name_where_a_name_finds_it(tmp_path, monkeypatch):
    from transformnet.info import plural
    from transformnet.settings import TrainSettings
    from transformnet.training import _model_spec

    def training_settings(**values):
        return TrainSettings(style="painting.jpg", data="photos", **values)

    monkeypatch.delenv("TRANSFORMNET_CHECKPOINTS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "mine.keras").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    here = training_settings(name="mine", output="checkpoints")
    elsewhere = training_settings(name="mine", output=str(tmp_path / "other"))
    assert _model_spec(here) == "mine" and _model_spec(elsewhere) == elsewhere.output_path
    monkeypatch.setenv("TRANSFORMNET_CHECKPOINTS", str(tmp_path / "other"))  # the name would find another folder
    assert _model_spec(here) == here.output_path
    assert [plural(n, "step") for n in (1, 2, 40000, None)] == ["1 step", "2 steps", "40,000 steps", "? steps"]


def test_info_describes_the_run_for_a_person_and_as_json(trained):
    import re

    tmp, metadata, _ = trained
    assert metadata["training_photos"] + metadata["validation_photos"] + metadata["skipped_images"] == 12
    assert metadata["validation_photos"] >= 1 and metadata["device"] and metadata["finished"]
    model = str(tmp / "checkpoints" / "tiny.keras")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "eval.py", "--info", model], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    text = {line[:11].strip(): line[12:] for line in result.stdout.splitlines()}
    assert text["painting"].startswith(f"great_wave_crop.jpg (sha256 {metadata['style_sha256']})")
    assert text["budget"].startswith(f"20 steps x batch 2 = 40 images seen ({40 / metadata['training_photos']:.3g} epochs of "
                                     f"{metadata['training_photos']} distinct photos)")
    assert f"on {metadata['device']} ({metadata['backend']}, float32)" in text["time"]
    for key in ("losses", "validation", "style"):
        numbers = re.findall(r"\d[\d.]*(?:e[+-]\d+)?", text[key].split("(")[0])
        assert numbers and all(len(n.split("e")[0].replace(".", "").lstrip("0")) <= 4 for n in numbers), text[key]
    assert text["losses"].startswith(f"total {metadata['final_losses']['total']:.4g} = content ")
    result = subprocess.run([sys.executable, "eval.py", "--info", model, "--json"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert json.loads(result.stdout)["training"] == json.loads(json.dumps(metadata))


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax", reason="JAX's persistent compilation cache")
def test_one_compiled_step_serves_every_painting(tmp_path):
    """The painting (Gram targets, loss weights) enters the JAX step as arguments, not constants,
    so a second painting with another style weight loads the step from JAX's persistent cache
    (JAX_COMPILATION_CACHE_DIR) instead of compiling it again."""
    make_photos(tmp_path / "photos", count=6, corrupt=False)
    cache = tmp_path / "jax_cache"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_COMPILATION_CACHE_DIR=str(cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    for name, style, weight in [("first", STYLE, 30), ("second", os.path.join(SHARED, "styles", "composition_vii.jpg"), 100)]:
        argv = args(tmp_path, name, 2, style=style, style_weight=weight, validation_photos=0)
        done = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *argv], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert (tmp_path / "checkpoints" / f"{name}.keras").is_file()
        steps = sorted(p.name for p in cache.iterdir() if p.name.startswith("jit_train_step"))
        assert len(steps) == 1, steps  # the second run found the first run's program


def test_a_training_checkpoint_stylizes_as_the_model_it_becomes(trained, tmp_path):
    """``--model runs/NAME/checkpoints/ckpt-N.npz``: a run's weights tried on one's own photos
    before it ends. The last checkpoint gives exactly the exported model's pictures."""
    import numpy as np

    import transformnet as tn
    from transformnet.fast import ModelError, resolve_model

    tmp, metadata, _ = trained
    checkpoint = tmp / "runs" / "tiny" / "checkpoints" / "ckpt-000000020.npz"
    assert resolve_model(str(checkpoint)) == (str(checkpoint), "tiny-step20")
    photo = np.random.default_rng(3).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    from_checkpoint = tn.stylize(tn.load_model(checkpoint), photo, precision="float32")
    exported = tn.stylize(tn.load_model(tmp / "checkpoints" / "tiny.keras"), photo, precision="float32")
    np.testing.assert_array_equal(from_checkpoint, exported)
    info = tn.model_info(checkpoint)
    assert info["training"]["steps"] == 20 and info["training"]["images_seen"] == metadata["images_seen"]
    assert info["training"]["style_sha256"] == metadata["style_sha256"] and info["model"]["width"] == metadata["settings"]["width"]
    for key in ("final_losses", "final_losses_steps", "validation_losses"):  # --info said "none recorded"
        assert info["training"][key] == metadata[key], key
    other = tmp_path / "weights.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ModelError, match=r"weights\.npz: not a training checkpoint \(KeyError"):
        tn.load_model(other)


def test_the_python_apis_log_takes_the_step_lines_too(trained):
    """``log=`` receives each status line; the loss lines went to standard output instead."""
    _, _, lines = trained
    assert [line.split()[1] for line in lines if line.startswith("step ")] == ["5/20", "10/20", "15/20", "20/20"]


def test_the_python_api_takes_config_as_train_py_does(trained):
    """``config=MODEL`` makes a model's saved settings the defaults, as ``train.py --config``."""
    import transformnet

    tmp, metadata, _ = trained
    path, again = transformnet.train(
        style=STYLE, data=str(tmp / "photos"), name="again", config=os.path.join(tmp, "checkpoints", "tiny.keras"),
        steps=2, logdir=str(tmp / "runs" / "again"), log=lambda line: None,
    )
    assert path == os.path.join(tmp, "checkpoints", "again.keras")
    for key in ("width", "image_size", "style_size", "batch_size", "validation_photos"):
        assert again["settings"][key] == metadata["settings"][key], key
    assert again["steps"] == 2


@pytest.mark.cli
def test_a_model_trained_as_on_the_gpu_stylizes_alike_on_both_backends(tmp_path):
    """The shipped models are trained on JAX in mixed_bfloat16 (issue 8) and most users stylize
    on TensorFlow, the default backend: the file must load there and give the same picture."""
    pytest.importorskip("jax")
    make_photos(tmp_path / "photos", count=6, corrupt=False)
    env = {**os.environ, "TRANSFORMNET_VGG_WEIGHTS": WEIGHTS, "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = args(tmp_path, "gpu_like", 3, precision="mixed_bfloat16", log_every=1)
    train = subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, env={**env, "KERAS_BACKEND": "jax"},
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    model = tmp_path / "checkpoints" / "gpu_like.keras"
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (45, 61, 3), dtype=np.uint8)).save(photo)
    outputs = {}
    for backend in ("jax", "tensorflow"):
        outputs[backend] = tmp_path / f"{backend}.png"
        done = subprocess.run([sys.executable, "eval.py", "--model", str(model), "--image", str(photo),
                               "--output", str(outputs[backend]), "--quiet"],
                              cwd=ROOT, env={**env, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
    on_jax, on_tf = (np.asarray(Image.open(outputs[b]), dtype=np.int16) for b in ("jax", "tensorflow"))
    assert on_jax.shape == on_tf.shape == (45, 61, 3)
    assert np.abs(on_jax - on_tf).max() <= 2  # float rounding between the backends' kernels, no more
    assert np.abs(on_jax - np.asarray(Image.open(photo), dtype=np.int16)).mean() > 5  # it stylized


def test_a_full_disk_while_logging_names_the_event_file_and_the_last_checkpoint(photos, monkeypatch):
    """The disk fills after a checkpoint, and the next TensorBoard event fails first: the line
    used to be "error: output: No space left on device" (an OSError with no file name), naming
    neither the file nor the checkpoint to resume from, as a checkpoint that fails does."""
    import errno

    import transformnet
    from transformnet import checkpoints, summaries
    from transformnet.files import WriteError

    saved = []
    save = checkpoints.save_checkpoint

    def save_then_fill_the_disk(*args, **kwargs):
        saved.append(save(*args, **kwargs))
        return saved[-1]

    class FullDisk(summaries.RecordWriter):
        def write(self, data):
            if saved:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            super().write(data)

    monkeypatch.setattr(checkpoints, "save_checkpoint", save_then_fill_the_disk)
    monkeypatch.setattr(summaries, "RecordWriter", FullDisk)
    with pytest.raises(WriteError) as info:
        transformnet.train(**tiny_settings(photos, "fills", 6, checkpoint_every=2, log_every=2, val_every=100), log=lambda line: None)
    (events,) = (photos / "runs" / "fills").glob("events.out.tfevents.*")
    checkpoint = photos / "runs" / "fills" / "checkpoints" / "ckpt-000000002.npz"
    assert saved == [str(checkpoint)]
    assert str(info.value) == (f"{events}: cannot write (No space left on device); training stopped at step 4, "
                               f"last good checkpoint: {checkpoint}")


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # CPython's traceback of the dropped one: not shown
def test_a_ctrl_c_that_python_drops_during_start_up_still_stops_the_run(photos, monkeypatch):
    """CPython drops a KeyboardInterrupt raised inside a gc callback ("Exception ignored in:
    <function _xla_gc_callback>", JAX's, which runs often while Keras is imported): a Ctrl-C two
    seconds into train.py went unanswered about one time in four and the run trained to the end."""
    import gc
    import signal

    import transformnet
    import transformnet.training as training

    load_keras = training.load_keras

    def ctrl_c_in_a_gc_callback_while_keras_loads():
        def callback(phase, info):
            gc.callbacks.remove(callback)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the KeyboardInterrupt is raised here, inside the callback, and dropped

        gc.callbacks.append(callback)
        gc.collect()
        return load_keras()

    monkeypatch.setattr(training, "load_keras", ctrl_c_in_a_gc_callback_while_keras_loads)
    with pytest.raises(KeyboardInterrupt):
        transformnet.train(**tiny_settings(photos, "dropped", 2), log=lambda line: None)
    assert not (photos / "checkpoints").exists() and not (photos / "runs").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_sigterm_saves_a_checkpoint_as_ctrl_c_does(tmp_path):
    """``kill PID``, ``docker stop`` and SLURM's time limit send SIGTERM, which ended the run on
    the spot (exit 143, not a word) with every step since the last checkpoint lost."""
    import signal

    from transformnet.checkpoints import list_checkpoints

    status, out, err = _signalled_after_compiling(tmp_path, "term", signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, err
    (saved,) = list_checkpoints(tmp_path / "runs" / "term" / "checkpoints")
    assert "stopped by SIGTERM at step " in out and f": saved {saved}; --resume continues from it" in out, out
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "stopped by SIGTERM", err


def test_checkpoints_that_appear_before_the_lock_is_taken_are_not_replaced(photos, monkeypatch):
    """The check for an earlier run's checkpoints ran before --logdir's lock was taken: a run of
    the same --name ending in between left checkpoints that this run went on to replace."""
    import transformnet
    import transformnet.training as training
    from transformnet.settings import TrainingError

    settings = tiny_settings(photos, "race", 2)
    first_check = training._refuse_to_overwrite

    def other_run_ends_just_after(settings):
        first_check(settings)
        folder = photos / "runs" / "race" / "checkpoints"
        folder.mkdir(parents=True)
        (folder / "ckpt-000000010.npz").write_bytes(b"the other run's checkpoint")

    monkeypatch.setattr(training, "_refuse_to_overwrite", other_run_ends_just_after)
    with pytest.raises(TrainingError, match="holds checkpoints of an earlier run"):
        transformnet.train(**settings, log=lambda line: None)
    assert (photos / "runs" / "race" / "checkpoints" / "ckpt-000000010.npz").read_bytes() == b"the other run's checkpoint"


def test_an_os_error_without_a_file_name_is_not_blamed_on_an_output(photos, monkeypatch, capsys):
    """train.py printed "error: output: ..." for any OSError that names no file, which reads as
    the --output folder; the reason alone is printed now."""
    import errno

    import transformnet
    from transformnet.training import main

    def fails(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(transformnet, "train", fails)
    assert main(args(photos, "nameless", 2)) == 1
    assert capsys.readouterr().err == "error: No space left on device\n"


def test_a_signal_during_the_last_step_is_answered_before_the_export(photos, monkeypatch):
    """The first signal waits for the next step boundary, and after the last step there was none:
    the run exported its model, printed how to use it, and only then raised "stopped by SIGTERM"
    (exit 143, the API's return value lost), without the line naming the checkpoint."""
    import signal

    import transformnet
    from transformnet import checkpoints
    from transformnet.signals import Terminated

    save = checkpoints.save_checkpoint

    def sigterm_during_the_final_checkpoint(folder, step, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # deferred: training is in its loop
        return save(folder, step, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "save_checkpoint", sigterm_during_the_final_checkpoint)
    lines = []
    with pytest.raises(Terminated):
        transformnet.train(**tiny_settings(photos, "last", 2, log_every=2), log=lines.append)
    saved = photos / "runs" / "last" / "checkpoints" / "ckpt-000000002.npz"
    assert lines[-1] == f"stopped by SIGTERM at step 2: saved {saved}; --resume continues from it"
    assert not (photos / "checkpoints" / "last.keras").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
