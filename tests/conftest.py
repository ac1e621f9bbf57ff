"""Shared fixtures. Data that must not live in the repository (VGG16 weights, paintings,
photos) comes from ``../shared`` beside the checkout; tests that need it skip, saying so,
when it is absent."""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRANSFORMNET_SHARED", ROOT.parent / "shared"))
NPZ = SHARED / "weights" / "vgg16_notop_block1-4_fp16.npz"
H5 = SHARED / "weights" / "vgg16_notop.weights.h5"
STARRY = SHARED / "styles" / "starry_night.jpg"
ASTRONAUT = SHARED / "content" / "skimage_astronaut.jpg"


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
