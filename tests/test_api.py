"""The public functions under jit, vmap and grad, without retracing, and their errors on bad input."""

import dataclasses
import os
import re
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmlp
from tests.settings import thorough_only

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

NET = jaxmlp.MLP((3, 5, 2), activation="tanh", output_activation="softmax", loss="cross_entropy")
with jax.enable_x64(True):  # the module's float64 fixtures, made in the scope its tests run in
    PARAMS = NET.init(jax.random.key(0), jnp.float64)
    X = jax.random.normal(jax.random.key(1), (7, 3), jnp.float64)
    Y = jnp.array([0, 1, 1, 0, 1, 0, 0])


def test_configuration_is_hashable_static_and_validated():
    same = jaxmlp.MLP([3, 5, 2], "tanh", "softmax", "cross_entropy")
    assert same == NET and hash(same) == hash(NET) and same.sizes == (3, 5, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        NET.sizes = (1, 2)
    # Registered as a static pytree node: it can be an ordinary argument of jit.
    f = jax.jit(lambda net, p, x: net.apply(p, x))
    assert f(NET, PARAMS, X).shape == (7, 2)


def test_shapes_of_single_examples_and_batches():
    assert NET.apply(PARAMS, X[0]).shape == (2,)
    assert NET.apply(PARAMS, X).shape == (7, 2)
    trace = NET.forward_trace(PARAMS, X[0])
    assert [t.net.shape for t in trace] == [(5,), (2,)]
    assert NET.per_example_loss(PARAMS, X, Y).shape == (7,)
    assert NET.loss_fn(PARAMS, X, Y).shape == ()
    np.testing.assert_allclose(NET.apply(PARAMS, X).sum(-1), 1.0, rtol=1e-12)


def test_integer_labels_equal_one_hot_targets():
    one_hot = jax.nn.one_hot(Y, 2, dtype=jnp.float64)
    assert float(NET.loss_fn(PARAMS, X, Y)) == pytest.approx(
        float(NET.loss_fn(PARAMS, X, one_hot)), rel=1e-14
    )
    chex.assert_trees_all_close(
        NET.backprop(PARAMS, X, Y), NET.backprop(PARAMS, X, one_hot), rtol=1e-14
    )


def test_jit_vmap_grad_of_the_public_functions():
    chex.assert_trees_all_close(
        jax.jit(NET.backprop)(PARAMS, X, Y), jax.grad(NET.loss_fn)(PARAMS, X, Y), rtol=1e-12
    )
    # Per-example gradients: vmap over examples; their mean is the batch gradient.
    per_example = jax.jit(jax.vmap(NET.backprop, in_axes=(None, 0, 0)))(PARAMS, X, Y)
    chex.assert_shape(per_example[0]["w"], (7, 5, 3))
    mean = jax.tree_util.tree_map(lambda g: g.mean(0), per_example)
    chex.assert_trees_all_close(mean, NET.backprop(PARAMS, X, Y), rtol=1e-12)
    # vmap over stacked parameter sets: a population of four networks.
    stacked = jax.vmap(lambda k: NET.init(k, jnp.float64))(jax.random.split(jax.random.key(3), 4))
    losses = jax.jit(jax.vmap(NET.loss_fn, in_axes=(0, None, None)))(stacked, X, Y)
    grads = jax.jit(jax.vmap(NET.backprop, in_axes=(0, None, None)))(stacked, X, Y)
    for i in range(4):
        p_i = jax.tree_util.tree_map(lambda a: a[i], stacked)
        assert float(losses[i]) == pytest.approx(float(NET.loss_fn(p_i, X, Y)), rel=1e-13)
        chex.assert_trees_all_close(
            jax.tree_util.tree_map(lambda a: a[i], grads), NET.backprop(p_i, X, Y), rtol=1e-12
        )
    # Second-order: grad of a function of the handwritten gradient.
    g2 = jax.jit(jax.grad(lambda p: jnp.sum(NET.backprop(p, X, Y)[1]["w"] ** 2)))(PARAMS)
    assert jnp.all(jnp.isfinite(g2[0]["w"]))


def test_second_call_with_the_same_shapes_does_not_retrace():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, x, y):
        return NET.backprop(params, x, y)

    step(PARAMS, X, Y)
    step(jax.tree_util.tree_map(lambda a: a + 1.0, PARAMS), X * 2.0, Y[::-1])
    with pytest.raises(AssertionError):
        step(PARAMS, X[:3], Y[:3])  # a new shape does trace again, and the counter sees it


