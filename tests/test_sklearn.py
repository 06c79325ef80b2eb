"""jaxmlp.sklearn: scikit-learn's own checks and test file, parity with scikit-learn's numbers,
the fitted attributes, precision, devices, bridges, and no recompilation."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import jaxlib
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

import sklearn.neural_network as scikit  # noqa: E402
from sklearn.datasets import load_digits, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import LabelBinarizer, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import jaxmlp  # noqa: E402
from jaxmlp.compilation_cache import NOISY_LOADERS  # noqa: E402
from jaxmlp.sklearn import MLPClassifier, MLPRegressor, from_sklearn, to_sklearn  # noqa: E402
from jaxmlp.training import stochastic  # noqa: E402

from .settings import THOROUGH, thorough_only  # noqa: E402

ESTIMATORS = [MLPClassifier(random_state=0), MLPRegressor(random_state=0)]
# The quick run keeps the checks of the interface; the thorough run (CI) runs every check.
QUICK = (
    "check_get_params_invariance",
    "check_estimators_unfitted",
    "check_fit2d_1sample",
    "check_classifiers_one_label",
)


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    """float32 and float64 data, with JAX in its default precision, as users run it."""
    name = getattr(check, "func", check).__name__
    if not THOROUGH and not name.startswith(QUICK):
        pytest.skip("thorough run only (JAXMLP_THOROUGH=1)")
    check(estimator)


@pytest.mark.float64
@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks_in_64_bits(estimator, check):
    """The interface checks with JAX in 64-bit mode (scoped to the test). float64 data train in
    a 64-bit scope whatever the global mode, so the default-precision run covers the rest."""
    name = getattr(check, "func", check).__name__
    if not name.startswith(QUICK):
        pytest.skip("the default-precision run checks it (float64 data train in 64 bits there)")
    check(estimator)


@pytest.mark.skipif(not THOROUGH, reason="thorough run only (about a minute)")
def test_scikit_learns_own_test_file_passes(tmp_path):
    """scikit-learn's sklearn/neural_network/tests/test_mlp.py, as installed, with its conftest,
    on jaxmlp's classes (tests/sklearn_swap.py): every test passes, the private
    ``test_gradient`` included."""
    root = Path(__file__).parent.parent
    report = tmp_path / "report.txt"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.sklearn_swap", "-p", "no:cacheprovider",
         "--pyargs", "sklearn.neural_network.tests.test_mlp", "-q", "-n", "0", "-rA"],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    report.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-3000:]
    assert " failed" not in run.stdout.splitlines()[-1]
    assert " passed" in run.stdout.splitlines()[-1] and "skipped" not in run.stdout.splitlines()[-1]


def iris():
    x, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(x), y


def digits():
    x, y = load_digits(return_X_y=True)
    return x[:600] / 16, y[:600]


def both(kind, **params):
    """jaxmlp's and scikit-learn's estimator with the same parameters."""
    ours = {"classifier": MLPClassifier, "regressor": MLPRegressor}[kind]
    theirs = {"classifier": scikit.MLPClassifier, "regressor": scikit.MLPRegressor}[kind]
    return ours(**params), theirs(**params)


def fitted(estimator, x, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x, y, **kw)


# rtol 1e-9: the same float64 arithmetic in another order (XLA's fused sums against NumPy's);
# over hundreds of epochs the parameters agree to ~1e-15 absolute (seen: at most 5e-16).
PARITY = [
    {"solver": "sgd"},
    {"solver": "sgd", "momentum": 0.0, "alpha": 0.0},
    {"solver": "sgd", "nesterovs_momentum": False, "learning_rate": "invscaling"},
    {"solver": "sgd", "learning_rate": "adaptive", "tol": 0.1, "max_iter": 500},
    {"solver": "adam", "batch_size": 32},
    {"solver": "adam", "early_stopping": True},
    {"solver": "adam", "shuffle": False, "alpha": 0.1, "activation": "tanh"},
    {"solver": "sgd", "activation": "logistic", "hidden_layer_sizes": (7, 5), "batch_size": 64},
    {"solver": "adam", "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4, "learning_rate_init": 3e-3},
    {"solver": "sgd", "learning_rate": "invscaling", "power_t": 0.3, "momentum": 0.5},
    {"early_stopping": True, "validation_fraction": 0.3, "n_iter_no_change": 3, "tol": 1e-3},
]


@pytest.mark.parametrize("params", PARITY, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_the_stochastic_solvers_give_scikit_learns_numbers(params):
    """Same seed, same data: scikit-learn's coefficients, loss curve, epochs and validation
    scores (its initialisation, batches, shuffles and update rules)."""
    if not THOROUGH and PARITY.index(params) % 2:
        pytest.skip("thorough run only (every other case in the quick run)")
    x, y = iris()
    ours, theirs = both("classifier", random_state=0, **params)
    fitted(ours, x, y), fitted(theirs, x, y)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if params.get("early_stopping"):
        assert ours.validation_scores_ == pytest.approx(theirs.validation_scores_)
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_fifty_full_batch_partial_fits_from_the_same_coefficients(momentum, alpha):
    """sgd, full batches, no shuffling, the same starting coefs_/intercepts_ (set by hand), 50
    partial_fit calls: scikit-learn's coefficients to rtol 1e-6 (seen: 1e-15)."""
    if not THOROUGH and (momentum == 0.0) != (alpha == 0.0):
        pytest.skip("thorough run only")
    x, y = make_regression(120, 6, noise=10.0, random_state=3)
    y = y / y.std()
    start = fitted(MLPRegressor(hidden_layer_sizes=(9,), max_iter=1, random_state=5), x, y)
    ours, theirs = both(
        "regressor", hidden_layer_sizes=(9,), solver="sgd", batch_size=120, shuffle=False,
        momentum=momentum, alpha=alpha, learning_rate_init=0.01, random_state=0,
    )  # fmt: skip
    for est in (ours, theirs):
        est.partial_fit(x, y)  # the first call initialises (same velocity); then from `start`
        est.coefs_ = [c.copy() for c in start.coefs_]
        est.intercepts_ = [b.copy() for b in start.intercepts_]
        for _ in range(50):
            est.partial_fit(x, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# atol 1e-7 on the weights: SciPy's L-BFGS-B takes the same steps from J and its gradient in
# float64 computed in another order (XLA's fused sums against NumPy's); 50 iterations on iris
# amplify the rounding to ~1e-9 (seen 1.4e-9), and the counts are SciPy's own.
@pytest.mark.parametrize("grad", ["autodiff", "backprop"])
def test_lbfgs_takes_scikit_learns_iterates(grad):
    x, y = iris()
    for kind, target, params in [
        ("classifier", y, dict(hidden_layer_sizes=(10,), max_iter=50)),
        ("regressor", x[:, 3], dict(hidden_layer_sizes=(6,), activation="tanh", max_iter=40)),
    ]:
        ours, theirs = both(kind, solver="lbfgs", random_state=0, **params)
        ours.set_params(grad=grad)
        inputs = x if kind == "classifier" else x[:, :3]
        fitted(ours, inputs, target), fitted(theirs, inputs, target)
        assert ours.n_iter_ == theirs.n_iter_ == params["max_iter"]
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
        for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
            np.testing.assert_allclose(a, b, atol=1e-7)


def test_lbfgs_on_float32_data_takes_scikit_learns_iterates_in_float32():
    """What users get with float32 data: the fit stays in float32 and follows scikit-learn's
    float32 run. atol 1e-4: both evaluate J in float32 (rounding ~6e-8 relative) in another
    order, and 10 iterations amplify it (seen 3.2e-6); loss_ to 1e-5 relative (seen 4e-7)."""
    x, y = iris()
    x = x.astype(np.float32)
    ours, theirs = both("classifier", hidden_layer_sizes=(10,), solver="lbfgs", max_iter=10,
                        random_state=0)  # fmt: skip
    fitted(ours, x, y), fitted(theirs, x, y)
    assert ours.coefs_[0].dtype == np.float32 and ours.n_iter_ == theirs.n_iter_ == 10
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-5)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_compiled_lbfgs_reaches_scipys_minimum():
    """jaxmlp.training.lbfgs (optax's L-BFGS in one compiled loop, for accelerators) takes other
    iterates than SciPy's and reaches the same minimum: a linear network 4-3-1 without penalty,
    whose minimum is the least-squares fit; both predict it to 1e-5 in float64 (each stops at a
    relative decrease of J of ~2e-9, seen 1.1e-6 apart)."""
    from jaxmlp.forward import apply
    from jaxmlp.sklearn.problem import network, running, to_params
    from jaxmlp.training import lbfgs

    x, y = make_regression(100, 4, noise=5.0, random_state=0)
    y = y / y.std()
    options = dict(hidden_layer_sizes=(3,), activation="identity", alpha=0.0, tol=1e-10,
                   solver="lbfgs", random_state=0)  # fmt: skip
    start = fitted(MLPRegressor(max_iter=1, **options), x, y)
    scipys = fitted(MLPRegressor(max_iter=2000, **options), x, y)
    net = network(4, [3], 1, "identity", "identity")
    with running(np.float64, None):
        result = lbfgs.minimize(
            net, "autodiff", to_params(start.coefs_, start.intercepts_, np.float64), x,
            y[:, None], np.ones(len(x)), 0.0, 2000, 15000, 1e-10,
        )  # fmt: skip
        assert int(result.reason) in (lbfgs.CONVERGED_GRADIENT, lbfgs.CONVERGED_DECREASE)
        compiled = np.asarray(apply(net, result.params, x)[:, 0])
    design = np.hstack([x, np.ones((len(x), 1))])
    least_squares = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(compiled, least_squares, atol=1e-5)
    np.testing.assert_allclose(scipys.predict(x), least_squares, atol=1e-5)


