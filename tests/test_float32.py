"""The core in JAX's default precision, float32, as users run it: the seed's figures, the delta
rule, the R-operator, fit and sweep on random networks, each with a stated float32 tolerance.

float32's unit roundoff is 2**-24 (6e-8). The tolerances below allow for the roundings a result
accumulates (products and sums over at most 16 terms per layer, a few layers, and for training
runs tens of steps, each a relative perturbation of a few eps), with room for cancellation; the
float64 versions of these tests (in their own modules, marked ``float64``) hold the same
properties to 1e-9 and tighter.
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings

import jaxmlp
from tests.settings import examples, thorough_only
from tests.strategies import networks


def test_the_tests_run_in_float32():
    assert not jax.config.jax_enable_x64 and jnp.zeros(1).dtype == jnp.float32


def test_the_seed_figures_in_float32():
    """The seed's forward pass, loss and first update in float32 equal its printed figures to
    float32's resolution: a relative 1e-6 (about 16 eps) of each figure."""
    net, params, x, y = jaxmlp.tutorial()
    assert x.dtype == jnp.float32
    hidden, output = net.forward_trace(params, x)
    grads = net.backprop(params, x, y)
    new = jaxmlp.sgd_step(params, grads, 0.5)
    for got, printed in (
        (hidden.out[0], 0.593269992),
        (output.out[0], 0.75136507),
        (output.out[1], 0.772928465),
        (net.loss_fn(params, x, y), 0.298371109),
        (grads[1]["w"][0, 0], 0.082167041),
        (new[1]["w"][0, 0], 0.35891648),
        (new[0]["w"][0, 0], 0.149780716),
    ):
        np.testing.assert_allclose(float(got), printed, rtol=1e-6)


@settings(max_examples=examples(24), deadline=None)
@given(networks(dtype=jnp.float32))
def test_float32_r_operator_close_to_autodiff(case):
    """check_hvp's float32 tolerance (rtol 1e-4 of the largest |Hv| entry): the R-operator and
    jax.jvp of jax.grad round differently through two sweeps of a few layers."""
    net, params, x, y = case
    rng = np.random.default_rng(0)
    v = jax.tree_util.tree_map(
        lambda a: jnp.asarray(rng.standard_normal(a.shape), jnp.float32), params
    )
    report = jaxmlp.check_hvp(net, params, x, y, v)
    assert report.dtype == "float32" and report.passed


@settings(max_examples=examples(16), deadline=None)
@given(networks(max_hidden=2, max_width=8, dtype=jnp.float32))
def test_float32_fit_backprop_and_autodiff_follow_the_same_trajectory(case):
    """20 SGD steps by the delta rule and by jax.grad: their losses agree to a relative 1e-4 (the
    gradients differ by float32 rounding, ~1e-6 relative each step, and small steps keep the
    difference from growing); the in-loop gradient check passes at its float32 tolerance."""
    net, params, x, y = case
    kw = dict(steps=20, learning_rate=0.05)
    a = jaxmlp.fit(net, params, x, y, grad="autodiff", **kw)
    b = jaxmlp.fit(net, params, x, y, grad="backprop", **kw)
    assert a.losses.dtype == np.float32 and b.gradient_check.passed
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-4, atol=1e-6)
    jax.tree_util.tree_map(
        lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5), a.params, b.params
    )


def test_float32_fit_equals_the_manual_loop():
    """fit's compiled loop and a Python loop of jitted sgd_step calls compute the same float32
    updates; XLA may fuse the loop's products differently, so they agree to a few ulps per step:
    a relative 1e-5 after 100 steps."""
    net, params, x, y = jaxmlp.tutorial()
    result = jaxmlp.fit(net, params, x, y, steps=100, learning_rate=0.5, grad="backprop")
    p = params
    for _ in range(100):
        p = jaxmlp.sgd_step(p, net.backprop(p, x, y), 0.5)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), result.params, p
    )


@thorough_only
def test_float32_sweep_members_equal_their_own_fit_runs():
    """A population trained by sweep (float32, lanes and vmap) equals each member trained alone
    to a relative 1e-5 of the final loss (different summation orders, 60 steps)."""
    net = jaxmlp.MLP((2, 3, 1), activation="tanh")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    for layout in ("lanes", "vmap"):
        r = jaxmlp.sweep(net, x, y, learning_rates=[0.5, 1.0], seeds=[0], steps=60, layout=layout)
        for i, lr in enumerate([0.5, 1.0]):
            params = net.init(jax.random.key(0))
            alone = jaxmlp.fit(net, params, x, y, steps=60, learning_rate=lr, grad="backprop")
            np.testing.assert_allclose(
                r.final_loss[i, 0], float(alone.final_loss), rtol=1e-5, err_msg=layout
            )
