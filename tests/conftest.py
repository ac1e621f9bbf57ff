"""Shared fixtures. Data that must not live in the repository (VGG16 weights, paintings,
photos) comes from ``../shared`` beside the checkout; tests that need it skip, saying so,
when it is absent."""

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRANSFORMNET_SHARED", ROOT.parent / "shared"))
NPZ = SHARED / "weights" / "vgg16_notop_block1-4_fp16.npz"
H5 = SHARED / "weights" / "vgg16_notop.weights.h5"
STARRY = SHARED / "styles" / "starry_night.jpg"
ASTRONAUT = SHARED / "content" / "skimage_astronaut.jpg"

# Offline default for every command the tests run (in-process and subprocess CLIs alike):
# the ImageNet download is impossible here, the shared converted weights are not.
if NPZ.exists():
    os.environ.setdefault("TRANSFORMNET_VGG_WEIGHTS", str(NPZ))


def need(path):
    """Skips the calling test (with the reason) when ``path`` from ../shared is missing."""
    if not Path(path).exists():
        pytest.skip(f"needs {path} (the ../shared data folder beside the checkout)")
    return Path(path)


@pytest.fixture(scope="session")
def npz_weights():
    return need(NPZ)


@pytest.fixture(scope="session")
def h5_weights():
    return need(H5)


@pytest.fixture(scope="session")
def loss_net(npz_weights):
    from transformnet.vgg import LossNetwork

    return LossNetwork(weights=str(npz_weights))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def as_from_a_terminal():
    """``preexec_fn`` for a subprocess that a test stops with a signal: SIGINT, SIGTERM and SIGHUP
    at their defaults, as for a command typed at a terminal. The test run's own may be ignored
    (SIGHUP under nohup, as CI may run; SIGINT in a background job of a shell without job
    control); an ignored signal stays ignored across exec, and transformnet keeps it ignored by
    design (``signals.py``), so the child would never stop."""
    import signal

    def apply():
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)

    return apply


def file_size_limit(nbytes):
    """``preexec_fn`` for a subprocess in which no file can grow beyond ``nbytes`` (writes fail
    with EFBIG, as on a full disk); works without root. SIGXFSZ is ignored so the write fails
    instead of killing the process; the ignore survives exec, so ffmpeg children fail alike."""

    def apply():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@contextlib.contextmanager
def unwritable_folder(path):
    """``path`` as a folder nobody may write to: ``chattr +i`` as root (root ignores permission
    bits), mode 0555 otherwise. Skips the test where neither is possible."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        except OSError:
            done = False
        if not done:
            pytest.skip("running as root and chattr +i is not available here")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    else:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