def test_lbfgs_loss_and_gradient_as_scikit_learn_packs_them():
    """``_loss_grad_lbfgs`` with scikit-learn's signature and packing (coefficients row-major,
    then intercepts) returns scikit-learn's value and gradient at the same point (float64, same
    formula in another order: rtol 1e-12)."""
    x, y = iris()
    ours, theirs = both("classifier", hidden_layer_sizes=(5,), solver="lbfgs", max_iter=3,
                        random_state=0)  # fmt: skip
    fitted(ours, x, y), fitted(theirs, x, y)
    theta = np.hstack([a.ravel() for a in theirs.coefs_ + theirs.intercepts_])
    onehot = LabelBinarizer().fit_transform(y).astype(float)
    units = [4, 5, 3]
    buffers = (
        [x] + [np.empty((len(x), n)) for n in units[1:]],
        [np.empty((len(x), n)) for n in units[1:]],
        [np.empty((a, b)) for a, b in zip(units[:-1], units[1:])],
        [np.empty(b) for b in units[1:]],
    )
    value, grad = ours._loss_grad_lbfgs(theta, x, onehot, None, *buffers)
    expected_value, expected_grad = theirs._loss_grad_lbfgs(theta, x, onehot, None, *buffers)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(ours.coefs_[0], theirs.coefs_[0])  # both unpacked theta


