"""fit's gradient check before training, validation and early stopping, and the final loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmlp
from jaxmlp import backprop, forward
from jaxmlp.checks import gradient_check
from jaxmlp.checks.gradient_check import GradientMismatchError
from jaxmlp.training import batching
from jaxmlp.training.loop import run_chunk
from tests.settings import thorough_only

from .cli_helpers import assert_one_line_error, run, run_json

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

NET = jaxmlp.MLP((3, 5, 2), activation="tanh", output_activation="softmax", loss="cross_entropy")
with jax.enable_x64(True):  # the module's float64 fixtures, made in the scope its tests run in
    PARAMS = NET.init(jax.random.key(0), jnp.float64)
    X = jax.random.normal(jax.random.key(1), (40, 3), jnp.float64)
    Y = (X[:, 0] * X[:, 1] > 0).astype(jnp.int32)
    KEY = jax.random.key(3)


def test_backprop_fit_reports_the_check_of_its_first_full_batch():
    r = jaxmlp.fit(NET, PARAMS, X, Y, steps=5, learning_rate=0.1, grad="backprop")
    direct = jaxmlp.check_gradients(NET, PARAMS, X, Y)
    assert r.gradient_check.passed and r.gradient_check.dtype == "float64"
    assert [leaf.path for leaf in r.gradient_check.leaves] == [leaf.path for leaf in direct.leaves]
    for mine, theirs in zip(r.gradient_check.leaves, direct.leaves):
        # the same two gradients, compared in the compiled call rather than on the host
        np.testing.assert_allclose(mine.max_abs_error, theirs.max_abs_error, rtol=1e-6, atol=1e-30)
    assert r.gradient_check.max_rel_error < 1e-12


@pytest.mark.parametrize(  # inside the one call; before the first of two
    "chunk_size", [pytest.param(None, marks=thorough_only), 2]
)
def test_the_check_uses_the_batch_the_first_step_draws(chunk_size):
    r = jaxmlp.fit(
        NET,
        PARAMS,
        X,
        Y,
        steps=3,
        learning_rate=0.1,
        grad="backprop",
        batch_size=8,
        key=KEY,
        chunk_size=chunk_size,
    )
    idx, _ = batching.draw(KEY, batching.start(KEY, 0, 40, 8), 8, 40)
    idx = np.asarray(idx)
    direct = jaxmlp.check_gradients(NET, PARAMS, X[idx], Y[idx])
    whole = jaxmlp.check_gradients(NET, PARAMS, X, Y)
    got = [leaf.max_abs_error for leaf in r.gradient_check.leaves]
    np.testing.assert_allclose(
        got, [leaf.max_abs_error for leaf in direct.leaves], rtol=1e-6, atol=1e-30
    )
    assert got != [leaf.max_abs_error for leaf in whole.leaves]


def test_no_check_for_autodiff_or_when_turned_off():
    assert jaxmlp.fit(NET, PARAMS, X, Y, steps=2, learning_rate=0.1).gradient_check is None
    off = jaxmlp.fit(
        NET, PARAMS, X, Y, steps=2, learning_rate=0.1, grad="backprop", check_gradient=False
    )
    assert off.gradient_check is None
    with pytest.raises(TypeError, match="check_gradient must be True or False"):
        jaxmlp.fit(NET, PARAMS, X, Y, steps=2, learning_rate=0.1, check_gradient="yes")


def test_a_wrong_handwritten_gradient_is_caught_before_any_update(monkeypatch):
    real = backprop.backprop

    def wrong(net, params, x, y, **kernel):  # a test double: the output layer's weight gradient x2
        g = real(net, params, x, y, **kernel)
        return (g[0], {**g[1], "w": 2 * g[1]["w"]})

    monkeypatch.setattr(backprop, "backprop", wrong)
    compiled = (run_chunk, gradient_check._gradients)
    for f in compiled:  # programs traced with the real delta rule
        f.clear_cache()
    calls = []
    try:
        for chunk_size in (5, 20):  # the check inside the first of four chunks, or the one
            with pytest.raises(GradientMismatchError, match=r"params\[1\]\['w'\]"):
                jaxmlp.fit(
                    NET,
                    PARAMS,
                    X,
                    Y,
                    steps=20,
                    learning_rate=0.1,
                    grad="backprop",
                    chunk_size=chunk_size,
                    callback=lambda state, losses: calls.append(losses),
                )
        assert calls == []  # no chunk's result reached the caller
        # Turned off, the same double trains unchecked: the check is what caught it.
        jaxmlp.fit(
            NET, PARAMS, X, Y, steps=2, learning_rate=0.1, grad="backprop", check_gradient=False
        )
    finally:
        for f in compiled:
            f.clear_cache()


def test_a_checked_run_in_chunks_is_one_program(compilations):
    """The first chunk checks the gradient and the others skip it at run time: one compiled
    program for all four (not a separate check, nor a first chunk of its own)."""
    run_chunk.clear_cache()
    kw = dict(steps=20, learning_rate=0.1, grad="backprop")
    compilations.clear()
    r = jaxmlp.fit(NET, PARAMS, X, Y, chunk_size=5, callback=lambda state, losses: False, **kw)
    assert r.gradient_check.passed and len(r.chunk_end_losses) == 4
    assert len(compilations) == 1
    one = jaxmlp.fit(NET, PARAMS, X, Y, **kw)
    # the same steps as one call (a scan of 20, not 4 of 5: another program, which XLA may round
    # otherwise on some CPUs; float64, 20 steps)
    np.testing.assert_allclose(r.losses, one.losses, rtol=1e-12)


def test_the_check_is_traced_once_per_program(monkeypatch):
    """The skipped branch takes the check's shapes from its one trace (tracing a gradient and the
    delta rule twice cost a tenth of a second of each program's start-up)."""
    from jaxmlp.training import loop

    traced = []
    real = loop.first_batch_check
    monkeypatch.setattr(loop, "first_batch_check", lambda *a: traced.append(1) or real(*a))
    run_chunk.clear_cache()
    r = jaxmlp.fit(NET, PARAMS, X, Y, steps=3, learning_rate=0.1, grad="backprop")
    assert r.gradient_check.passed and len(traced) == 1


