"""Hypothesis strategies shared by the test modules: random networks with their data."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import jaxmlp

OUTPUT_LOSS = [
    (act, loss) for act in jaxmlp.HIDDEN_ACTIVATIONS for loss in ("half_sse", "mse", "half_mse")
] + [
    ("exp", "poisson"),
    ("softmax", "cross_entropy"),
    ("logistic", "binary_cross_entropy"),
]


@st.composite
def networks(draw, max_hidden=4, max_width=16, dtype=jnp.float64):
    """``(net, params, x, y)`` in ``dtype`` (float64 needs the test in 64-bit mode): any depth, activation, loss, bias mode; one example or a batch."""
    hidden = draw(st.lists(st.integers(1, max_width), min_size=1, max_size=max_hidden))
    output_activation, loss = draw(st.sampled_from(OUTPUT_LOSS))
    n_in = draw(st.integers(1, max_width))
    n_out = draw(st.integers(2 if output_activation == "softmax" else 1, max_width))
    net = jaxmlp.MLP(
        (n_in, *hidden, n_out),
        activation=draw(st.sampled_from(jaxmlp.HIDDEN_ACTIVATIONS)),
        output_activation=output_activation,
        loss=loss,
        bias=draw(st.sampled_from(jaxmlp.BIAS_MODES)),
        train_bias=draw(st.booleans()),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = net.init(jax.random.key(int(rng.integers(2**31))), dtype=dtype)
    # Non-zero biases, so their gradients are exercised.
    params = tuple(
        {
            k: v + (0.3 * rng.standard_normal(v.shape).astype(dtype) if k == "b" else 0.0)
            for k, v in layer.items()
        }
        for layer in params
    )
    batch = draw(st.sampled_from([None, 1, 3, 8]))
    lead = () if batch is None else (batch,)
    x = rng.standard_normal(lead + (n_in,))
    if loss == "cross_entropy" and draw(st.booleans()):
        y = rng.integers(0, n_out, size=lead)
    elif loss == "cross_entropy":
        y = np.eye(n_out)[rng.integers(0, n_out, size=lead)]
    elif loss == "binary_cross_entropy":
        y = rng.uniform(size=lead + (n_out,))
    elif loss == "poisson":
        y = rng.poisson(1.0, size=lead + (n_out,)).astype(float)
    else:
        y = rng.standard_normal(lead + (n_out,))
    y = y if y.dtype.kind in "iu" else y.astype(dtype)
    return net, params, jnp.asarray(x, dtype), jnp.asarray(y)