def test_fitted_attributes_are_scikit_learns():
    x, y = digits()
    labels = np.array(list("abcdefghij"))[y]  # string classes come back as given
    clf = fitted(MLPClassifier((16,), max_iter=5, batch_size=100, random_state=0), x, labels)
    assert clf.classes_.tolist() == list("abcdefghij") and clf.n_iter_ == 5 and clf.t_ == 3000
    assert clf.n_layers_ == 3 and clf.n_outputs_ == 10 and clf.out_activation_ == "softmax"
    assert [c.shape for c in clf.coefs_] == [(64, 16), (16, 10)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (10,)]
    assert len(clf.loss_curve_) == 5 and clf.loss_ == clf.loss_curve_[-1] >= clf.best_loss_
    assert clf.validation_scores_ is None and clf.gradient_check_ is None
    proba = clf.predict_proba(x)
    assert proba.shape == (600, 10) and set(clf.predict(x[:20])) <= set("abcdefghij")
    np.testing.assert_allclose(clf.predict_log_proba(x[:5]), np.log(proba[:5]))
    binary = fitted(MLPClassifier((4,), max_iter=3, random_state=0), x, y % 2)
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(x).shape == (600, 2)


def test_setting_coefficients_is_training_from_them():
    """coefs_ and intercepts_ are the model: set them and partial_fit starts from them."""
    x, y = iris()
    clf = MLPClassifier((4,), solver="sgd", momentum=0.0, random_state=0)
    clf.partial_fit(x, y, classes=[0, 1, 2])
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(x), 1 / 3)
    clf.partial_fit(x[:100], y[:100])  # classes 0 and 1 only: the output biases move
    # zero weights and ReLU at 0: no gradient reaches the weights, only the output biases
    assert all(np.all(c == 0) for c in clf.coefs_) and np.all(clf.intercepts_[0] == 0)
    assert clf.intercepts_[1][2] < 0 < clf.intercepts_[1][0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_precision_follows_the_data(dtype, compilations):
    """float32 data trains and predicts in float32, anything else in float64, while JAX's global
    setting stays as it was."""
    import jax

    x, y = iris()
    before = jax.config.jax_enable_x64
    reg = fitted(
        MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0), x.astype(dtype), y
    )
    assert jax.config.jax_enable_x64 == before
    assert {c.dtype for c in reg.coefs_ + reg.intercepts_} == {np.dtype(dtype)}
    assert reg.predict(x.astype(dtype)).dtype == dtype


