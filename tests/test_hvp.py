"""Second order by hand: the R-operator against autodiff, the dense Hessian, Lanczos, hypergradients.

float64 tolerances are the gradient check's (rtol 1e-9, atol = rtol x the largest entry):
the hand and autodiff products sum the same terms in another order, so they agree to
rounding; float32 cases use rtol 1e-4 (about 840 ulp) for the same reason.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax.flatten_util import ravel_pytree

import jaxmlp
from jaxmlp import forward, hvp
from jaxmlp.activations import HIDDEN_ACTIVATIONS, get_activation
from jaxmlp.explain.names import param_names
from tests.cli_helpers import run, run_json
from tests.settings import examples, thorough_only
from tests.strategies import networks

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

RTOL = 1e-9


def close(a, b, rtol=RTOL):
    """Leaf by leaf, atol = rtol x the largest entry of the reference tree."""
    scale = max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree_util.tree_leaves(b))
    import chex

    # A floor for trees that are all rounding noise (e.g. softmax over one class: H = 0 exactly,
    # autodiff ~1e-18): ten float64 ulps of 1.
    chex.assert_trees_all_close(a, b, rtol=rtol, atol=max(rtol * scale, 2e-15))


def direction(params, seed=0):
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), params
    )


def batch(x, y):
    return (x[None], y[None]) if x.ndim == 1 else (x, y)


def autodiff_hvp(net, params, x, y, v):
    grad = jax.grad(lambda p: forward.loss_fn(net, p, x, y))
    return jax.jvp(grad, (params,), (v,))[1]


def autodiff_gnvp(net, params, x, y, v):
    """J^T H_l J v with jvp/vjp: split at net_L for the fused losses, at out_L otherwise."""
    fused = net.loss_spec.fused_delta_r is not None

    def outputs(p):
        last = forward.forward_trace(net, p, x)[-1]
        return last.net if fused else last.out

    def loss_of(z):
        out = net.output_activation_spec.fn(z) if fused else z
        return jnp.mean(net.loss_spec.value(z, out, forward.one_hot_targets(net, y, z.dtype)))

    z, jv = jax.jvp(outputs, (params,), (v,))
    hjv = jax.jvp(jax.grad(loss_of), (z,), (jv,))[1]
    return jax.vjp(outputs, params)[1](hjv)[0]


@functools.partial(jax.jit, static_argnums=0)
def products(net, params, x, y, u, v):
    """Everything the property tests compare, in one compiled call per network."""
    flat, unravel = ravel_pytree(params)
    dense = jax.hessian(lambda f: forward.loss_fn(net, unravel(f), x, y))(flat)
    return {
        "hand": hvp.hvp(net, params, x, y, v),
        "auto": autodiff_hvp(net, params, x, y, v),
        "dense_v": dense @ ravel_pytree(v)[0],
        "hand_u": hvp.hvp(net, params, x, y, u),
        "gn_hand": hvp.gnvp(net, params, x, y, v),
        "gn_auto": autodiff_gnvp(net, params, x, y, v),
        "gn_u": hvp.gnvp(net, params, x, y, u),
    }


@settings(deadline=None, max_examples=examples(16))
@given(networks(max_hidden=2, max_width=6))
def test_hvp_equals_forward_over_reverse_the_hessian_and_is_symmetric(case):
    net, params, x, y = case
    xb, yb = batch(x, y)
    u, v = direction(params, 1), direction(params, 2)
    r = products(net, params, xb, yb, u, v)
    close(r["hand"], r["auto"])
    close(ravel_pytree(r["hand"])[0], r["dense_v"])
    close(r["gn_hand"], r["gn_auto"])
    dot = lambda a, b: float(ravel_pytree(a)[0] @ ravel_pytree(b)[0])  # noqa: E731
    uhv, vhu = dot(u, r["hand"]), dot(v, r["hand_u"])
    assert abs(uhv - vhu) <= 1e-9 * max(1.0, abs(uhv)), (uhv, vhu)
    assert dot(u, r["gn_u"]) >= -1e-12 * max(
        1.0, dot(u, u)
    )  # Gauss-Newton is positive semi-definite


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_each_activation_second_derivative_is_the_derivative_of_its_first(name):
    """f'' against autodiff of f'; R{f'} by either route (through net or through out) against
    f'' R{net}; ``curved`` false exactly where f'' vanishes."""
    act = get_activation(name)
    net_in = jnp.linspace(-3.0, 3.0, 61, dtype=jnp.float64) + 0.013  # avoids the kink at 0
    out = act.fn(net_in)

    def fprime(z):
        return act.derivative(z, act.fn(z))

    auto = jax.vmap(jax.grad(fprime))(net_in)
    np.testing.assert_allclose(act.second_derivative(net_in, out), auto, rtol=1e-12, atol=1e-15)
    rnet = jnp.cos(net_in)  # any direction
    rout = act.derivative(net_in, out) * rnet
    np.testing.assert_allclose(
        act.r_derivative(net_in, out, rnet, rout), auto * rnet, rtol=1e-12, atol=1e-15
    )
    assert act.curved == bool(jnp.any(auto != 0))


def test_public_method_validates_and_equals_the_pure_function():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    v = direction(params)
    close(net.hvp(params, x, y, v), hvp.hvp(net, params, x[None], y[None], v), rtol=0)


def seed_loss_numpy(w):
    """The seed's E_total in NumPy alone, w = (w1..w8): independent of jaxmlp."""
    x, t = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h = sig(w[:4].reshape(2, 2) @ x + 0.35)
    o = sig(w[4:].reshape(2, 2) @ h + 0.60)
    return 0.5 * np.sum((t - o) ** 2)


