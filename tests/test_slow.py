"""The slow (Gatys) path lowers the loss in a few iterations (every backend)."""

import numpy as np
import pytest

from transformnet.losses import PerceptualLoss
from transformnet.slow import stylize


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_slow_path_lowers_total_loss(loss_net, optimizer, rng):
    content = rng.uniform(40, 215, size=(64, 64, 3)).astype("float32")
    # A "painting" with structure very different from the content photo: stripes.
    stripes = np.zeros((64, 64, 3), "float32")
    stripes[:, ::8] = (250, 200, 20)
    stripes[::8, :] = (20, 40, 200)
    grams = PerceptualLoss.style_targets(loss_net, stripes)
    fn = PerceptualLoss(loss_net, grams)
    seen = []
    image, final = stylize(
        content, fn, iterations=8, optimizer=optimizer, callback=lambda i, losses: seen.append(losses["total"])
    )
    assert image.shape == content.shape and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 255.0
    assert len(seen) >= 8
    assert final["total"] < 0.9 * seen[0], (seen[0], final["total"])
    assert final["total"] == pytest.approx(min(seen))


def test_unknown_optimizer(loss_net):
    fn = PerceptualLoss(loss_net, PerceptualLoss.style_targets(loss_net, np.zeros((8, 8, 3), "float32")))
    with pytest.raises(ValueError, match="sgd"):
        stylize(np.zeros((8, 8, 3), "float32"), fn, iterations=1, optimizer="sgd")
