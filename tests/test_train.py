"""fit: both gradients follow one trajectory, optax equals manual SGD, no recompiles, divergence, resume."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmlp
from jaxmlp import finiteness
from jaxmlp.training.loop import run_chunk
from tests.settings import thorough_only

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

NET = jaxmlp.MLP((4, 8, 6, 3), activation="tanh", output_activation="softmax", loss="cross_entropy")
with jax.enable_x64(True):  # the module's float64 fixtures, made in the scope its tests run in
    PARAMS = NET.init(jax.random.key(0), jnp.float64)
    X = jax.random.normal(jax.random.key(1), (32, 4), jnp.float64)
    Y = jax.random.randint(jax.random.key(2), (32,), 0, 3)
    KEY = jax.random.key(7)


def assert_trees_equal(a, b):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def assert_trees_close(a, b, rtol=1e-9, atol=1e-11):
    """The same run by another program (other chunks, another optimizer path, ...): XLA promises
    no bit-identity across programs, and some CPUs round otherwise. float64: a real reordering of
    the batch sums moves these runs' parameters by <= 2e-13 (<= 1e-11 relative); the defaults
    leave ~50x of room, far below what another batch or step would change."""
    jax.tree_util.tree_map(
        lambda u, v: np.testing.assert_allclose(u, v, rtol=rtol, atol=atol), a, b
    )


def test_backprop_and_autodiff_follow_the_same_trajectory():
    kw = dict(steps=200, learning_rate=0.3, batch_size=8, key=KEY)
    a = jaxmlp.fit(NET, PARAMS, X, Y, grad="autodiff", **kw)
    b = jaxmlp.fit(NET, PARAMS, X, Y, grad="backprop", **kw)
    # float64: the two gradients differ by summation order only (~1e-16 relative per step).
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-11)
    jax.tree_util.tree_map(
        lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12), a.params, b.params
    )
    assert a.losses[-1] < 0.5 * a.losses[0]


def test_optax_sgd_equals_manual_sgd():
    manual = jaxmlp.fit(NET, PARAMS, X, Y, steps=50, learning_rate=0.5, grad="backprop")
    with_optax = jaxmlp.fit(NET, PARAMS, X, Y, steps=50, optimizer=optax.sgd(0.5), grad="backprop")
    named = jaxmlp.fit(
        NET, PARAMS, X, Y, steps=50, optimizer="sgd", learning_rate=0.5, grad="backprop"
    )
    # the same updates by other programs (optax's -lr * g, then + p): float64 rounding
    assert_trees_close(manual.params, with_optax.params, rtol=1e-12, atol=1e-13)
    assert_trees_close(manual.params, named.params, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_named_optimizers_train(optimizer):
    r = jaxmlp.fit(NET, PARAMS, X, Y, steps=100, learning_rate=0.05, optimizer=optimizer)
    assert r.losses[-1] < 0.5 * r.losses[0]


def test_changing_learning_rate_or_data_does_not_recompile():
    for optimizer in (None, "adam"):
        jaxmlp.fit(NET, PARAMS, X, Y, steps=10, learning_rate=0.1, optimizer=optimizer)
        before = run_chunk._cache_size()
        r1 = jaxmlp.fit(NET, PARAMS, X, Y, steps=10, learning_rate=0.2, optimizer=optimizer)
        r2 = jaxmlp.fit(
            NET, PARAMS, X * 0.5, Y[::-1], steps=10, learning_rate=0.3, optimizer=optimizer
        )
        assert run_chunk._cache_size() == before
        assert not np.array_equal(r1.losses, r2.losses)


def test_chunking_does_not_change_the_result():
    kw = dict(steps=45, learning_rate=0.2, optimizer="adam", batch_size=5, key=KEY)
    whole = jaxmlp.fit(NET, PARAMS, X, Y, chunk_size=1000, **kw)
    chunked = jaxmlp.fit(NET, PARAMS, X, Y, chunk_size=7, **kw)
    assert_trees_close(whole.params, chunked.params)  # one scan of 45 against scans of 7 and 3
    np.testing.assert_allclose(whole.losses, chunked.losses, rtol=1e-11)


def test_resuming_is_bit_identical_to_an_uninterrupted_run():
    kw = dict(learning_rate=0.05, optimizer="adam", batch_size=5, key=KEY)
    whole = jaxmlp.fit(NET, PARAMS, X, Y, steps=60, **kw)
    first = jaxmlp.fit(NET, PARAMS, X, Y, steps=25, **kw)
    rest = jaxmlp.fit(
        NET, first.params, X, Y, steps=35, opt_state=first.opt_state, start_step=first.step, **kw
    )
    assert rest.step == 60
    # the same steps; a scan of 60 against 25 + 35 (other programs): float64 rounding
    assert_trees_close(whole.params, rest.params)
    assert_trees_close(whole.opt_state, rest.opt_state, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(
        whole.losses, np.concatenate([first.losses, rest.losses]), rtol=1e-11
    )
    with pytest.raises(ValueError, match="opt_state does not match the optimizer and params"):
        jaxmlp.fit(
            NET,
            first.params,
            X,
            Y,
            steps=5,
            opt_state=first.opt_state,
            **{**kw, "optimizer": "momentum"},
        )


def test_callback_sees_each_chunk_and_can_stop():
    seen = []
    r = jaxmlp.fit(
        NET,
        PARAMS,
        X,
        Y,
        steps=100,
        learning_rate=0.1,
        chunk_size=30,
        callback=lambda state, losses: (
            seen.append((int(state.step), len(losses), state.key.dtype)) or len(seen) == 2
        ),
    )
    key = jax.random.key(0).dtype  # a full-batch run's state carries its step and a key too
    assert seen == [(30, 30, key), (60, 30, key)]
    assert r.stopped and r.step == 60 and len(r.losses) == 60


def test_divergence_is_caught_and_the_last_finite_parameters_returned():
    net = jaxmlp.MLP((4, 8, 3), activation="relu", output_activation="identity", loss="half_sse")
    params = net.init(jax.random.key(0), jnp.float64)
    y = jnp.ones((32, 3))
    r = jaxmlp.fit(net, params, X * 10, y, steps=500, learning_rate=5.0, chunk_size=100)
    for chunk in (
        1,
        2,
        r.diverged_at,
        r.diverged_at + 1,
        1000,
    ):  # the boundary cases of the recovery
        q = jaxmlp.fit(net, params, X * 10, y, steps=500, learning_rate=5.0, chunk_size=chunk)
        assert q.diverged_at == r.diverged_at and q.step == r.step
        # other chunk lengths are other programs: float64 rounding (3 steps, growing fast)
        assert_trees_close(q.params, r.params, rtol=1e-12, atol=0)
    assert r.diverged_at is not None and r.diverged_at < 100
    assert len(r.losses) == r.diverged_at + 1 and not np.isfinite(r.losses[-1])
    assert np.isfinite(r.losses[:-1]).all() and r.step == r.diverged_at - 1
    # The returned parameters are those of the last finite loss.
    # (the loop's loss and net.loss_fn are other programs: float64 rounding)
    assert float(net.loss_fn(r.params, X * 10, y)) == pytest.approx(r.last_finite_loss, rel=1e-12)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(r.params))


def test_clip_norm_bounds_each_update():
    r = jaxmlp.fit(NET, PARAMS, X, Y, steps=1, learning_rate=1.0, clip_norm=1e-3)
    delta = jax.tree_util.tree_map(lambda a, b: a - b, r.params, PARAMS)
    norm = float(optax.tree.norm(delta))
    assert norm == pytest.approx(1e-3, rel=1e-9)


def test_updated_weights_order_in_fit_matches_the_step_function():
    net, params, x, y = jaxmlp.tutorial()
    r = jaxmlp.fit(
        net,
        params,
        x[None],
        y[None],
        steps=2,
        learning_rate=0.5,
        grad="backprop",
        order="updated_weights",
    )
    p = params
    for _ in range(2):
        _, p = jaxmlp.sgd_step_updated_weights(net, p, x[None], y[None], 0.5)
    assert_trees_close(r.params, p, rtol=1e-13, atol=1e-15)  # compiled against op by op


def test_float32_training_of_the_seed_tracks_float64():
    net, params, x, y = jaxmlp.tutorial()
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), params)
    r64 = jaxmlp.fit(net, params, x[None], y[None], steps=10_000, learning_rate=0.5)
    r32 = jaxmlp.fit(
        net,
        p32,
        x[None].astype(jnp.float32),
        y[None].astype(jnp.float32),
        steps=10_000,
        learning_rate=0.5,
    )
    assert r32.losses.dtype == np.float32
    # 10,000 float32 steps accumulate ~1e-7 relative rounding each; the loss stays within 1e-3 relative.
    np.testing.assert_allclose(r32.losses[-1], r64.losses[-1], rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"steps": 2.5}, "steps must be a positive integer"),
        ({"learning_rate": -0.1}, r"learning_rate must be a finite number > 0, got -0.1"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
        ({"learning_rate": None}, "learning_rate is required"),
        ({"batch_size": 33}, "batch_size must be at most 32, got 33"),
        ({"batch_size": 4}, "needs a PRNG key"),
        (
            {"optimizer": "rmsprop"},
            "unknown optimizer 'rmsprop'; expected one of sgd, momentum, adam",
        ),
        ({"grad": "numeric"}, "unknown grad 'numeric'; expected one of autodiff, backprop"),
        ({"order": "updated_weights"}, "needs grad='backprop'"),
        ({"clip_norm": -1.0}, "clip_norm must be a finite number > 0"),
        ({"clip_norm": "0.5"}, "clip_norm must be a finite number > 0, got '0.5'"),
        ({"learning_rate": "0.1"}, "learning_rate must be a number, got '0.1'"),
        ({"start_step": -1}, r"start_step must be an integer >= 0, got -1"),
        ({"callback": 3}, r"callback must be callable as callback\(state, losses\), got 3"),
        ({"steps": 2**31}, "start_step \\+ steps must be at most 2,147,483,647"),
        (
            {"batch_size": 30, "key": KEY, "validation_fraction": 0.5},
            "batch_size must be at most 16, got 30: validation_fraction=0.5 leaves 16",
        ),
        ({"history": "no"}, "history must be True or False, got 'no'"),
        ({"batch_size": 4, "key": 3}, r"key must be a PRNG key such as jax.random.key\(0\), got 3"),
        (
            {"batch_size": 4, "key": jax.random.split(jax.random.key(0), 3)},
            r"key must be one PRNG key, got a key array of shape \(3,\)",
        ),
    ],
)
def test_bad_fit_arguments(kwargs, message):
    args = {"steps": 10, "learning_rate": 0.1, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        jaxmlp.fit(NET, PARAMS, X, Y, **args)


def test_a_legacy_prng_key_is_accepted_as_it_is_by_jax_random():
    legacy = jaxmlp.fit(
        NET, PARAMS, X, Y, steps=3, learning_rate=0.1, batch_size=4, key=jax.random.PRNGKey(7)
    )
    typed = jaxmlp.fit(
        NET, PARAMS, X, Y, steps=3, learning_rate=0.1, batch_size=4, key=jax.random.key(7)
    )
    # the same batches; the key's type makes another program (float64 rounding at most)
    np.testing.assert_allclose(legacy.losses, typed.losses, rtol=1e-12)


def test_fit_validates_data_before_tracing():
    with pytest.raises(ValueError, match=r"x must have shape \(4,\) or \(batch, 4\)"):
        jaxmlp.fit(NET, PARAMS, X[:, :3], Y, steps=1, learning_rate=0.1)
    with pytest.raises(ValueError, match="x must be finite"):
        jaxmlp.fit(NET, PARAMS, X.at[0, 0].set(jnp.inf), Y, steps=1, learning_rate=0.1)


@pytest.mark.parametrize(
    "where, message",
    [
        ("params", r"params\[1\]\['w'\] must be finite, but 1 value\(s\) .*index \(2, 3\)"),
        ("x", r"x must be finite, but 1 value\(s\) .*index \(5, 1\)"),
        ("y", r"y must be finite, but 1 value\(s\) .*index \(4, 0\)"),
    ],
)
def test_one_finiteness_check_over_params_x_and_y_names_the_culprit(where, message):
    net = jaxmlp.MLP((4, 8, 6, 3))  # float targets, so y can hold a NaN
    params = net.init(jax.random.key(0), jnp.float64)
    y = jax.nn.one_hot(Y, 3, dtype=jnp.float64)
    x = X
    if where == "params":
        params = (params[0], {**params[1], "w": params[1]["w"].at[2, 3].set(jnp.nan)}, params[2])
    elif where == "x":
        x = X.at[5, 1].set(-jnp.inf)
    else:
        y = np.asarray(y).copy()
        y[4, 0] = np.nan
    with pytest.raises(ValueError, match=message):
        jaxmlp.fit(net, params, x, y, steps=1, learning_rate=0.1)
    with pytest.raises(ValueError, match=message):
        net.loss_fn(params, x, y)


def test_integer_labels_pass_the_finiteness_check_unchanged():
    assert jaxmlp.fit(NET, PARAMS, X, Y, steps=2, learning_rate=0.1).losses.shape == (2,)
    assert jaxmlp.validation.check_batch(NET, PARAMS, X, Y)[2].dtype == Y.dtype


@thorough_only
def test_without_history_the_result_is_the_same_and_divergence_is_still_located():
    kw = dict(steps=90, learning_rate=0.2, optimizer="adam", batch_size=5, key=KEY, chunk_size=40)
    full = jaxmlp.fit(NET, PARAMS, X, Y, **kw)
    lean = jaxmlp.fit(NET, PARAMS, X, Y, history=False, **kw)
    # without history the loop is another program: float64 rounding, not bit for bit
    assert_trees_close(full.params, lean.params)
    assert lean.losses is None  # losses is the loss before every step, or nothing
    # the loss before each chunk's last step: full's own losses, lean's to rounding
    np.testing.assert_array_equal(full.chunk_end_losses, full.losses[[39, 79, 89]])
    np.testing.assert_allclose(lean.chunk_end_losses, full.losses[[39, 79, 89]], rtol=1e-11)
    net = jaxmlp.MLP((4, 8, 3), activation="relu", output_activation="identity", loss="half_sse")
    params = net.init(jax.random.key(0), jnp.float64)
    y = jnp.ones((32, 3))
    a = jaxmlp.fit(net, params, X * 10, y, steps=500, learning_rate=5.0, chunk_size=100)
    b = jaxmlp.fit(
        net, params, X * 10, y, steps=500, learning_rate=5.0, chunk_size=100, history=False
    )
    assert a.diverged_at == b.diverged_at and a.step == b.step
    assert_trees_close(a.params, b.params, rtol=1e-12, atol=0)


def test_non_finite_final_parameters_count_as_divergence():
    """Every loss of the chunk finite, but the last update overflows: the run must not return it."""
    net = jaxmlp.MLP(
        (1, 1), activation="identity", output_activation="identity", loss="half_sse", bias="none"
    )
    params = ({"w": jnp.array([[1.0]])},)
    x, y = jnp.array([[1e150]]), jnp.array([[0.0]])
    r = jaxmlp.fit(net, params, x, y, steps=1, learning_rate=1e10)  # w+ = 1 - 1e10 * 1e300 = -inf
    assert r.diverged_at == 1 and r.step == 0
    assert_trees_equal(r.params, params)


def test_fit_takes_a_single_example_and_refuses_an_ignored_learning_rate():
    import optax

    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    one = jaxmlp.fit(net, params, x, y, steps=20, learning_rate=0.5)
    batch = jaxmlp.fit(net, params, x[None], y[None], steps=20, learning_rate=0.5)
    assert np.array_equal(one.losses, batch.losses)
    with pytest.raises(ValueError, match="learning_rate has no effect with an optax"):
        jaxmlp.fit(net, params, x, y, steps=2, learning_rate=0.5, optimizer=optax.sgd(0.1))


def test_weight_decay_against_a_hand_computed_step():
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    net = dataclasses.replace(net, train_bias=True)
    g = net.backprop(params, x, y)
    lr, wd = 0.5, 0.1
    sgd = jaxmlp.fit(net, params, x, y, steps=1, learning_rate=lr, optimizer="sgd", weight_decay=wd)
    adamw = jaxmlp.fit(
        net, params, x, y, steps=1, learning_rate=lr, optimizer="adam", weight_decay=wd
    )
    for layer, grads, s, a in zip(params, g, sgd.params, adamw.params):
        for k in layer:
            p0, gk = np.asarray(layer[k]), np.asarray(grads[k])
            np.testing.assert_allclose(s[k], p0 - lr * (gk + wd * p0), rtol=1e-12)
            # adamw's first step: m_hat = g, v_hat = g^2, decay decoupled from the moments
            np.testing.assert_allclose(
                a[k], p0 - lr * (gk / (np.abs(gk) + 1e-8) + wd * p0), rtol=1e-9, atol=1e-12
            )


@pytest.mark.parametrize("schedule,warmup", [("cosine", 3), ("exponential", 0), ("constant", 4)])
def test_a_schedules_learning_rates_are_optaxs(schedule, warmup):
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    lr, steps = 0.5, 12
    got = jaxmlp.fit(
        net,
        params,
        x,
        y,
        steps=steps,
        learning_rate=lr,
        optimizer="sgd",
        schedule=schedule,
        warmup_steps=warmup,
    )
    decay = steps - warmup
    reference = {
        "cosine": optax.warmup_cosine_decay_schedule(0.0, lr, warmup, steps),
        "exponential": optax.exponential_decay(lr, transition_steps=decay, decay_rate=0.01),
        "constant": optax.join_schedules(
            [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup]
        ),
    }[schedule]
    p = params
    for t in range(steps):
        p = jaxmlp.sgd_step(p, net.backprop(p, x, y), float(reference(t)))
    # rtol 1e-6: optax evaluates a schedule of its int32 step count in float32, so fit's factor
    # and the reference rate differ by float32 rounding (~6e-8 relative) in each of 12 steps.
    for a, b in zip(jax.tree_util.tree_leaves(got.params), jax.tree_util.tree_leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # the learning rate stays data: another value, no new compilation
    before = run_chunk._cache_size()
    jaxmlp.fit(
        net,
        params,
        x,
        y,
        steps=steps,
        learning_rate=0.25,
        optimizer="sgd",
        schedule=schedule,
        warmup_steps=warmup,
    )
    assert run_chunk._cache_size() == before


def test_default_chunks_are_equal_where_a_divisor_is_near():
    from jaxmlp.training.arguments import even_chunks

    assert even_chunks(2200) == 550 and even_chunks(10_000) == 1000 and even_chunks(300) == 300
    assert even_chunks(2500) == 625 and even_chunks(1009) == 1000  # 1009 is prime: 1,000 + 9
    for steps in range(1, 5000, 7):
        chunk = even_chunks(steps)
        assert chunk <= 1000 and (steps % chunk == 0 or chunk == 1000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_large_data_set_is_checked_by_its_sum_and_the_culprit_still_named(bad):
    n = finiteness._CONCATENATED // 4 + 10  # x larger than the concatenated check takes
    x = np.random.default_rng(0).standard_normal((n, 4))
    x[n - 3, 2] = bad
    y = np.zeros(n, np.int32)
    with pytest.raises(
        ValueError, match=rf"x must be finite, but 1 value\(s\) .*index \({n - 3}, 2\)"
    ):
        jaxmlp.fit(NET, PARAMS, x, y, steps=1, learning_rate=0.1)


def test_finite_values_whose_sum_overflows_are_accepted():
    n = finiteness._CONCATENATED // 4 + 10
    x = np.full((n, 4), np.finfo(np.float64).max / 2)  # the sum is infinite, every value finite
    finiteness.check_all_finite([("x", x)])
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite, but 1 value\(s\) .*index \(1, 1\)"):
        finiteness.check_all_finite([("x", x)])


def test_a_jax_array_is_checked_for_finiteness_once_a_numpy_array_every_time():
    x_jax = jnp.ones((3, 2))
    x_np = np.ones((3, 2))
    finiteness.check_all_finite([("x", x_jax), ("x", x_np)])
    # the JAX array's values cannot change: it is remembered (by identity) and not read again
    assert finiteness._known_finite(x_jax) and not finiteness._known_finite(x_np)
    x_np[1, 1] = np.nan  # a NumPy array can: checked again, and caught
    with pytest.raises(ValueError, match=r"x must be finite, but 1 value\(s\) .*index \(1, 1\)"):
        finiteness.check_all_finite([("x", x_np)])
    bad = jnp.asarray(x_np)  # a non-finite JAX array is never remembered
    for _ in range(2):
        with pytest.raises(ValueError, match="x must be finite"):
            finiteness.check_all_finite([("x", bad)])
    key = id(x_jax)
    del x_jax
    assert key not in finiteness._FINITE  # forgotten with its array


def test_first_bad_finds_the_first_non_finite_loss_also_when_the_sum_overflows():
    from jaxmlp.training.loop import first_bad

    big = np.finfo(np.float64).max
    assert first_bad(np.array([1.0, 2.0]), np.True_, 2) == -1
    assert first_bad(np.array([1.0, 2.0]), np.False_, 2) == 2  # the next loss would not be finite
    # the sum overflows, no loss does
    assert first_bad(np.array([big, big, 1.0]), np.True_, 3) == -1
    for bad in (np.nan, np.inf, -np.inf):
        assert first_bad(np.array([1.0, big, bad, np.nan]), np.True_, 4) == 2


@pytest.mark.parametrize("schedule", ["cosine", "exponential"])
def test_a_run_resumed_with_a_schedule_compiles_nothing_new(schedule):
    """The schedule's length is data in the optimizer state: a run continued epoch by epoch (as
    MLPClassifier.partial_fit does, each call a longer total) reuses the compiled loop, and its
    updates follow the longer run's schedule."""
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    kw = dict(learning_rate=0.5, optimizer="momentum", schedule=schedule, warmup_steps=2)
    first = jaxmlp.fit(net, params, x, y, steps=6, **kw)
    before = run_chunk._cache_size()
    second = jaxmlp.fit(
        net, first.params, x, y, steps=6, opt_state=first.opt_state, start_step=6, **kw
    )
    assert run_chunk._cache_size() == before
    whole = jaxmlp.fit(net, params, x, y, steps=12, **kw)
    # The second call's last steps follow the 12-step schedule, as the whole run's do; the first
    # six steps differ (they followed a 6-step schedule), so only the rates are compared.
    assert jaxmlp.named_optimizer("momentum", schedule=schedule, warmup_steps=2) is (
        jaxmlp.named_optimizer("momentum", schedule=schedule, warmup_steps=2)
    )
    total = [
        s.hyperparams["total_steps"]
        for s in jax.tree_util.tree_leaves(
            second.opt_state, is_leaf=lambda s: hasattr(s, "hyperparams")
        )
        if hasattr(s, "hyperparams")
    ]
    assert [int(t) for t in total] == [12]
    assert np.isfinite(whole.losses).all() and np.isfinite(second.losses).all()


