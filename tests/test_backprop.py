"""The handwritten delta rule equals jax.grad, and both equal finite differences, on random networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import jaxmlp
from jaxmlp.backprop import sgd_step_updated_weights
from jaxmlp.checks import gradient_check
from tests.settings import examples, thorough_only
from tests.strategies import networks


@pytest.mark.float64
@settings(max_examples=examples(24), deadline=None)
@given(networks())
def test_backprop_equals_autodiff_and_finite_differences(case):
    net, params, x, y = case
    hand = jax.jit(net.backprop)(params, x, y)
    auto = jax.jit(jax.grad(net.loss_fn))(params, x, y)
    # float64: the two differ only in summation order.
    jax.tree_util.tree_map(
        lambda h, a: np.testing.assert_allclose(
            h, a, rtol=1e-9, atol=1e-12 * max(1.0, float(jnp.abs(a).max()))
        ),
        hand,
        auto,
    )
    report = jaxmlp.check_gradients(net, params, x, y, finite_differences=True)
    assert report.passed
    assert all(
        leaf.fd_max_abs_error is not None
        for leaf in report.leaves
        if not leaf.path.endswith("['b']") or net.train_bias
    )


@settings(max_examples=examples(24), deadline=None)
@given(networks(dtype=jnp.float32))
def test_float32_backprop_close_to_float32_autodiff(case):
    """In JAX's default precision, as users run it: the delta rule agrees with jax.grad within
    check_gradients' float32 tolerance (rtol 1e-4: a few hundred float32 roundings of eps 6e-8 in
    sums of up to 16 terms over up to 5 layers, with room for cancellation)."""
    net, params, x, y = case
    assert x.dtype == jnp.float32 and not jax.config.jax_enable_x64
    report = jaxmlp.check_gradients(net, params, x, y)
    assert report.dtype == "float32" and report.rtol == 1e-4 and report.passed


@pytest.mark.float64
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"rtol": -1.0}, ValueError, "rtol must be None or a finite number >= 0, got -1.0"),
        ({"atol": float("nan")}, ValueError, "atol must be None or a finite number >= 0"),
        ({"rtol": "1e-9"}, TypeError, "rtol must be None or a number >= 0, got '1e-9'"),
    ],
)
def test_check_gradients_and_check_hvp_refuse_bad_tolerances(kwargs, error, message):
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    with pytest.raises(error, match=message):
        jaxmlp.check_gradients(net, params, x, y, **kwargs)
    with pytest.raises(error, match=message):
        jaxmlp.check_hvp(net, params, x, y, params, **kwargs)


@pytest.mark.float64
def test_check_gradients_names_the_leaf_and_side_on_mismatch(monkeypatch, request):
    net, params, x, y = jaxmlp.tutorial()
    net = jaxmlp.MLP((2, 2, 2), bias="per_neuron")
    params = tuple({"w": p["w"], "b": jnp.full((2,), p["b"])} for p in params)
    from jaxmlp import backprop

    real = backprop.backprop

    def broken(net_, params_, x_, y_):
        g = real(net_, params_, x_, y_)
        return (g[0], {"w": g[1]["w"].at[1, 0].add(1e-6), "b": g[1]["b"]})

    monkeypatch.setattr(backprop, "backprop", broken)
    # The check's compiled program may hold the real delta rule from an earlier test: traced anew
    # here, and dropped afterwards so that later tests trace the real one again.
    gradient_check._gradients.clear_cache()
    request.addfinalizer(gradient_check._gradients.clear_cache)
    with pytest.raises(
        jaxmlp.GradientMismatchError,
        match=r"params\[1\]\['w'\]: backprop disagrees with autodiff: max abs error 1\.000e-06",
    ):
        jaxmlp.check_gradients(net, params, x, y)
    report = jaxmlp.check_gradients(net, params, x, y, raise_on_mismatch=False)
    assert not report.passed
    assert [leaf.path for leaf in report.leaves if not leaf.passed] == ["params[1]['w']"]
    assert report.max_abs_error == pytest.approx(1e-6, rel=1e-6)


@pytest.mark.float64
def test_finite_differences_catch_a_wrong_autodiff_side(monkeypatch, request):
    net = jaxmlp.MLP((3, 4, 2), activation="tanh")
    params = net.init(jax.random.key(1), jnp.float64)
    x, y = jnp.ones((2, 3)), jnp.zeros((2, 2))
    from jaxmlp import forward

    real = forward.loss_fn
    calls = {"n": 0}

    def scaled(
        net_, params_, x_, y_
    ):  # autodiff and backprop see 1.0x, FD sees 1.01x for perturbed params
        calls["n"] += 1
        return real(net_, params_, x_, y_) * jnp.where(calls["n"] > 2, 1.01, 1.0)

    monkeypatch.setattr(forward, "loss_fn", scaled)
    gradient_check._gradients.clear_cache()  # traced anew with the patched loss, and dropped after
    request.addfinalizer(gradient_check._gradients.clear_cache)
    report = jaxmlp.check_gradients(
        net, params, x, y, finite_differences=True, raise_on_mismatch=False
    )
    assert not report.passed
    assert "finite differences disagree with autodiff" in " ".join(
        leaf.message for leaf in report.leaves
    )


@pytest.mark.float64
@thorough_only
def test_updated_weights_order_differs_only_in_hidden_layers_and_works_for_any_depth():
    net = jaxmlp.MLP((3, 5, 4, 2), activation="tanh", bias="per_neuron")
    params = net.init(jax.random.key(0), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)
    y = jax.random.uniform(jax.random.key(2), (6, 2), jnp.float64)
    lr = 0.3
    _, online = sgd_step_updated_weights(net, params, x, y, lr)
    plain = jaxmlp.sgd_step(params, net.backprop(params, x, y), lr)
    # output layer: the same gradient, from another program (op by op here, compiled there):
    # equal to float64 rounding (XLA promises no bit-identity across programs)
    np.testing.assert_allclose(online[-1]["w"], plain[-1]["w"], rtol=1e-13, atol=1e-15)
    assert not np.allclose(online[0]["w"], plain[0]["w"], rtol=0, atol=1e-12)
    # By hand for the hidden layers: delta_2 through the updated W3, delta_1 through the updated W2.
    trace = net.forward_trace(params, x)
    d3 = (trace[2].out - y) * trace[2].out * (1 - trace[2].out) / 6
    w3 = params[2]["w"] - lr * d3.T @ trace[1].out
    d2 = (d3 @ w3) * (1 - trace[1].out ** 2)
    w2 = params[1]["w"] - lr * d2.T @ trace[0].out
    d1 = (d2 @ w2) * (1 - trace[0].out ** 2)
    np.testing.assert_allclose(online[1]["w"], w2, rtol=1e-12)
    np.testing.assert_allclose(online[0]["w"], params[0]["w"] - lr * d1.T @ x, rtol=1e-12)
    np.testing.assert_allclose(online[0]["b"], params[0]["b"] - lr * d1.sum(0), rtol=1e-12)