def test_seed_hessian_against_finite_differences_of_an_independent_loss():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    names = param_names(net)
    keep = [i for i, n in enumerate(names) if n.startswith("w")]
    assert [names[i] for i in keep] == [f"w{k}" for k in range(1, 9)]
    hand = np.asarray(jaxmlp.hessian(net, params, x[None], y[None]))[np.ix_(keep, keep)]
    w0 = np.array([0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55])
    h = 1e-4
    fd = np.zeros((8, 8))
    for i in range(8):
        for j in range(8):
            e_i, e_j = np.eye(8)[i] * h, np.eye(8)[j] * h
            fd[i, j] = (
                seed_loss_numpy(w0 + e_i + e_j)
                - seed_loss_numpy(w0 + e_i - e_j)
                - seed_loss_numpy(w0 - e_i + e_j)
                + seed_loss_numpy(w0 - e_i - e_j)
            ) / (4 * h * h)
    # Truncation O(h^2) ~ 1e-8 times the fourth derivative, rounding ~ eps / h^2 ~ 2e-8.
    np.testing.assert_allclose(hand, fd, atol=1e-7)
    np.testing.assert_allclose(hand, hand.T, atol=1e-18)
    assert np.all(np.asarray(jaxmlp.hessian(net, params, x[None], y[None]))[:, [0, 5]] == 0)


@thorough_only
def test_dense_hessian_equals_jax_hessian():
    net = jaxmlp.MLP((3, 4, 2), "tanh", "softmax", "cross_entropy", "per_neuron")
    params = net.init(jax.random.key(0), jnp.float64)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((5, 3)))
    y = jnp.asarray([0, 1, 1, 0, 1])
    flat, unravel = ravel_pytree(params)
    dense = jax.hessian(lambda f: forward.loss_fn(net, unravel(f), x, y))(flat)
    close(jaxmlp.hessian(net, params, x, y), dense)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda n, p, x, y: jaxmlp.hessian(n, p, x[:, :1], y),
            ValueError,
            r"x must have shape \(2,\)",
        ),
        (
            lambda n, p, x, y: jaxmlp.top_eigenvalue(n, p[:1], x, y),
            ValueError,
            "params has 1 layer",
        ),
        (
            lambda n, p, x, y: jaxmlp.top_eigenvalue(n, p, x, y, iterations=0),
            ValueError,
            "iterations must be a positive integer, got 0",
        ),
        (
            lambda n, p, x, y: jaxmlp.top_eigenvalue(n, p, x, y, key=1),
            TypeError,
            r"key must be a PRNG key such as jax.random.key\(0\), got 1",
        ),
        (
            lambda n, p, x, y: jaxmlp.hessian(n, p, x.at[0, 1].set(jnp.nan), y),
            ValueError,
            r"x must be finite, but 1 value\(s\)",
        ),
    ],
)
def test_curvature_validates_its_arguments_before_tracing(call, error, message):
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    with pytest.raises(error, match=message):
        call(net, params, x[None], y[None])


def test_curvature_takes_one_example_as_the_methods_do():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    one, batch = jaxmlp.hessian(net, params, x, y), jaxmlp.hessian(net, params, x[None], y[None])
    assert np.array_equal(np.asarray(one), np.asarray(batch))


