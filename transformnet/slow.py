"""The slow reference path (Gatys et al. 2015): optimise the pixels of one image.

It minimises exactly the loss the fast network is trained on (``losses.PerceptualLoss``),
starting from the content photo, so a fast model's loss on a photo can be compared with what
per-image optimisation reaches after N iterations.

Optimisers: Adam (default: one loss evaluation per step, so time is predictable; Keras' own
``keras.optimizers.Adam`` on the pixels as a ``keras.Variable``, clipped to 0..255 after each
step) or L-BFGS (Gatys' choice; scipy's L-BFGS-B with the 0..255 box as bounds, on the host in
numpy). Keras has no L-BFGS, scipy has. The loss and its gradient run on the Keras backend
(``autodiff.py``) and come back as numpy, which is what scipy needs.
"""

import numpy as np

from . import config, memory
from .autodiff import value_and_grad
from .losses import PerceptualLoss


def make_objective(loss_fn, content_image):
    """Returns ``f(pixels (H, W, 3)) -> (total, grad, losses)`` for one content image."""
    from keras import ops

    memory.slow_path(*content_image.shape[:2])
    batch = ops.convert_to_tensor(content_image[None].astype("float32"))
    content_features = loss_fn.content_targets(batch)

    def loss_of(pixels):
        losses = loss_fn(ops.expand_dims(pixels, 0), content_features=content_features)
        return losses["total"], losses

    return value_and_grad(loss_of)


def stylize(
    content_image,
    loss_fn: PerceptualLoss,
    iterations=config.SLOW_ITERATIONS,
    optimizer=config.SLOW_OPTIMIZER,
    learning_rate=config.SLOW_LEARNING_RATE,
    callback=None,
    init=None,
):
    """Optimises an image, starting from ``init`` (default: the content photo).

    ``callback(iteration, losses)`` is called after each loss evaluation. Returns the float32
    (H, W, 3) image in 0..255 with the lowest total loss seen, and that loss dict.
    """
    objective = make_objective(loss_fn, content_image)
    x = np.array(content_image if init is None else init, dtype=np.float32)
    best = {"loss": np.inf, "image": x.copy(), "losses": None}

    def evaluate(pixels, iteration):
        total, grad, losses = objective(pixels)
        if total < best["loss"]:
            best.update(loss=total, image=pixels.copy(), losses=losses)
        if callback is not None:
            callback(iteration, losses)
        return total, grad

    if optimizer == "adam":
        import keras

        pixels = keras.Variable(x, dtype="float32", name="pixels")
        adam = keras.optimizers.Adam(learning_rate, epsilon=1e-8)
        for t in range(1, iterations + 1):
            _, grad = evaluate(x, t)
            adam.apply([keras.ops.convert_to_tensor(grad)], [pixels])
            pixels.assign(keras.ops.clip(pixels, 0.0, 255.0))  # projected onto the pixel box
            x = keras.ops.convert_to_numpy(pixels)
        evaluate(x, iterations + 1)  # score the final iterate too
    elif optimizer == "lbfgs":
        from scipy.optimize import minimize

        shape = x.shape
        counter = {"n": 0}

        def fun(flat):
            counter["n"] += 1
            total, grad = evaluate(flat.reshape(shape).astype(np.float32), counter["n"])
            return float(total), grad.ravel().astype(np.float64)

        minimize(
            fun,
            x.ravel().astype(np.float64),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, 255.0)] * x.size,
            options={"maxfun": iterations, "maxiter": iterations},
        )
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}: use 'adam' or 'lbfgs'")
    return best["image"], best["losses"]