def test_the_same_gradient_twice_is_bit_identical():
    a = jax.jit(NET.backprop)(PARAMS, X, Y)
    b = jax.jit(NET.backprop)(PARAMS, X, Y)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    jax.tree_util.tree_map(
        np.testing.assert_array_equal, NET.backprop(PARAMS, X, Y), NET.backprop(PARAMS, X, Y)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"activation": "sigmoidal"},
            "unknown activation 'sigmoidal'; expected one of logistic, tanh",
        ),
        ({"activation": "softmax"}, "unknown activation 'softmax'"),
        (
            {"loss": "hinge"},
            "unknown loss 'hinge'; expected one of half_sse, mse, half_mse, poisson, cross_entropy",
        ),
        (
            {"output_activation": "softmax"},
            "output_activation 'softmax' needs loss 'cross_entropy', got loss 'half_sse'",
        ),
        (
            {"loss": "cross_entropy"},
            "loss 'cross_entropy' needs output_activation 'softmax', got 'logistic'",
        ),
        (
            {"loss": "binary_cross_entropy", "output_activation": "tanh"},
            "needs output_activation 'logistic'",
        ),
        ({"bias": "some"}, "unknown bias 'some'; expected one of per_neuron, shared, none"),
        ({"sizes": (2,)}, "at least two positive integers"),
        ({"sizes": (2, 0, 1)}, "at least two positive integers"),
        ({"sizes": (2, 1.5)}, "sizes must hold positive integers"),
        ({"sizes": "2,2"}, "sequence of positive integers"),
        ({"train_bias": "no"}, "train_bias must be True or False"),
        (
            {"sizes": (3, 1), "output_activation": "softmax", "loss": "cross_entropy"},
            "output_activation 'softmax' needs at least 2 outputs",
        ),
    ],
)
def test_bad_configurations(kwargs, message):
    args = {"sizes": (2, 2, 2), **kwargs}
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        jaxmlp.MLP(**args)


def test_bad_inputs_name_what_was_expected_and_what_came():
    with pytest.raises(
        ValueError,
        match=r"x must have shape \(3,\) or \(batch, 3\) for sizes \(3, 5, 2\), got \(7, 4\)",
    ):
        NET.apply(PARAMS, jnp.ones((7, 4)))
    with pytest.raises(
        ValueError,
        match=r"integer labels y must have shape \(7,\) to match x of shape \(7, 3\), got \(6,\)",
    ):
        NET.loss_fn(PARAMS, X, Y[:6])
    with pytest.raises(
        ValueError, match=r"y must have shape \(7, 2\) or integer labels of shape \(7,\)"
    ):
        NET.loss_fn(PARAMS, X, jnp.ones((7, 3)))
    with pytest.raises(ValueError, match=r"labels y must lie in \[0, 2\)"):
        NET.loss_fn(PARAMS, X, Y + 1)
    with pytest.raises(
        ValueError, match=r"params\[1\]\['w'\] must have shape \(2, 5\) for sizes \(3, 5, 2\)"
    ):
        NET.apply((PARAMS[0], {"w": jnp.ones((3, 5)), "b": jnp.ones(2)}), X)
    with pytest.raises(ValueError, match=r"params has 1 layer\(s\) but sizes \(3, 5, 2\) needs 2"):
        NET.apply(PARAMS[:1], X)
    with pytest.raises(ValueError, match=r"params\[0\] must be a dict with keys \['b', 'w'\]"):
        NET.apply(({"w": PARAMS[0]["w"]}, PARAMS[1]), X)
    with pytest.raises(TypeError, match="must share one dtype"):
        NET.apply(
            (PARAMS[0], jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), PARAMS[1])), X
        )
    with pytest.raises(TypeError, match=r"params\[0\]\['w'\] must be a floating-point array"):
        NET.apply(({"w": jnp.ones((5, 3), jnp.int32), "b": PARAMS[0]["b"]}, PARAMS[1]), X)
    with pytest.raises(
        ValueError,
        match=r"x must be finite, but 1 value\(s\) are NaN or infinite \(first at index \(2, 1\)",
    ):
        NET.apply(PARAMS, X.at[2, 1].set(jnp.nan))
    with pytest.raises(ValueError, match=r"params\[1\]\['b'\] must be finite"):
        NET.apply((PARAMS[0], {"w": PARAMS[1]["w"], "b": PARAMS[1]["b"].at[0].set(jnp.inf)}), X)
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        NET.apply(PARAMS, [[1.0, 2.0, 3.0], [1.0]])


