"""Gradients of a scalar function of one array, for whichever Keras backend is active.

Keras 3 has no backend-neutral ``grad``; this is the one place that knows each backend's way
(TensorFlow: GradientTape in a tf.function; JAX: jax.value_and_grad under jit; PyTorch: autograd).
The function must return ``(loss, aux)`` where ``aux`` is a dict of scalars for logging.
"""

import keras
import numpy as np


def value_and_grad(fn):
    """Returns ``g(x: np.ndarray) -> (loss: float, grad: np.ndarray float32, aux: dict of float)``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss, aux = fn(x)
            return loss, tape.gradient(loss, x), aux

    elif backend == "jax":
        import jax

        step = jax.jit(jax.value_and_grad(fn, has_aux=True))
        inner = step

        def step(x):  # noqa: F811 - reshape jax's ((loss, aux), grad) to (loss, grad, aux)
            (loss, aux), grad = inner(x)
            return loss, grad, aux

    elif backend == "torch":
        import torch

        def step(x):
            x = x.detach().requires_grad_(True)
            loss, aux = fn(x)
            (grad,) = torch.autograd.grad(loss, x)
            return loss.detach(), grad, {k: v.detach() for k, v in aux.items()}

    else:
        raise RuntimeError(f"unsupported Keras backend {backend!r}")

    def run(x):
        x = keras.ops.convert_to_tensor(np.asarray(x, dtype=np.float32))
        loss, grad, aux = step(x)
        aux = {k: float(keras.ops.convert_to_numpy(v)) for k, v in aux.items()}
        grad = np.asarray(keras.ops.convert_to_numpy(grad), dtype=np.float32)
        return float(keras.ops.convert_to_numpy(loss)), grad, aux

    return run