def test_final_loss_is_the_loss_of_the_returned_parameters():
    r = jaxmlp.fit(NET, PARAMS, X, Y, steps=30, learning_rate=0.5, batch_size=8, key=KEY)
    assert r.final_loss == pytest.approx(float(forward.loss_fn(NET, r.params, X, Y)), rel=1e-12)
    one = jaxmlp.fit(NET, PARAMS, X[0], Y[0], steps=3, learning_rate=0.5)
    assert one.final_loss == pytest.approx(float(forward.loss_fn(NET, one.params, X[:1], Y[:1])))


def test_validation_losses_and_restoring_the_best_parameters():
    xv = jax.random.normal(jax.random.key(5), (20, 3), jnp.float64)
    yv = (xv[:, 0] * xv[:, 1] < 0).astype(jnp.int32)  # the opposite rule: overfitting shows at once
    r = jaxmlp.fit(
        NET, PARAMS, X, Y, steps=60, learning_rate=0.5, validation_data=(xv, yv), chunk_size=10
    )
    assert r.validation_steps.tolist() == [10, 20, 30, 40, 50, 60]
    best = int(np.argmin(r.validation_losses))
    assert r.best_step == r.validation_steps[best] == r.step
    assert len(r.losses) == 60 and not r.stopped
    # the returned parameters are those after best_step steps (one scan here, chunks of 10 there:
    # other programs, which XLA may round otherwise on some CPUs; float64, <= 60 steps)
    again = jaxmlp.fit(NET, PARAMS, X, Y, steps=r.best_step, learning_rate=0.5)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14),
        r.params,
        again.params,
    )
    # each recorded value is the loss on the validation set after that step
    after_20 = jaxmlp.fit(NET, PARAMS, X, Y, steps=20, learning_rate=0.5).params
    assert r.validation_losses[1] == pytest.approx(float(forward.loss_fn(NET, after_20, xv, yv)))
    kept = jaxmlp.fit(
        NET,
        PARAMS,
        X,
        Y,
        steps=60,
        learning_rate=0.5,
        validation_data=(xv, yv),
        chunk_size=10,
        restore_best=False,
    )
    assert kept.step == 60 and kept.best_step == r.best_step


def test_patience_stops_when_the_validation_loss_stops_falling():
    # validated against flipped labels, the validation loss rises from the first evaluation on
    r = jaxmlp.fit(
        NET,
        PARAMS,
        X,
        Y,
        steps=500,
        learning_rate=0.5,
        validation_data=(X, 1 - Y),
        patience=3,
        chunk_size=5,
    )
    assert r.stopped and r.best_step == 5 and r.step == 5
    assert len(r.validation_losses) == 4 and len(r.losses) == 20
    assert np.all(np.diff(r.validation_losses) > 0)