def test_float64_without_x64_mode_is_refused_not_silently_downcast():
    code = (
        "import jax, jaxmlp\n"
        "try:\n    jaxmlp.MLP((2, 2)).init(jax.random.key(0), dtype='float64')\n"
        "except ValueError as e:\n    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "dtype float64 needs x64 mode" in out.stdout


def test_shape_checks_apply_under_tracing_too():
    with pytest.raises(ValueError, match=r"x must have shape \(3,\) or \(batch, 3\)"):
        jax.jit(NET.apply)(PARAMS, jnp.ones((7, 4)))
    # Value checks are skipped under tracing (no host sync), so NaN passes through jit.
    assert jnp.isnan(jax.jit(NET.apply)(PARAMS, X.at[0, 0].set(jnp.nan))[0]).all()


def test_float32_forward_stays_float32_and_matches_float64():
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), PARAMS)
    out = NET.apply(p32, X.astype(jnp.float32))
    assert out.dtype == jnp.float32
    # float32 eps is 1.2e-7; a few roundings through two layers stay within 1e-6 relative.
    np.testing.assert_allclose(out, NET.apply(PARAMS, X), rtol=1e-6)


def test_frozen_biases_get_zero_gradient_in_both_paths():
    net = jaxmlp.MLP((3, 4, 2), bias="per_neuron", train_bias=False)
    params = net.init(jax.random.key(0), jnp.float64)
    y = jnp.ones((7, 2))
    for g in (net.backprop(params, X, y), jax.grad(net.loss_fn)(params, X, y)):
        assert all(float(jnp.abs(layer["b"]).max()) == 0.0 for layer in g)
        assert float(jnp.abs(g[0]["w"]).max()) > 0


def test_init_rules():
    relu = jaxmlp.MLP((400, 300, 10), activation="relu", output_activation="identity")
    p = relu.init(jax.random.key(0))
    assert p[0]["w"].dtype == jnp.float32 and p[0]["b"].shape == (300,)
    assert float(p[0]["w"].std()) == pytest.approx((2 / 400) ** 0.5, rel=0.02)  # He normal
    glorot = jaxmlp.MLP((400, 300, 10), activation="tanh", bias="shared")
    q = glorot.init(jax.random.key(0))
    a = (6 / 700) ** 0.5
    assert float(jnp.abs(q[0]["w"]).max()) <= a and float(q[0]["w"].std()) == pytest.approx(
        a / 3**0.5, rel=0.02
    )
    assert q[0]["b"].shape == ()
    assert "b" not in jaxmlp.MLP((2, 2), bias="none").init(jax.random.key(0))[0]
    with pytest.raises(
        TypeError, match=r"key must be a PRNG key such as jax.random.key\(0\), got 0"
    ):
        relu.init(0)


