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


def test_preserve_color_and_strength_apply_to_the_slow_path_too(tmp_path, loss_net):
    """Gatys et al. (2016) keep a photo's colours in the optimised image as the fast path does;
    --strength 0 gives back the photo itself, --preserve-color its chroma."""
    from PIL import Image

    from transformnet import cli
    from transformnet.color import rgb_to_ycbcr

    rng = np.random.default_rng(4)
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(photo)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(painting)
    common = ["--style", str(painting), "--image", str(photo), "--size", "32", "--iterations", "2", "--quiet"]
    assert cli.main(common + ["--strength", "0", "--output", str(tmp_path / "zero.png")]) == 0
    original = np.asarray(Image.open(photo))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "zero.png")), original)
    assert cli.main(common + ["--preserve-color", "--output", str(tmp_path / "kept.png")]) == 0
    assert cli.main(common + ["--output", str(tmp_path / "plain.png")]) == 0
    chroma = lambda name: rgb_to_ycbcr(np.asarray(Image.open(tmp_path / name)))[..., 1:]  # noqa: E731
    kept = np.abs(chroma("kept.png") - rgb_to_ycbcr(original)[..., 1:]).mean()
    plain = np.abs(chroma("plain.png") - rgb_to_ycbcr(original)[..., 1:]).mean()
    assert kept < 2 < plain, (kept, plain)


def test_slow_path_scales_the_painting_to_style_size_up_or_down_as_training_does(tmp_path, loss_net, monkeypatch):
    """--style-size is the painting's longer side in both commands (train.py scales up too), so
    the slow path measures the style a model of the same settings was trained on."""
    from PIL import Image

    from transformnet import cli

    measured = []
    targets = PerceptualLoss.style_targets
    monkeypatch.setattr(PerceptualLoss, "style_targets",
                        staticmethod(lambda net, image: measured.append(image.shape) or targets(net, image)))
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(painting)
    common = ["--style", str(painting), "--image", str(photo), "--size", "32", "--iterations", "1", "--quiet", "--force"]
    for extra in (["--style-size", "90"], ["--style-size", "30"], []):
        assert cli.main(common + extra + ["--output", str(tmp_path / "out.png")]) == 0
    assert measured == [(60, 90, 3), (20, 30, 3), (21, 32, 3)]