@thorough_only
def test_validation_fraction_holds_out_a_keyed_subset():
    kw = dict(steps=4, learning_rate=0.1, validation_fraction=0.25, batch_size=10, key=KEY)
    a = jaxmlp.fit(NET, PARAMS, X, Y, **kw)
    b = jaxmlp.fit(NET, PARAMS, X, Y, **kw)
    np.testing.assert_array_equal(a.validation_losses, b.validation_losses)
    # 10 held out, 30 left: an epoch of batches of 10 is 3 steps, the default evaluation interval
    assert a.validation_steps.tolist() == [3, 4]
    with pytest.raises(ValueError, match="batch_size must be at most 30"):
        jaxmlp.fit(NET, PARAMS, X, Y, **{**kw, "batch_size": 35})
    full = jaxmlp.fit(NET, PARAMS, X, Y, steps=200, learning_rate=0.1, validation_fraction=0.1)
    assert full.validation_steps.tolist() == list(range(2, 201, 2))  # steps // 100 per evaluation


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(validation_fraction=1.0), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(validation_fraction="a"), TypeError, "validation_fraction must be a number"),
        (dict(validation_fraction=0.99), ValueError, "leaves none to train on"),
        (dict(patience=3), ValueError, "patience needs a validation set"),
        (dict(validation_fraction=0.2, patience=0), ValueError, "patience must be a positive"),
        (dict(validation_fraction=0.2, validation_data=(X, Y)), ValueError, "not both"),
        (dict(validation_data=X), TypeError, r"validation_data must be a pair"),
        (dict(validation_data=(X[:, :2], Y)), ValueError, "x"),
    ],
)
def test_bad_validation_arguments_are_refused(kw, error, match):
    with pytest.raises(error, match=match):
        jaxmlp.fit(NET, PARAMS, X[:30], Y[:30], steps=2, learning_rate=0.1, **kw)


@thorough_only
def test_cli_validation_and_gradient_check(capsys, tmp_path):
    s = run_json(
        capsys,
        "train",
        "xor",
        "--grad",
        "backprop",
        "--steps",
        "400",
        "--validation-fraction",
        "0.25",
        "--patience",
        "50",
        "--chunk-size",
        "20",
        "--x64",
    )
    assert s["gradient_check"]["passed"] and s["gradient_check"]["max_rel_error"] < 1e-9
    steps = [step for step, _ in s["validation_losses"]]
    assert steps[0] == 20 and s["best_step"] in steps
    assert s["validation_loss"] == min(v for _, v in s["validation_losses"])
    code, out, err = run(capsys, "train", "xor", "--grad", "backprop", "--steps", "20")
    assert code == 0 and "gradient_check   passed" in out and "max rel error" in out
    code, _, err = run(
        capsys,
        "train",
        "xor",
        "--steps",
        "40",
        "--validation-fraction",
        "0.25",
        "--plot",
        str(tmp_path),
    )
    assert code == 0 and (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run(capsys, "train", "xor", "--patience", "3")
    assert_one_line_error(code, err, "--patience needs --validation-fraction")
    code, _, err = run(capsys, "train", "xor", "--validation-fraction", "1.5")
    assert_one_line_error(code, err, "expected a number in [0, 1)")


@pytest.mark.parametrize("layout", ["lanes", "vmap"])
def test_sweep_checks_the_kernel_it_runs(layout):
    net = jaxmlp.MLP((2, 3, 1), activation="tanh")
    x, y = X[:8, :2], (X[:8, :1] > 0).astype(jnp.float64)
    kw = dict(learning_rates=[0.1, 1.0], seeds=[0, 1], steps=3, layout=layout, dtype=jnp.float64)
    r = jaxmlp.sweep(net, x, y, **kw)
    assert r.layout == layout and r.gradient_check.passed
    assert r.gradient_check.max_rel_error < 1e-9  # float64
    assert jaxmlp.sweep(net, x, y, grad="autodiff", **kw).gradient_check is None
    assert jaxmlp.sweep(net, x, y, check_gradient=False, **kw).gradient_check is None


def test_sweep_refuses_a_wrong_lanes_kernel(monkeypatch):
    from jaxmlp.kernels import lanes
    from jaxmlp.training import population

    real = lanes.backprop

    def wrong(net, params, x, y):  # a test double: the first layer's bias gradient zeroed
        g = real(net, params, x, y)
        return ({**g[0], "b": 0 * g[0]["b"]}, *g[1:])

    monkeypatch.setattr(lanes, "backprop", wrong)
    population.kernel_errors.clear_cache()
    net = jaxmlp.MLP((2, 3, 1), activation="tanh")
    x, y = X[:8, :2], (X[:8, :1] > 0).astype(jnp.float64)
    try:
        with pytest.raises(GradientMismatchError, match=r"params\[0\]\['b'\]"):
            jaxmlp.sweep(net, x, y, learning_rates=[0.1], seeds=[0], steps=3, layout="lanes")
    finally:
        population.kernel_errors.clear_cache()


def test_cli_sweep_reports_its_check(capsys):
    s = run_json(capsys, "sweep", "--steps", "20", "--learning-rates", "2", "--seeds", "2", "--x64")
    assert s["gradient_check"]["passed"] and s["gradient_check"]["max_rel_error"] < 1e-9
