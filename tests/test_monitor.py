"""jaxmlp.Monitor: records taken inside the compiled loop, each checked against an independent
computation at the same steps (a dense eigendecomposition of ``jax.hessian``, ``jax.grad``, the
parameters themselves), and a monitored run's parameters against an unmonitored run's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxmlp
from jaxmlp.forward import loss_fn
from jaxmlp.hvp import gnvp
from tests.cli_helpers import assert_one_line_error, run, run_json
from tests.settings import thorough_only

NETS = {
    "tanh-mse": jaxmlp.MLP((3, 5, 2), activation="tanh", output_activation="identity", loss="mse"),
    "relu-softmax": jaxmlp.MLP(
        (3, 6, 4, 3), activation="relu", output_activation="softmax", loss="cross_entropy"
    ),
    "logistic-bce": jaxmlp.MLP(
        (3, 4, 1),
        activation="logistic",
        output_activation="logistic",
        loss="binary_cross_entropy",
    ),  # fmt: skip
}


def data(net, n=40, dtype=np.float32, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, net.sizes[0])).astype(dtype)
    if net.loss == "cross_entropy":
        y = r.integers(0, net.sizes[-1], n)
    elif net.loss == "binary_cross_entropy":
        y = r.integers(0, 2, (n, 1)).astype(dtype)
    else:
        y = r.normal(size=(n, net.sizes[-1])).astype(dtype)
    return x, y


def params_at(net, params, x, y, steps, every, **kw):
    """The parameters at steps 0, every, 2 every, ... of the unmonitored run (chunk callbacks)."""
    seen = {0: params}

    def keep(state, losses):
        seen[int(state.step)] = state.params

    jaxmlp.fit(net, params, x, y, steps=steps, chunk_size=every, callback=keep, **kw)
    return seen


def dense_top(net, params, x, y):
    flat, unravel = ravel_pytree(params)
    h = jax.hessian(lambda f: loss_fn(net, unravel(f), x, y))(flat)
    return float(np.linalg.eigvalsh(np.asarray(h, np.float64))[-1])


def layer_norms(tree):
    return [
        float(np.sqrt(sum(np.sum(np.asarray(a, np.float64) ** 2) for a in jax.tree.leaves(l))))
        for l in tree
    ]


@thorough_only
@pytest.mark.float64
@pytest.mark.parametrize("name", list(NETS))
def test_records_equal_independent_computations_at_the_same_steps(name):
    net = NETS[name]
    x, y = data(net, dtype=np.float64)
    p0 = net.init(jax.random.key(1), jnp.float64)
    kw = dict(learning_rate=0.5)
    r = jaxmlp.fit(net, p0, x, y, steps=30, monitor=jaxmlp.Monitor(every=10), **kw)
    m = r.monitor
    np.testing.assert_array_equal(m.step, [0, 10, 20])
    seen = params_at(net, p0, x, y, 30, 10, **kw)
    for i, s in enumerate(m.step):
        p = seen[int(s)]
        top = dense_top(net, p, x, y)
        # Lanczos' residual bounds the distance to an eigenvalue (Weinstein); it stopped at tol.
        assert abs(m.sharpness[i] - top) <= m.residual[i] * (1 + 1e-9) + 1e-12
        assert m.residual[i] <= 1e-3 * abs(m.sharpness[i]) or m.iterations[i] == 20
        assert 1 <= m.iterations[i] <= 20
        grads = jax.grad(lambda q: loss_fn(net, q, x, y))(p)
        np.testing.assert_allclose(m.grad_norm[i], layer_norms(grads), rtol=1e-10)
        np.testing.assert_allclose(m.loss[i], float(loss_fn(net, p, x, y)), rtol=1e-12)
        after = jaxmlp.fit(net, p, x, y, steps=1, **kw).params
        change = jax.tree.map(lambda a, b: b - a, p, after)
        np.testing.assert_allclose(
            m.update_ratio[i], np.divide(layer_norms(change), layer_norms(p)), rtol=1e-9
        )


@thorough_only
@pytest.mark.float64
def test_with_minibatches_the_gradient_norms_are_those_of_each_recorded_steps_batch():
    from jaxmlp.training import batching

    net = NETS["relu-softmax"]
    x, y = data(net, dtype=np.float64)
    p0 = net.init(jax.random.key(1), jnp.float64)
    key = jax.random.key(7)
    kw = dict(learning_rate=0.1, optimizer="adam", batch_size=8, key=key)
    r = jaxmlp.fit(net, p0, x, y, steps=12, monitor=jaxmlp.Monitor(every=6), **kw)
    seen = params_at(net, p0, x, y, 12, 6, **kw)
    for i, s in enumerate(r.monitor.step):
        idx, _ = batching.draw(key, batching.start(key, int(s), len(x), 8), 8, len(x))
        idx = np.asarray(idx)
        grads = jax.grad(lambda q: loss_fn(net, q, x[idx], y[idx]))(seen[int(s)])
        np.testing.assert_allclose(r.monitor.grad_norm[i], layer_norms(grads), rtol=1e-10)
        # the loss and the sharpness are those of the whole training set (the probe)
        np.testing.assert_allclose(r.monitor.loss[i], float(loss_fn(net, seen[int(s)], x, y)))


@thorough_only
@pytest.mark.float64
def test_a_tight_tolerance_gives_the_dense_eigenvalue_to_float64_precision():
    net = NETS["relu-softmax"]
    x, y = data(net, dtype=np.float64)
    p0 = net.init(jax.random.key(2), jnp.float64)
    n = ravel_pytree(p0)[0].size
    r = jaxmlp.fit(
        net, p0, x, y, steps=5, learning_rate=0.3,
        monitor=jaxmlp.Monitor(every=5, tol=1e-12, iterations=n, gauss_newton=True),
    )  # fmt: skip
    np.testing.assert_allclose(r.monitor.sharpness[0], dense_top(net, p0, x, y), rtol=1e-9)
    flat, unravel = ravel_pytree(p0)
    g = jax.vmap(lambda e: ravel_pytree(gnvp(net, p0, x, y, unravel(e)))[0])(jnp.eye(n))
    np.testing.assert_allclose(
        r.monitor.gauss_newton[0], np.linalg.eigvalsh(np.asarray(g))[-1], rtol=1e-9
    )


@thorough_only
def test_float32_sharpness_within_its_tolerance_of_the_float64_eigenvalue():
    # float32 rounding in the HVP (~1e-7 relative per product, a few hundred terms) and Lanczos'
    # stop at a residual of 1e-3 |lambda| (an eigenvalue error of at most that): 2e-3 relative.
    net = NETS["tanh-mse"]
    x, y = data(net)
    p0 = net.init(jax.random.key(1))
    r = jaxmlp.fit(net, p0, x, y, steps=1, learning_rate=0.1, monitor=jaxmlp.Monitor(every=1))
    assert r.monitor.sharpness.dtype == np.float32
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), p0)
        top = dense_top(net, p64, x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(r.monitor.sharpness[0], top, rtol=2e-3)


@thorough_only
@pytest.mark.parametrize(
    "kw",
    [
        dict(learning_rate=0.5),
        pytest.param(
            dict(learning_rate=0.05, optimizer="adam", batch_size=8, key=jax.random.key(4)),
            marks=thorough_only,
        ),
        pytest.param(
            dict(learning_rate=0.1, optimizer="momentum", history=False, chunk_size=7),
            marks=thorough_only,
        ),
    ],
    ids=["sgd", "adam-minibatch", "momentum-chunks-no-history"],
)
def test_a_monitored_run_is_bit_identical_to_an_unmonitored_one(kw):
    net = NETS["relu-softmax"]
    x, y = data(net)
    p0 = net.init(jax.random.key(3))
    plain = jaxmlp.fit(net, p0, x, y, steps=23, **kw)
    watched = jaxmlp.fit(net, p0, x, y, steps=23, monitor=jaxmlp.Monitor(every=5), **kw)
    # The monitor changes no step, but the monitored loop is another program, which XLA may
    # round otherwise on some CPUs: float32, 23 steps, equal to rounding (a real reordering of
    # the batch sums moves these parameters by <= 5e-7), not bit for bit.
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(watched.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(watched.monitor.step, [0, 5, 10, 15, 20])
    assert np.isfinite(watched.monitor.sharpness).all()


@thorough_only
def test_records_follow_the_global_step_across_chunks_and_a_resume():
    net = NETS["tanh-mse"]
    x, y = data(net)
    p0 = net.init(jax.random.key(1))
    monitor = jaxmlp.Monitor(every=4, sharpness=False)
    whole = jaxmlp.fit(net, p0, x, y, steps=20, learning_rate=0.2, chunk_size=3, monitor=monitor)
    first = jaxmlp.fit(net, p0, x, y, steps=10, learning_rate=0.2, monitor=monitor)
    rest = jaxmlp.fit(
        net, first.params, x, y, steps=10, learning_rate=0.2, start_step=10, monitor=monitor
    )
    np.testing.assert_array_equal(whole.monitor.step, [0, 4, 8, 12, 16])
    np.testing.assert_array_equal(rest.monitor.step, [12, 16])
    joined = np.concatenate([first.monitor.grad_norm, rest.monitor.grad_norm])
    # chunks of 3 against 10 + 10: other programs, which XLA may round otherwise on some CPUs
    # (float32; a gradient norm sums terms that partly cancel, hence the absolute floor)
    np.testing.assert_allclose(joined, whole.monitor.grad_norm, rtol=1e-5, atol=1e-7)
    assert np.isnan(whole.monitor.sharpness).all() and (whole.monitor.iterations == 0).all()


@thorough_only
def test_early_stopping_keeps_the_records_of_every_step_run():
    net = NETS["relu-softmax"]
    x, y = data(net, n=60)
    p0 = net.init(jax.random.key(1))
    r = jaxmlp.fit(
        net, p0, x, y, steps=400, learning_rate=2.0, validation_fraction=0.25, patience=2,
        key=jax.random.key(0), chunk_size=10, monitor=jaxmlp.Monitor(every=10, probe=(x, y)),
    )  # fmt: skip
    run = len(r.losses)
    np.testing.assert_array_equal(r.monitor.step, np.arange(0, run, 10))


@thorough_only
def test_dead_and_saturated_units_are_counted_per_hidden_layer():
    net = jaxmlp.MLP((2, 4, 3, 1), activation="relu", output_activation="identity", loss="mse")
    x, y = data(net)
    p = net.init(jax.random.key(0))
    first = p[0]["w"].at[1].set(0.0)  # unit 2 of layer 1 sees no input: with a bias < 0 it is dead
    p = ({"w": first, "b": p[0]["b"].at[1].set(-1.0)}, *p[1:])
    r = jaxmlp.fit(net, p, x, y, steps=1, learning_rate=1e-9, monitor=jaxmlp.Monitor(every=1))
    assert r.monitor.dead.shape == (1, 2)
    assert r.monitor.dead[0, 0] == 0.25
    assert r.monitor.saturated[0, 0] == 0.25  # dead units pass no gradient either
    sig = jaxmlp.MLP((2, 3, 1), activation="logistic", output_activation="identity", loss="mse")
    q = sig.init(jax.random.key(0))
    q = ({"w": q[0]["w"].at[0].set(0.0), "b": q[0]["b"].at[0].set(9.0)}, q[1])  # f' ~ 1.2e-4
    r = jaxmlp.fit(sig, q, x, y, steps=1, learning_rate=1e-9, monitor=jaxmlp.Monitor(every=1))
    np.testing.assert_allclose(r.monitor.saturated[0], [1 / 3])
    np.testing.assert_allclose(r.monitor.dead[0], [0.0])


@thorough_only
def test_a_sweep_records_every_member_as_fit_would():
    net = NETS["tanh-mse"]
    x, y = data(net)
    monitor = jaxmlp.Monitor(every=5)
    s = jaxmlp.sweep(net, x, y, learning_rates=[0.05, 0.3], seeds=[0, 1], steps=12, monitor=monitor)
    assert s.monitor.sharpness.shape == (3, 4) and s.monitor.grad_norm.shape == (3, 4, 2)
    np.testing.assert_array_equal(s.monitor.step, [0, 5, 10])
    one = jaxmlp.fit(
        net, net.init(jax.random.key(1)), x, y, steps=12, learning_rate=0.3, monitor=monitor
    )  # member 3: the second learning rate, seed 1
    np.testing.assert_allclose(s.monitor.grad_norm[:, 3], one.monitor.grad_norm, rtol=1e-5)
    np.testing.assert_allclose(s.monitor.sharpness[:, 3], one.monitor.sharpness, rtol=2e-3)


def test_a_new_learning_rate_does_not_recompile_a_monitored_run(compilations):
    net = NETS["tanh-mse"]
    x, y = data(net)
    p0 = net.init(jax.random.key(1))
    kw = dict(steps=20, chunk_size=10, monitor=jaxmlp.Monitor(every=5))
    jaxmlp.fit(net, p0, x, y, learning_rate=0.1, **kw)
    compilations.clear()
    jaxmlp.fit(net, p0, x, y, learning_rate=0.2, **kw)
    jaxmlp.fit(
        net,
        p0,
        x,
        y,
        learning_rate=0.3,
        **{**kw, "monitor": jaxmlp.Monitor(every=5, probe=data(net, seed=5))},
    )
    assert compilations == []


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(every=0), "every must be a positive integer"),
        (dict(iterations=2.5), "iterations must be a positive integer"),
        (dict(tol=-1.0), "tol must be a number > 0"),
        (dict(sharpness="yes"), "sharpness must be True or False"),
        (dict(probe=np.zeros(3)), "probe must be a pair"),
    ],
)
def test_a_bad_monitor_is_refused_with_what_was_expected(kw, message):
    with pytest.raises((ValueError, TypeError), match=message):
        jaxmlp.Monitor(**kw)


def test_a_probe_of_the_wrong_width_is_refused_before_tracing():
    net = NETS["tanh-mse"]
    x, y = data(net)
    bad = jaxmlp.Monitor(probe=(np.zeros((4, 7), np.float32), np.zeros((4, 2), np.float32)))
    with pytest.raises(ValueError, match="7"):
        jaxmlp.fit(net, net.init(jax.random.key(0)), x, y, steps=2, learning_rate=0.1, monitor=bad)
    with pytest.raises(TypeError, match="jaxmlp.Monitor"):
        jaxmlp.fit(net, net.init(jax.random.key(0)), x, y, steps=2, learning_rate=0.1, monitor=5)


@thorough_only
def test_train_monitor_prints_the_last_record_and_json_carries_all(tmp_path, capsys):
    code, out, err = run(capsys, "train", "xor", "--steps", "200", "--monitor", "50")
    assert code == 0, err
    assert "monitor_step     150" in out and "sharpness" in out
    assert "edge             1 (2 / learning rate)" in out  # xor trains at 2
    report = str(tmp_path / "r.html")
    m = run_json(capsys, "train", "xor", "--steps", "200", "--report", report, "--monitor")[
        "monitor"
    ]
    assert m["step"] == [0, 100] and len(m["grad_norm"][0]) == 2 and m["edge"] == 1.0
    page = (tmp_path / "r.html").read_text()
    assert "Training dynamics" in page and "2 / learning rate" in page


def test_train_monitor_refuses_a_bad_interval(capsys):
    code, _, err = run(capsys, "train", "xor", "--monitor", "0")
    assert_one_line_error(code, err, "--monitor")


@thorough_only
def test_monitored_fit_on_two_devices_equals_one_device():
    from tests.test_distributed import python

    out = python(
        """
        import json, jax, numpy as np, jaxmlp
        net = jaxmlp.MLP((4, 8, 3), activation="tanh", output_activation="softmax", loss="cross_entropy")
        p = net.init(jax.random.key(0))
        x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
        y = np.random.default_rng(1).integers(0, 3, 32)
        m = jaxmlp.Monitor(every=10)
        res = {}
        for bs in (None, 8):
            kw = dict(steps=30, learning_rate=0.3, batch_size=bs, key=jax.random.key(3), monitor=m)
            a = jaxmlp.fit(net, p, x, y, **kw).monitor
            b = jaxmlp.fit(net, p, x, y, devices=2, **kw).monitor
            res[str(bs)] = [float(np.max(np.abs(a.sharpness - b.sharpness) / a.sharpness)),
                            float(np.max(np.abs(a.grad_norm - b.grad_norm) / a.grad_norm))]
        s = jaxmlp.sweep(net, x, y, learning_rates=[0.1, 0.3], seeds=[0], steps=20, monitor=m, devices=2)
        res["sweep"] = list(s.monitor.sharpness.shape)
        print(json.dumps(res))
        """,
        devices=2,
    )
    for key in ("None", "8"):
        assert out[key][0] < 2e-3 and out[key][1] < 1e-4, out
    assert out["sweep"] == [2, 2]


@thorough_only
def test_a_resumed_cli_run_continues_the_records_in_its_checkpoint(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    argv = ("train", "xor", "--monitor", "50", "--checkpoint", ck)
    first = run_json(capsys, *argv, "--steps", "200")["monitor"]
    resumed = run_json(capsys, *argv, "--steps", "400", "--resume")["monitor"]
    whole = run_json(capsys, "train", "xor", "--monitor", "50", "--steps", "400")["monitor"]
    assert first["step"] == [0, 50, 100, 150]
    assert resumed["step"] == whole["step"] == list(range(0, 400, 50))
    # the same steps, but 200 + 200 steps against 400 in one go: other programs, which XLA may
    # round otherwise on some CPUs (float32; gradient norms partly cancel: an absolute floor)
    np.testing.assert_allclose(resumed["grad_norm"], whole["grad_norm"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(resumed["loss"], whole["loss"], rtol=1e-5)
    # the first record after the resume starts Lanczos afresh: equal within its tolerance
    np.testing.assert_allclose(resumed["sharpness"], whole["sharpness"], rtol=2e-3)