@pytest.mark.parametrize(
    "sizes,activation",
    [((2, 3, 2), "tanh"), pytest.param((3, 5, 4, 2), "softplus", marks=thorough_only)],
)
def test_top_eigenvalue_against_eigvalsh(sizes, activation):
    net = jaxmlp.MLP(sizes, activation, "logistic", "half_sse", "per_neuron")
    params = net.init(jax.random.key(3), jnp.float64)
    rng = np.random.default_rng(1)
    x, y = (
        jnp.asarray(rng.standard_normal((6, sizes[0]))),
        jnp.asarray(rng.uniform(size=(6, sizes[-1]))),
    )
    exact = np.linalg.eigvalsh(np.asarray(jaxmlp.hessian(net, params, x, y)))[-1]
    n = ravel_pytree(params)[0].size
    full = float(jaxmlp.top_eigenvalue(net, params, x, y, iterations=n))
    assert abs(full - exact) <= 1e-9 * abs(exact)
    few = float(jaxmlp.top_eigenvalue(net, params, x, y, iterations=min(n, 16)))
    assert few <= exact * (1 + 1e-9) and few >= exact * (1 - 1e-3)


def test_curvature_tools_jit_and_vmap():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    xb, yb = x[None], y[None]
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 1.5 * a]), params)
    tops = jax.jit(jax.vmap(lambda p: jaxmlp.top_eigenvalue(net, p, xb, yb, iterations=10)))(
        stacked
    )
    for k in range(2):
        one = jax.tree_util.tree_map(lambda a: a[k], stacked)
        exact = np.linalg.eigvalsh(np.asarray(jaxmlp.hessian(net, one, xb, yb)))[-1]
        assert abs(float(tops[k]) - exact) <= 1e-9 * abs(exact)
    v = direction(params)
    per_example = jax.vmap(lambda a, b: hvp.hvp(net, params, a[None], b[None], v))(xb, yb)
    close(jax.tree_util.tree_map(lambda a: a[0], per_example), hvp.hvp(net, params, xb, yb, v))


