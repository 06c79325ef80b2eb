"""The small-product kernel the training loops use: every path equals the reference product, and
the delta rule and the R-operator computed with it equal the reference core's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings

from jaxmlp import MLP, backprop, forward, hvp
from jaxmlp.kernels.small import SMALL, matmul
from tests.settings import examples
from tests.strategies import networks

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)
RTOL = 1e-13  # float64: the unrolled sum only reorders a sum of at most SMALL products


@pytest.mark.parametrize(
    "shape_a, shape_b, path",
    [
        ((5, 1), (1, 7), "outer product"),
        ((1, 1), (1, 3), "outer product"),
        ((1, 2), (2, 2), "unrolled sum"),
        ((1, SMALL), (SMALL, 4), "unrolled sum"),
        ((1, SMALL + 1), (SMALL + 1, 4), "dot"),
        ((3, 4), (4, 2), "dot"),
    ],
)
def test_every_path_is_the_reference_product(shape_a, shape_b, path):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    got = np.asarray(matmul(jnp.asarray(a), jnp.asarray(b)))
    assert got.shape == (shape_a[0], shape_b[1])
    if path == "outer product":
        np.testing.assert_array_equal(got, a * b)  # one product per element: exact
    np.testing.assert_allclose(got, a @ b, rtol=RTOL, atol=RTOL * np.abs(a @ b).max())


def _close(a, b):
    # The absolute tolerance follows the largest value in the whole result, not each leaf: a shared
    # bias's entry is a sum over a layer's neurons that can cancel to a few ulps (under softmax and
    # cross-entropy the output deltas sum to zero), and a reordered sum changes those last ulps.
    leaves = jax.tree_util.tree_leaves(b)
    scale = max(float(jnp.max(jnp.abs(leaf))) for leaf in leaves) or 1.0
    for x, y in zip(jax.tree_util.tree_leaves(a), leaves):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-12, atol=1e-12 * scale)


def _cancelling_shared_bias():
    """The softmax layer's shared-bias HVP entry is a cancellation residue (-1.4e-17 against 5.6e-17)."""
    net = MLP((1, 2, 2), output_activation="softmax", loss="cross_entropy", bias="shared")
    params = (
        {"w": jnp.array([[0.189], [-0.523]]), "b": jnp.array(-0.124)},
        {"w": jnp.array([[-2.441, 1.8], [1.144, -0.325]]), "b": jnp.array(0.232)},
    )
    return net, params, jnp.array([0.281]), jnp.array([0.0, 1.0])


@settings(max_examples=examples(24), deadline=None)
@given(networks(max_width=SMALL + 2))
@example(_cancelling_shared_bias())
def test_the_core_with_the_kernel_equals_the_reference(case):
    net, params, x, y = case
    x, y = (x[None], y[None]) if x.ndim == 1 else (x, y)
    v = jax.tree_util.tree_map(lambda a: 0.5 * a + 0.1, params)
    _close(forward.loss_fn(net, params, x, y, matmul=matmul), forward.loss_fn(net, params, x, y))
    _close(
        backprop.value_and_backprop(net, params, x, y, matmul=matmul),
        backprop.value_and_backprop(net, params, x, y),
    )
    _close(hvp.hvp(net, params, x, y, v, matmul=matmul), hvp.hvp(net, params, x, y, v))
    _close(
        backprop.sgd_step_updated_weights(net, params, x, y, 0.5, matmul=matmul),
        backprop.sgd_step_updated_weights(net, params, x, y, 0.5),
    )
