"""Data-parallel training (issue 11) on this CPU: virtual devices and localhost processes.

The device count of JAX (``XLA_FLAGS``) and TensorFlow (logical CPUs) is fixed when the backend
starts, so every multi-device run happens in a fresh subprocess. Runs are tiny (32-px crops,
width 0.25, a few steps) so they stay fast on 2 cores. JAX runs only in the JAX suite
(``KERAS_BACKEND=jax``), TensorFlow runs only in the TensorFlow suite.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from test_training import PHOTOS, ROOT, STYLE, WEIGHTS, args, make_photos

from transformnet.checkpoints import list_checkpoints, load_checkpoint
from transformnet.data import PhotoFolder
from transformnet.distribute import DistributionError, pack_positions, unpack_position

HAVE_SHARED = os.path.isfile(WEIGHTS) and os.path.isfile(STYLE) and os.path.isdir(PHOTOS)
needs_shared = pytest.mark.skipif(not HAVE_SHARED, reason="../shared (VGG16 fp16 weights, styles, photos) is not beside the checkout")


def backend():
    import keras

    return keras.backend.backend()


def only_on(name):
    if backend() != name:
        pytest.skip(f"runs in the {name} suite (KERAS_BACKEND={name})")


def subprocess_env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT, **extra}
    env.setdefault("TRANSFORMNET_VGG_WEIGHTS", WEIGHTS)
    return env


def run_script(script, env, timeout=900):
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def max_difference(a, b, groups=("trainable", "optimizer")):
    """Largest absolute difference over the arrays of two checkpoints."""
    groups_a, _ = load_checkpoint(a)
    groups_b, _ = load_checkpoint(b)
    return max(
        float(np.max(np.abs(x.astype("float64") - y.astype("float64")), initial=0.0))
        for group in groups for x, y in zip(groups_a[group], groups_b[group])
    )


# --- data shards --------------------------------------------------------------------------------
def test_photo_shards_are_disjoint_cover_everything_and_resume_exactly(tmp_path):
    rng = np.random.default_rng(0)
    from PIL import Image

    for i in range(11):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    whole = PhotoFolder(str(tmp_path), 16, 2, seed=3, holdout=2)
    shards = [PhotoFolder(str(tmp_path), 16, 2, seed=3, holdout=2, shard=(i, 3)) for i in range(3)]
    assert sorted(p for s in shards for p in s.paths) == sorted(whole.paths)
    assert [len(s) for s in shards] == [3, 3, 3]
    assert all(s.val_paths == whole.val_paths for s in shards)  # every process validates on the same photos
    assert "shard 1 of 3" in shards[1].describe()

    data = shards[1]
    batches = data.batches()
    [next(batches) for _ in range(2)]  # 4 photos from a shard of 3: crosses an epoch
    state = data.state()
    expected = [next(batches) for _ in range(2)]
    batches.close()
    again = PhotoFolder(str(tmp_path), 16, 2, seed=3, holdout=2, shard=(1, 3))
    again.restore(state)
    resumed = again.batches()
    for batch in expected:
        np.testing.assert_array_equal(next(resumed), batch)
    resumed.close()


def test_checkpoint_positions_per_process():
    one = {"epoch": 0, "index": 4}
    assert pack_positions([one]) == one  # a single process keeps the old checkpoint format
    two = [one, {"epoch": 1, "index": 0}]
    assert unpack_position(pack_positions(two), 1, 2) == two[1]
    with pytest.raises(DistributionError, match="written by 2 training process"):
        unpack_position(two, 0, 1)
    with pytest.raises(DistributionError, match="written by 1 training process"):
        unpack_position(one, 0, 2)


# --- one machine, several devices ---------------------------------------------------------------
def train_runs_script(runs, prelude=""):
    """A subprocess script: ``prelude``, then ``train(parse_settings(argv))`` for every argv."""
    return f"""{prelude}
from transformnet.training import parse_settings, train
for argv in {runs!r}:
    train(parse_settings(argv), out=lambda line: None)