def test_an_int_input_trains_in_float64():
    x, y = iris()
    clf = fitted(MLPClassifier((5,), max_iter=5, random_state=0), (x * 10).astype(int), y)
    assert clf.coefs_[0].dtype == np.float64


def test_sample_and_class_weights():
    x, y = iris()
    ones = fitted(
        MLPClassifier((5,), max_iter=20, random_state=0), x, y, sample_weight=np.ones(150)
    )
    none = fitted(MLPClassifier((5,), max_iter=20, random_state=0), x, y)
    np.testing.assert_allclose(ones.coefs_[0], none.coefs_[0])
    weights = np.where(y == 0, 3.0, 1.0)
    by_class = fitted(MLPClassifier((5,), max_iter=20, random_state=0, class_weight={0: 3.0}), x, y)
    by_sample = fitted(
        MLPClassifier((5,), max_iter=20, random_state=0), x, y, sample_weight=weights
    )
    np.testing.assert_allclose(by_class.coefs_[0], by_sample.coefs_[0])
    assert not np.allclose(by_class.coefs_[0], none.coefs_[0])
    with pytest.raises(ValueError, match="non-negative"):
        MLPClassifier().fit(x, y, sample_weight=-np.ones(150))
    x, y = x[:120], y[:120]  # 50, 50 and 20 of each class: "balanced" is n / (3 count)
    kw = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    balanced = fitted(MLPClassifier(**kw, class_weight="balanced"), x, y)
    by_hand = fitted(MLPClassifier(**kw), x, y, sample_weight=120 / (3 * np.bincount(y)[y]))
    np.testing.assert_allclose(balanced.coefs_[0], by_hand.coefs_[0])


def test_the_delta_rules_check_covers_the_penalty_and_the_weights(monkeypatch):
    """``grad="backprop"`` checks the gradient its solver follows, the weighted loss plus the L2
    penalty: a penalty term the delta rule gets wrong is refused before anything trains (the
    check of the data loss alone, as it was, let it through)."""
    from jaxmlp.checks.gradient_check import GradientMismatchError
    from jaxmlp.training import objective

    x, y = iris()
    weights = np.where(y == 0, 0.0, 1.0 + (np.arange(len(y)) % 3))  # the first 50 weigh nothing
    kw = dict(hidden_layer_sizes=(5,), alpha=1.0, max_iter=3, grad="backprop", random_state=0)
    ok = fitted(MLPClassifier(**kw), x, y, sample_weight=weights)
    assert ok.gradient_check_.passed
    original = objective.value_and_grad

    def penalised_twice(net, params, x, t, w, alpha, grad):
        loss, grads = original(net, params, x, t, w, alpha, grad)
        if grad == "backprop":
            total = w.sum()
            grads = tuple(
                {**g, "w": g["w"] + alpha * p["w"] / total} for g, p in zip(grads, params)
            )
        return loss, grads

    monkeypatch.setattr(objective, "value_and_grad", penalised_twice)
    objective._both_compiled.clear_cache()  # (traced again with the wrong term)
    try:
        with pytest.raises(GradientMismatchError, match=r"\[0\]\['w'\]: backprop disagrees"):
            MLPClassifier(**kw).fit(x, y, sample_weight=weights)
    finally:
        objective._both_compiled.clear_cache()  # (the wrong program is not left to other tests)


def test_the_delta_rules_check_runs_in_float32_on_float32_data():
    """float32 data (what users pass for speed) train and are checked in float32, under the
    float32 tolerances of ``check_gradients``."""
    x, y = iris()
    kw = dict(hidden_layer_sizes=(5,), alpha=1.0, max_iter=3, grad="backprop", random_state=0)
    est = fitted(MLPClassifier(**kw), x.astype(np.float32), y)
    assert est.gradient_check_.passed and est.gradient_check_.dtype == "float32"