def test_public_methods_run_one_cached_compiled_function_bit_identical_to_the_pure_ones():
    from jaxmlp import backprop, forward, mlp, update
    from jaxmlp import hvp as hvp_module
    from jaxmlp.training import optimizers

    net = jaxmlp.MLP((3, 4, 2), "tanh", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0), jnp.float64)
    rng = np.random.default_rng(0)
    x, y = jnp.asarray(rng.standard_normal((5, 3))), jnp.asarray(rng.integers(0, 2, 5))
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    pure = {
        "apply": (jax.jit(forward.apply, static_argnums=0), (x,)),
        "loss_fn": (jax.jit(forward.loss_fn, static_argnums=0), (x, y)),
        "per_example_loss": (jax.jit(forward.per_example_loss, static_argnums=0), (x, y)),
        "value_and_backprop": (jax.jit(backprop.value_and_backprop, static_argnums=0), (x, y)),
        "hvp": (jax.jit(hvp_module.hvp, static_argnums=0), (x, y, v)),
    }
    for name, (fn, args) in pure.items():
        got = getattr(net, name)(params, *args)
        want = fn(net, params, *args)
        # Another program (the method's also returns a finiteness flag): XLA may fuse and round
        # otherwise on some CPUs, so equal to a few float64 ulps, not bit for bit.
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=name)
    want = jax.jit(update.sgd_update)(params, v, 0.25)
    got = jaxmlp.sgd_step(params, v, 0.25)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg="sgd_step")
    compiled = [mlp._apply, mlp._loss_fn, mlp._value_and_backprop, mlp._forward_trace]
    compiled.append(optimizers._sgd_compiled)
    net.forward_trace(params, x)
    before = [f._cache_size() for f in compiled]
    for _ in range(3):  # the same shapes again: no compilation
        net.apply(params, x), net.loss_fn(params, x, y), net.backprop(params, x, y)
        net.forward_trace(params, x)
        jaxmlp.sgd_step(params, v, 0.5)  # a new learning rate is data: no compilation
    assert [f._cache_size() for f in compiled] == before
    # A batch size no other test gives this network (tests share a worker's programs): compiled
    # by the first call, reused by the second.
    unseen = jnp.zeros((17, 3), jnp.float64)
    held = mlp._apply._cache_size()
    net.apply(params, unseen)
    assert mlp._apply._cache_size() == held + 1
    net.apply(params, unseen)
    assert mlp._apply._cache_size() == held + 1


@pytest.mark.parametrize(
    "grads, rate, error, message",
    [
        (lambda p: p[:1], 0.5, ValueError, "grads must have the structure of params"),
        (
            lambda p: ({"w": p[0]["w"][:1], "b": p[0]["b"]}, p[1]),
            0.5,
            ValueError,
            r"grads\[0\]\['w'\] must have the shape of params\[0\]\['w'\], \(4, 3\), got \(1, 3\)",
        ),
        (lambda p: p, -0.5, ValueError, "learning_rate must be a finite number >= 0, got -0.5"),
        (lambda p: p, "0.5", TypeError, "learning_rate must be a number, got "),
        (lambda p: p, jnp.ones(2), TypeError, "learning_rate must be a number, got "),
        (
            lambda p: ({"w": p[0]["w"].at[1, 2].set(jnp.nan), "b": p[0]["b"]}, p[1]),
            0.5,
            ValueError,
            r"grads\[0\]\['w'\] must be finite, but 1 value\(s\) .*index \(1, 2\)",
        ),
    ],
)
def test_sgd_step_names_what_does_not_match(grads, rate, error, message):
    net = jaxmlp.MLP((3, 4, 2), "tanh", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0))
    with pytest.raises(error, match=message):
        jaxmlp.sgd_step(params, grads(params), rate)


@thorough_only
def test_sgd_step_under_jit_and_grad_is_the_pure_update():
    net = jaxmlp.MLP((3, 4, 2), "tanh", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0), jnp.float64)
    x, y = jnp.ones((2, 3), jnp.float64), jnp.array([0, 1])

    def after_one_step(lr):
        return net.loss_fn(jaxmlp.sgd_step(params, net.backprop(params, x, y), lr), x, y)

    direct = jax.grad(lambda lr: forward_loss_after(net, params, x, y, lr))(0.3)
    np.testing.assert_allclose(jax.jit(jax.grad(after_one_step))(0.3), direct, rtol=1e-12)


def forward_loss_after(net, params, x, y, lr):
    from jaxmlp import forward, update

    grads = jax.grad(forward.loss_fn, argnums=1)(net, params, x, y)
    return forward.loss_fn(net, update.sgd_update(params, grads, lr), x, y)