def test_schedule_multiplier_is_optaxs_schedule():
    from jaxmlp.training.optimizers import schedule_multiplier

    t = jnp.arange(40, dtype=jnp.int32)  # optax's step count
    for warmup, total in ((0, 30), (5, 30), (3, 3)):
        decay = max(1, total - warmup)
        cosine = optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup, warmup + decay)
        exponential = optax.exponential_decay(1.0, transition_steps=decay, decay_rate=0.01)
        if warmup:
            exponential = optax.join_schedules(
                [optax.linear_schedule(0.0, 1.0, warmup), exponential], [warmup]
            )
        for name, reference in (("cosine", cosine), ("exponential", exponential)):
            got = schedule_multiplier(name, warmup, total, t)
            with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts and floats
                want = reference(t)
            # float32 on both sides: optax evaluates in float32; 1e-6 relative is a few ulps
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


def test_only_named_optimizers_take_fits_learning_rate():
    from jaxmlp.training.optimizers import takes_learning_rate

    assert takes_learning_rate(jaxmlp.named_optimizer("adam"))
    assert takes_learning_rate(None) and takes_learning_rate("sgd")
    assert not takes_learning_rate(optax.adam(1e-3))


def test_the_finite_cache_is_bounded():
    kept = []
    for i in range(finiteness.FINITE_KEPT + 10):
        a = jnp.full((2,), float(i))
        finiteness.check_all_finite([("a", a)])
        kept.append(a)  # alive: only the bound can evict them
    assert len(finiteness._FINITE) <= finiteness.FINITE_KEPT


def test_a_resumed_run_trains_at_its_own_learning_rate():
    first = jaxmlp.fit(NET, PARAMS, X, Y, steps=5, learning_rate=0.1, optimizer="adam")
    second = jaxmlp.fit(
        NET,
        first.params,
        X,
        Y,
        steps=5,
        learning_rate=0.01,
        optimizer="adam",
        opt_state=first.opt_state,
        start_step=5,
    )
    rates = [
        float(s.hyperparams["learning_rate"])
        for s in jax.tree_util.tree_leaves(
            second.opt_state, is_leaf=lambda s: hasattr(s, "hyperparams")
        )
        if hasattr(s, "hyperparams")
    ]
    assert rates == [0.01]