@thorough_only
def test_jaxmlps_own_keywords():
    x, y = iris()
    kw = dict(hidden_layer_sizes=(6,), max_iter=30, random_state=0)
    plain = fitted(MLPClassifier(**kw), x, y)
    decayed = fitted(MLPClassifier(**kw, weight_decay=0.5), x, y)
    assert np.abs(decayed.coefs_[0]).sum() < np.abs(plain.coefs_[0]).sum()
    by_hand = fitted(MLPClassifier(**kw, grad="backprop"), x, y)
    assert by_hand.gradient_check_.passed  # the delta rule was checked before it trained
    np.testing.assert_allclose(by_hand.coefs_[0], plain.coefs_[0], rtol=1e-9, atol=1e-12)
    for activation in ("leaky_relu", "softplus"):
        trained = MLPClassifier(
            (6,), activation=activation, learning_rate_init=0.01, random_state=0
        )
        fitted(trained, x, y)
        assert trained.score(x, y) > 0.8
    on_cpu = fitted(MLPClassifier(**kw, device="cpu"), x, y)
    # bit for bit: the default device is this CPU (a CPU-only jaxlib), so the same program runs
    np.testing.assert_array_equal(on_cpu.coefs_[0], plain.coefs_[0])
    with pytest.raises(ValueError, match="device 'tpu:7' is not available|tpu has devices"):
        MLPClassifier(device="tpu:7").fit(x, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": 0}, "'batch_size' parameter of MLPClassifier must be"),
        ({"max_iter": 0}, "'max_iter' parameter"),
        ({"activation": "swish"}, "'activation' parameter"),
        ({"solver": "newton"}, "'solver' parameter"),
        ({"grad": "numeric"}, "'grad' parameter"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes must be > 0"),
        ({"class_weight": "even"}, "'class_weight' parameter"),
    ],
)
def test_hyperparameters_out_of_range_are_named(params, message):
    x, y = iris()
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(x, y)


def test_verbose_prints_scikit_learns_lines(capsys):
    x, y = iris()
    fitted(MLPClassifier((4,), solver="sgd", max_iter=3, verbose=True, early_stopping=True), x, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Validation score: ")
    assert len(out) == 6


def test_maximum_iterations_warn_as_scikit_learn():
    x, y = iris()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        MLPClassifier((4,), max_iter=2).fit(x, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 2 iteration"):
        MLPClassifier((4,), solver="lbfgs", max_iter=2).fit(x, y)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_bridges_both_ways(activation):
    """from_sklearn: scikit-learn's fitted MLP as jaxmlp's (net, params), whose outputs are its
    predictions; to_sklearn: a genuine scikit-learn estimator with jaxmlp's predictions."""
    if not THOROUGH and activation != "relu":
        pytest.skip("thorough run only (relu in the quick run)")
    x, y = iris()
    theirs = fitted(
        scikit.MLPClassifier((5,), activation=activation, max_iter=50, random_state=0), x, y
    )
    net, params = from_sklearn(theirs)
    np.testing.assert_allclose(net.apply(params, x), theirs.predict_proba(x), rtol=1e-6)
    assert net.hvp(params, x, y, params)  # jaxmlp's second order takes it
    ours = fitted(
        MLPRegressor(hidden_layer_sizes=(5,), activation=activation, max_iter=50, random_state=0),
        x,
        y,
    )
    twin = to_sklearn(ours)
    assert type(twin) is scikit.MLPRegressor
    np.testing.assert_allclose(twin.predict(x), ours.predict(x), rtol=1e-9)
    clf = fitted(MLPClassifier((5,), activation=activation, max_iter=50, random_state=0), x, y)
    np.testing.assert_array_equal(to_sklearn(clf).predict(x), clf.predict(x))


def test_bridges_refuse_what_they_cannot_carry():
    x, y = iris()
    with pytest.raises(ValueError, match="scikit-learn has no activation 'softplus'"):
        to_sklearn(fitted(MLPClassifier((3,), activation="softplus", max_iter=2), x, y))
    with pytest.raises(TypeError, match="from_sklearn takes a fitted MLPClassifier"):
        from_sklearn(StandardScaler())


def test_no_recompilation_across_calls_hyperparameters_and_folds(compilations):
    """partial_fit calls, new learning rates and penalties, and cross-validation folds of one
    shape reuse the compiled epochs."""
    x, y = iris()  # 150 rows: 5 folds of 120 training rows each
    clf = MLPClassifier((8,), random_state=0)
    clf.partial_fit(x, y, classes=[0, 1, 2])
    before = stochastic.run_epochs._cache_size()
    for _ in range(3):
        clf.partial_fit(x, y)
    for lr in (1e-2, 1e-1):
        clf.set_params(learning_rate_init=lr, alpha=lr).partial_fit(x, y)
    assert stochastic.run_epochs._cache_size() == before
    schedule = MLPClassifier((8,), solver="sgd", learning_rate="invscaling", random_state=0)
    schedule.partial_fit(x, y, classes=[0, 1, 2], sample_weight=np.ones(150))
    before = stochastic.run_epochs._cache_size()
    for _ in range(3):  # the rate falls every call: it is data
        schedule.partial_fit(x, y, sample_weight=np.linspace(0.5, 1.5, 150))
    assert stochastic.run_epochs._cache_size() == before
    assert schedule._optimizer.learning_rate == pytest.approx(1e-3 / (4 * 150 + 1) ** 0.5)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=20, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cross_val_score(pipe, x, y, cv=5)
        middle = stochastic.run_epochs._cache_size()
        GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2, 1.0]}, cv=5, refit=False).fit(x, y)
    assert stochastic.run_epochs._cache_size() == middle  # 15 more fits, no new program