def test_fit_without_a_callback_is_one_compiled_call_with_the_same_result(monkeypatch):
    from jaxmlp.training import run

    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    calls = []
    real = run.run_chunk

    def counting(*a, **k):
        calls.append(k["n_steps"])
        return real(*a, **k)

    monkeypatch.setattr(run, "run_chunk", counting)
    one = jaxmlp.fit(net, params, x[None], y[None], steps=2500, learning_rate=0.5)
    assert calls == [2500]
    calls.clear()
    chunks = []
    many = jaxmlp.fit(
        net,
        params,
        x[None],
        y[None],
        steps=2500,
        learning_rate=0.5,
        callback=lambda state, losses: chunks.append(len(losses)),
    )
    assert calls == [625] * 4 and chunks == [625] * 4  # equal chunks: one program
    # The same steps, but a scan of 2500 and scans of 625 are other programs: XLA promises no
    # bit-identity between them (rounding may differ on some CPUs); float64, 2500 steps: 1e-12.
    np.testing.assert_allclose(one.losses, many.losses, rtol=1e-12)
    for a, b in zip(jax.tree_util.tree_leaves(one.params), jax.tree_util.tree_leaves(many.params)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh"])  # He normal and Glorot uniform draws
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_init_is_one_compiled_program_drawing_what_op_by_op_draws(activation, dtype):
    from jaxmlp import params

    net = jaxmlp.MLP((40, 100, 100, 10), activation, "softmax", "cross_entropy")
    key = jax.random.key(7)
    compiled = net.init(key, dtype)
    eager = params._init.__wrapped__(net, key, jnp.dtype(dtype))  # the same draws, op by op
    # One program against many: the same random bits, but XLA may fuse and round the scaling of
    # a draw otherwise on some CPUs (jaxmlp keeps them equal here; XLA promises no bit-identity
    # across programs), so equal to a few ulps of the layer's largest weight.
    eps = float(jnp.finfo(dtype).eps)
    jax.tree_util.tree_map(
        lambda c, e: np.testing.assert_allclose(
            c, e, rtol=4 * eps, atol=4 * eps * float(np.abs(np.asarray(e)).max())
        ),
        compiled,
        eager,
    )
    before = params._init._cache_size()
    net.init(jax.random.key(8), dtype)
    assert params._init._cache_size() == before  # a new key compiles nothing


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_init_stacked_draws_each_members_init_in_one_program(activation):
    from jaxmlp import params

    net = jaxmlp.MLP((13, 64, 3), activation, "softmax", "cross_entropy")
    keys = jax.random.split(jax.random.key(5), 6)
    stacked = params.init_stacked(net, keys)
    eps = float(jnp.finfo(jnp.float32).eps)

    def close(got, want):  # another program: equal to a few ulps (see the test above)
        np.testing.assert_allclose(
            got, want, rtol=4 * eps, atol=4 * eps * float(np.abs(np.asarray(want)).max())
        )

    for m in range(6):
        jax.tree_util.tree_map(lambda s, one, m=m: close(s[m], one), stacked, net.init(keys[m]))
    assert [leaf.shape[0] for leaf in jax.tree_util.tree_leaves(stacked)] == [6] * 4
    legacy = params.init_stacked(net, jax.random.key_data(keys))  # (N, 2) uint32 keys
    jax.tree_util.tree_map(close, legacy, stacked)
    before = params._init_stacked._cache_size()
    params.init_stacked(net, jax.random.split(jax.random.key(6), 6))
    assert params._init_stacked._cache_size() == before  # new keys compile nothing


@pytest.mark.parametrize(
    "keys, error, message",
    [
        (jax.random.key(0), TypeError, "keys must be N PRNG keys"),
        (np.zeros((3, 2), np.float32), TypeError, "shape (3, 2) and dtype float32"),
        (jax.random.split(jax.random.key(0), 0), ValueError, "at least one key"),
    ],
)
def test_init_stacked_refuses_what_is_not_a_row_of_keys(keys, error, message):
    from jaxmlp import params

    net = jaxmlp.MLP((2, 3, 1), "tanh", "identity", "mse")
    with pytest.raises(error, match=re.escape(message)):
        params.init_stacked(net, keys)