"""


def compare_devices(tmp_path, counts, env, prelude=""):
    """Two 2-step runs with the same global batch of 4 on ``counts`` devices.

    Returns, for step 1: the largest difference of Adam's moments (m = 0.1 g, v = 0.001 g^2:
    the averaged gradient) relative to the largest moment, and of the parameters the loss
    depends on; and the training losses of steps 1 and 2 of each run.

    Raw parameters are not compared beyond step 1 on purpose: the conv biases before instance
    norm (and the shifts of each residual block's second norm) do not change the loss at all,
    so their true gradient is 0 and Adam moves them by +-lr on rounding noise, differently in any
    two runs that sum in a different order. The next gradients then differ at the 1e-3 level even
    on one device (measured: one device restarted from the 4-device step-1 weights, issue 11).
    """
    import tensorboard_reader

    make_photos(tmp_path / "photos", corrupt=False)
    runs = [args(tmp_path, f"d{n}", 2, batch_size=4, devices=n, checkpoint_every=1, log_every=1, val_every=100) for n in counts]
    run_script(train_runs_script(runs, prelude), env)
    (a, meta_a), (b, meta_b) = (load_checkpoint(tmp_path / "runs" / f"d{n}" / "checkpoints" / "ckpt-000000001.npz") for n in counts)
    assert meta_a["data"] == meta_b["data"]
    moments_a, moments_b = a["optimizer"][2:], b["optimizer"][2:]  # after iterations and learning rate
    gradient = max(
        max(np.abs(x - y).max() for x, y in zip(moments_a[k::2], moments_b[k::2])) / max(np.abs(x).max() for x in moments_a[k::2])
        for k in (0, 1)
    )
    v_max = max(np.abs(v).max() for v in moments_a[1::2])
    relevant = [i for i, v in enumerate(moments_a[1::2]) if v.max() > 1e-9 * v_max]  # a gradient above rounding noise
    weights = max(np.abs(a["trainable"][i] - b["trainable"][i]).max() for i in relevant)
    losses = [[value for _, value in tensorboard_reader.values(tensorboard_reader.run(tmp_path / "runs" / f"d{n}"), "losses/total")] for n in counts]
    return gradient, weights, losses


@needs_shared
def test_jax_four_devices_match_one_device(tmp_path):
    """Same global batch of 4 on 1 and on 4 virtual CPU devices: the same gradient, weights, losses."""
    only_on("jax")
    env = subprocess_env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=4")
    gradient, weights, losses = compare_devices(tmp_path, (1, 4), env)
    print(f"JAX 1 vs 4 devices, step 1: gradient rel. difference {gradient:.2g}, max |weight difference| {weights:.2g}; losses {losses}")
    assert gradient < 1e-5 and weights < 1e-6
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_global_batch_must_split_over_the_devices():
    from transformnet.distribute import Distribution

    dist = Distribution()
    dist.num_devices, dist.process_count = 4, 2
    assert dist.local_batch_size(8) == 4  # the global batch, split over the processes
    with pytest.raises(DistributionError, match="--batch-size 6 does not split evenly over 4 devices"):
        dist.local_batch_size(6)


@needs_shared
def test_more_devices_than_the_machine_has_is_one_error_line(tmp_path, capsys):
    from transformnet.training import main

    make_photos(tmp_path / "photos", count=4, corrupt=False)
    assert main(args(tmp_path, "many", 2, devices=64)) == 1
    assert "error: --devices 64: this machine has" in capsys.readouterr().err


@needs_shared
def test_a_process_id_without_a_job_is_one_error_line(tmp_path, capsys):
    """--process-id 1 alone trained as a lone process 0 and exported a model: now it is refused,
    as is an id outside --num-processes (checked with the other flags, before Keras loads)."""
    from transformnet.training import main

    make_photos(tmp_path / "photos", count=4, corrupt=False)
    assert main(args(tmp_path, "p", 2, num_processes=2, process_id=2)) == 1
    assert "error: --process-id must be below --num-processes 2 (0..1), not 2" in capsys.readouterr().err
    if backend() == "jax":  # TensorFlow refuses every JAX process flag
        assert main(args(tmp_path, "p", 2, process_id=1)) == 1
        err = capsys.readouterr().err
        assert "error: --process-id 1 is one process of a multi-process job, and none is described" in err
    assert not (tmp_path / "checkpoints").exists()


@needs_shared
def test_tensorflow_two_devices_match_one_device(tmp_path):
    """MirroredStrategy over 2 logical CPUs vs the plain step, same global batch of 4.

    Looser than JAX: TensorFlow's XLA on this CPU computes the gradient of a batch of 4 and the
    mean of the gradients of its two halves 2.8e-4 apart (relative to the largest) with no
    distribution involved at all (1.4e-6 without XLA), and that is what the 2 replicas compute.
    """
    only_on("tensorflow")
    prelude = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
    gradient, _, losses = compare_devices(tmp_path, (1, 2), subprocess_env(KERAS_BACKEND="tensorflow"), prelude)
    print(f"TensorFlow 1 vs 2 devices, step 1: gradient rel. difference {gradient:.2g}; losses {losses}")
    assert gradient < 1e-3  # a sum instead of a mean would be 1.0 off
    np.testing.assert_allclose(losses[0], losses[1], rtol=3e-4)


# --- several processes ----------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_processes(tmp_path, name, steps, backend="jax", **extra):
    """Two ``train.py`` processes on localhost, one CPU device each. JAX: ``--coordinator`` flags
    (gloo CPU collectives); TensorFlow: ``TF_CONFIG`` (MultiWorkerMirroredStrategy)."""
    ports = [free_port(), free_port()]
    procs = []
    for i in range(2):
        if backend == "jax":
            env = subprocess_env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=1")
            flags = dict(coordinator=f"localhost:{ports[0]}", num_processes=2, process_id=i)
        else:
            cluster = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": i}}
            env, flags = subprocess_env(KERAS_BACKEND="tensorflow", TF_CONFIG=json.dumps(cluster)), {}
        argv = args(tmp_path, name, steps, batch_size=4, checkpoint_every=2, keep=20, log_every=2, val_every=100, **flags, **extra)
        log = open(tmp_path / f"{name}-{i}-{time.monotonic_ns()}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "train.py"] + argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def wait(procs, timeout=600):
    codes = []
    for proc, log in procs:
        codes.append(proc.wait(timeout=timeout))
        log.close()
    if codes != [0, 0]:
        raise AssertionError(f"exit codes {codes}:\n" + "\n".join(open(log.name).read()[-3000:] for _, log in procs))


def kill(procs):
    for proc, log in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()


def files_below(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


@needs_shared
def test_two_jax_processes_write_once_and_resume_exactly(tmp_path):
    """2 processes x 1 CPU device, global batch 4 (2 photos from each process's shard): a straight
    12-step run, and a run killed after a checkpoint, restarted with --resume, that ends with the
    same weights; only process 0 writes (one event file per start, one checkpoint series, one model)."""
    only_on("jax")
    make_photos(tmp_path / "photos", count=13, corrupt=False)  # 11 for training: shards of 6 and 5
    wait(start_processes(tmp_path, "straight", 12))

    procs = start_processes(tmp_path, "split", 1000)
    folder = tmp_path / "runs" / "split" / "checkpoints"
    deadline = time.time() + 600
    while len(list_checkpoints(folder)) < 2 and time.time() < deadline and all(p.poll() is None for p, _ in procs):
        time.sleep(0.02)
    kill(procs)
    killed_at = load_checkpoint(list_checkpoints(folder)[-1])[1]["step"]
    assert 4 <= killed_at < 12, killed_at
    wait(start_processes(tmp_path, "split", 12, resume=True))

    a, meta_a = load_checkpoint(tmp_path / "runs" / "straight" / "checkpoints" / "ckpt-000000012.npz")
    b, meta_b = load_checkpoint(folder / "ckpt-000000012.npz")
    assert isinstance(meta_a["data"], list) and len(meta_a["data"]) == 2  # one data position per process
    assert meta_a["data"] == meta_b["data"]
    difference = max_difference(tmp_path / "runs" / "straight" / "checkpoints" / "ckpt-000000012.npz", folder / "ckpt-000000012.npz")
    print(f"2 JAX processes, killed after step {killed_at} and resumed: max |weight difference| at step 12: {difference:.3g}")
    assert difference < 1e-5

    straight = files_below(tmp_path / "runs" / "straight")
    assert [f for f in straight if f.startswith("checkpoints")] == [f"checkpoints/ckpt-{s:09d}.npz" for s in range(2, 13, 2)]
    assert len([f for f in straight if ".tfevents." in f]) == 1 and ".lock" in straight and len(straight) == 8  # process 0's lock
    split = files_below(tmp_path / "runs" / "split")
    assert len([f for f in split if ".tfevents." in f]) == 2  # the killed start and the resumed one
    assert files_below(tmp_path / "checkpoints") == ["split.keras", "straight.keras"]

    from transformnet.model_file import read_model_metadata

    metadata = read_model_metadata(tmp_path / "checkpoints" / "split.keras")
    assert metadata["processes"] == 2 and metadata["devices"] == 2 and metadata["steps"] == 12
    assert metadata["images_seen"] == 48
    assert metadata["training_photos"] == 11 and metadata["skipped_images"] == 0  # both shards, not process 0's 6


@needs_shared
def test_two_tensorflow_workers_train_write_once_and_resume(tmp_path):
    """MultiWorkerMirroredStrategy from TF_CONFIG, 2 workers x 1 CPU on localhost: 4 steps, then
    --resume to 6; each worker continues from its own data position; only worker 0 writes."""
    only_on("tensorflow")
    make_photos(tmp_path / "photos", count=13, corrupt=False)  # 11 for training: shards of 6 and 5
    wait(start_processes(tmp_path, "tf", 4, backend="tensorflow"))
    wait(start_processes(tmp_path, "tf", 6, backend="tensorflow", resume=True, force=True))

    files = files_below(tmp_path / "runs" / "tf")
    assert [f for f in files if f.startswith("checkpoints")] == [f"checkpoints/ckpt-{s:09d}.npz" for s in (2, 4, 6)]
    assert len([f for f in files if ".tfevents." in f]) == 2  # one per start, from worker 0 only
    assert files_below(tmp_path / "checkpoints") == ["tf.keras"]
    _, meta4 = load_checkpoint(tmp_path / "runs" / "tf" / "checkpoints" / "ckpt-000000004.npz")
    _, meta6 = load_checkpoint(tmp_path / "runs" / "tf" / "checkpoints" / "ckpt-000000006.npz")
    # 2 photos per worker and step: 8 after 4 steps, 12 after 6, in shards of 6 and 5 photos.
    assert [(p["epoch"], p["index"]) for p in meta4["data"]] == [(1, 2), (1, 3)]
    assert [(p["epoch"], p["index"]) for p in meta6["data"]] == [(2, 0), (2, 2)]

    from transformnet.model_file import read_model_metadata

    metadata = read_model_metadata(tmp_path / "checkpoints" / "tf.keras")
    assert metadata["processes"] == 2 and metadata["devices"] == 2 and metadata["steps"] == 6
    assert metadata["training_photos"] == 11  # both shards, not worker 0's 6