def test_a_new_solver_starts_a_new_solver_state():
    """partial_fit after set_params(solver=...) starts the new solver's state (as a new fit
    would), where the old one's moments have another shape."""
    x, y = iris()
    clf = MLPClassifier((4,), solver="sgd", random_state=0).partial_fit(x, y, classes=[0, 1, 2])
    assert clf._optimizer.second == ()
    clf.set_params(solver="adam").partial_fit(x, y)
    assert clf._optimizer.solver == "adam" and clf._optimizer.updates == 1


def test_partial_fit_is_refused_as_scikit_learn_refuses():
    x, y = iris()
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    clf = MLPClassifier(early_stopping=True, max_iter=3).fit(x, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        clf.partial_fit(x, y)
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(x, y)


def test_sparse_input_gives_the_dense_results():
    import scipy.sparse as sp

    x, y = digits()
    dense = fitted(MLPClassifier((8,), max_iter=5, random_state=0), x, y)
    sparse = fitted(MLPClassifier((8,), max_iter=5, random_state=0), sp.csr_matrix(x), y)
    np.testing.assert_allclose(sparse.coefs_[0], dense.coefs_[0])
    np.testing.assert_array_equal(sparse.predict(sp.csc_matrix(x)), dense.predict(x))


def test_package_exports_nothing_that_needs_scikit_learn():
    assert not hasattr(jaxmlp, "MLPClassifier")  # `import jaxmlp` stays free of scikit-learn


@pytest.mark.parametrize("cache", ["dir", pytest.param("", marks=thorough_only)])
def test_a_fit_keeps_its_program_in_the_persistent_compilation_cache(tmp_path, cache):
    """$JAXMLP_CACHE_DIR (set empty: off), as the CLI; a new process then loads the program.
    Off with the jaxlib versions whose loader logs errors for every cached program."""
    if not THOROUGH and not cache:
        pytest.skip("thorough run only")
    path = str(tmp_path / "xla") if cache else ""
    script = (
        "import jax, numpy as np\n"
        "from jaxmlp.sklearn import MLPClassifier\n"
        "x = np.random.RandomState(0).rand(40, 3); y = (x[:, 0] > 0.5).astype(int)\n"
        "MLPClassifier((4,), max_iter=2).fit(x, y)\n"
        "print(jax.config.jax_compilation_cache_dir)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "JAXMLP_CACHE_DIR": path},
        check=True,
    )
    if cache and jaxlib.__version__ not in NOISY_LOADERS:
        assert run.stdout.split()[-1] == path
        assert any(p.name.startswith("jit_run_epochs") for p in (tmp_path / "xla").iterdir())
    else:
        assert run.stdout.split()[-1] == "None" and not (tmp_path / "xla").exists()


@pytest.mark.skipif(not THOROUGH, reason="thorough run only")
@pytest.mark.parametrize("name", ["wine", "diabetes"])
def test_default_estimators_score_as_scikit_learns(name):
    """experiments/sklearn_quality.py's comparison, on three seeds: the same test scores."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "experiments"))
    try:
        import sklearn_quality
    finally:
        sys.path.pop(0)
    load, metric = sklearn_quality.SETS[name]
    got = sklearn_quality.scores(load, metric == "R^2", range(3))
    np.testing.assert_allclose(got["jaxmlp"], got["scikit-learn"], atol=1e-9)
