"""The seed's network: a 2-2-2 logistic MLP with one shared, frozen bias per layer.

Weights, in the seed's names (``w[j, i]`` connects input ``i`` to neuron ``j``)::

    h1 = f(w1 i1 + w2 i2 + b1)      w1 = 0.15  w2 = 0.20  b1 = 0.35
    h2 = f(w3 i1 + w4 i2 + b1)      w3 = 0.25  w4 = 0.30
    o1 = f(w5 h1 + w6 h2 + b2)      w5 = 0.40  w6 = 0.45  b2 = 0.60
    o2 = f(w7 h1 + w8 h2 + b2)      w7 = 0.50  w8 = 0.55

trained on one example, ``i = (0.05, 0.10)`` with target ``(0.01, 0.99)``, by
SGD at learning rate 0.5 on ``E = sum 1/2 (target - out)^2``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxmlp.config import MLP
from jaxmlp.params import check_dtype

SEED_NET = MLP((2, 2, 2), "logistic", "logistic", "half_sse", bias="shared", train_bias=False)
SEED_WEIGHTS = (((0.15, 0.20), (0.25, 0.30)), ((0.40, 0.45), (0.50, 0.55)))
SEED_BIASES = (0.35, 0.60)
SEED_X = (0.05, 0.10)
SEED_Y = (0.01, 0.99)
SEED_LEARNING_RATE = 0.5


def tutorial(dtype=None):
    """The seed's ``(net, params, x, y)``; ``x`` and ``y`` are single examples of shape ``(2,)``.

    ``dtype`` defaults to JAX's default float (float64 once x64 is enabled,
    which the seed's nine digits need).
    """
    dtype = check_dtype(jnp.zeros(()).dtype if dtype is None else dtype)
    params = tuple(
        {"w": jnp.asarray(w, dtype), "b": jnp.asarray(b, dtype)}
        for w, b in zip(SEED_WEIGHTS, SEED_BIASES)
    )
    return SEED_NET, params, jnp.asarray(SEED_X, dtype), jnp.asarray(SEED_Y, dtype)