def test_check_hvp_float32_and_finite_differences():
    net = jaxmlp.MLP((4, 6, 3), "tanh", "softmax", "cross_entropy", "shared")
    params = net.init(jax.random.key(0), jnp.float32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    report = jaxmlp.check_hvp(net, params, x, y, direction(params), finite_differences=True)
    assert report.passed and report.dtype == "float32" and report.rtol == 1e-4
    assert all(leaf.fd_max_abs_error is not None for leaf in report.leaves)


def test_check_hvp_catches_a_wrong_product(monkeypatch):
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    v = direction(params)
    real = hvp.hvp

    def wrong(net, params, x, y, v):  # a test double: the output layer's weights off by 1%
        out = real(net, params, x, y, v)
        return (out[0], {**out[1], "w": out[1]["w"] * 1.01})

    monkeypatch.setattr(hvp, "hvp", wrong)
    jax.clear_caches()
    with pytest.raises(jaxmlp.GradientMismatchError, match=r"params\[1\]\['w'\]: R-operator"):
        jaxmlp.check_hvp(net, params, x, y, v)
    report = jaxmlp.check_hvp(net, params, x, y, v, raise_on_mismatch=False)
    assert [leaf.passed for leaf in report.leaves] == [True, True, True, False]
    jax.clear_caches()


def test_direction_is_validated():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    bad = ({"w": jnp.zeros((2, 3)), "b": jnp.zeros(())}, params[1])
    with pytest.raises(ValueError, match=r"v\[0\]\['w'\] must have shape \(2, 2\)"):
        net.hvp(params, x, y, bad)
    with pytest.raises(ValueError, match="v must be finite|v.* must be finite"):
        net.hvp(params, x, y, jax.tree_util.tree_map(lambda a: a * jnp.nan, params))


@pytest.mark.parametrize(
    "optimizer,objective,batch_size",
    [
        (None, "final_loss", None),
        (None, "mean_loss", None),
        pytest.param("momentum", "final_loss", None, marks=thorough_only),
        ("adam", "mean_loss", None),
        pytest.param(None, "final_loss", 3, marks=thorough_only),
    ],
)
def test_hypergradient_equals_finite_differences_of_fit(optimizer, objective, batch_size):
    if batch_size is None:
        net, params, x, y = jaxmlp.tutorial(jnp.float64)  # a single example, as fit's users pass it
        xb, yb, lr = x[None], y[None], 0.5
    else:
        net = jaxmlp.MLP((3, 4, 2), "tanh", "softmax", "cross_entropy")
        params = net.init(jax.random.key(0), jnp.float64)
        rng = np.random.default_rng(0)
        x = xb = jnp.asarray(rng.standard_normal((8, 3)))
        y = yb = jnp.asarray(rng.integers(0, 2, 8))
        lr = 0.3
    key = jax.random.key(7)
    steps = 40
    value, hyper = jaxmlp.hypergradient(
        net,
        params,
        x,
        y,
        steps=steps,
        learning_rate=lr,
        objective=objective,
        optimizer=optimizer,
        batch_size=batch_size,
        key=key,
    )

    def of_fit(rate):
        r = jaxmlp.fit(
            net,
            params,
            xb,
            yb,
            steps=steps,
            learning_rate=rate,
            optimizer=optimizer,
            batch_size=batch_size,
            key=key,
        )
        return (
            float(net.loss_fn(r.params, xb, yb))
            if objective == "final_loss"
            else float(np.mean(r.losses))
        )

    assert float(value) == pytest.approx(of_fit(lr), rel=1e-12)
    h = 1e-5 * lr
    fd = (of_fit(lr + h) - of_fit(lr - h)) / (2 * h)
    # O(h^2) truncation and eps / h rounding: ~1e-9 relative here.
    assert float(hyper) == pytest.approx(fd, rel=1e-6, abs=1e-12)


def test_hypergradient_with_the_handwritten_gradient_inside():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    a = jaxmlp.hypergradient(net, params, x, y, steps=30, learning_rate=0.5)
    b = jaxmlp.hypergradient(net, params, x, y, steps=30, learning_rate=0.5, grad="backprop")
    assert float(b[1]) == pytest.approx(float(a[1]), rel=1e-10)


def test_hypergradient_refuses_bad_arguments():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    with pytest.raises(ValueError, match="unknown objective"):
        jaxmlp.hypergradient(net, params, x, y, steps=3, learning_rate=0.5, objective="best")
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        jaxmlp.hypergradient(net, params, x, y, steps=3, learning_rate=-1.0)
    with pytest.raises(ValueError, match="optimizer must be None"):
        jaxmlp.hypergradient(net, params, x, y, steps=3, learning_rate=0.5, optimizer="rmsprop")
    xs, ys = jnp.stack([x] * 4), jnp.stack([y] * 4)
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        jaxmlp.hypergradient(net, params, xs, ys, steps=3, learning_rate=0.5, batch_size=2, key=5)


def test_gradcheck_second_order_cli(capsys):
    out = run_json(
        capsys,
        "gradcheck",
        "--second-order",
        "--x64",
        "--finite-differences",
        "--activation",
        "tanh",
        "--output-activation",
        "softmax",
        "--loss",
        "cross_entropy",
    )
    assert out["check"].startswith("H v") and out["passed"]
    assert out["max_rel_error"] < 1e-9 and out["fd_max_abs_error"] is not None


@thorough_only
def test_trace_second_order_prints_the_seed_hessian(capsys):
    out = run_json(capsys, "trace", "--second-order")
    assert out["parameters"] == [f"w{k}" for k in range(1, 9)]
    w0 = np.array([0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55])
    flat = jnp.asarray(w0)
    auto = jax.hessian(lambda w: jnp.asarray(seed_loss_jnp(w)))(flat)
    np.testing.assert_allclose(out["hessian"], auto, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(out["eigenvalues"], np.linalg.eigvalsh(np.asarray(auto)), atol=1e-15)
    assert out["top_eigenvalue_lanczos"] == pytest.approx(out["eigenvalues"][-1], rel=1e-9)
    code, text, _ = run(capsys, "trace", "--second-order")
    assert code == 0 and "w8" in text and "2 / lambda_max" in text


def seed_loss_jnp(w):
    """The seed's E_total written directly in jax.numpy (autodiff's reference for the CLI test)."""
    x, t = jnp.array([0.05, 0.10]), jnp.array([0.01, 0.99])
    h = jax.nn.sigmoid(w[:4].reshape(2, 2) @ x + 0.35)
    o = jax.nn.sigmoid(w[4:].reshape(2, 2) @ h + 0.60)
    return 0.5 * jnp.sum((t - o) ** 2)


def test_the_gauss_newton_product_is_a_validated_method_like_hvp():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    # another program (one example, a finiteness flag): float64 to 2e-15, as the hvp method's
    # test (XLA promises no bit-identity across programs)
    close(
        net.gnvp(params, x, y, v),
        jax.jit(hvp.gnvp, static_argnums=0)(net, params, x[None], y[None], v),
        rtol=0,
    )
    with pytest.raises(ValueError, match="v"):
        net.gnvp(params, x, y, v[:1])
