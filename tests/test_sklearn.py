"""jaxmlp.sklearn: scikit-learn's own estimator checks, pipelines, search, partial_fit, early stopping."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import jaxmlp  # noqa: E402
from jaxmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

from .settings import THOROUGH  # noqa: E402

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
    """In JAX's default precision, float32, as users run it."""
    name = getattr(check, "func", check).__name__
    if not THOROUGH and not name.startswith(QUICK):
        pytest.skip("thorough run only (JAXMLP_THOROUGH=1, as .ci/run sets it)")
    check(estimator)


@pytest.mark.float64
@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks_in_64_bits(estimator, check):
    """The same checks with JAX in 64-bit mode (scoped to the test)."""
    test_scikit_learn_estimator_checks(estimator, check)


def digits():
    x, y = load_digits(return_X_y=True)
    return x[:600], y[:600]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": 0}, "batch_size must be 'auto' or a positive integer, got 0"),
        ({"max_iter": 0}, "max_iter must be a positive integer, got 0"),
        ({"hidden_layer_sizes": (8, 2.5)}, "hidden_layer_sizes must hold positive integers"),
        (
            {"early_stopping": True, "validation_fraction": 1.5},
            r"validation_fraction must lie in \(0, 1\), got 1.5",
        ),
        ({"early_stopping": True, "n_iter_no_change": 0}, "n_iter_no_change must be a positive"),
    ],
)
def test_hyperparameters_out_of_range_are_named(params, message):
    x, y = digits()
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(x, y)


def test_batch_size_auto_is_scikit_learns_rule():
    x, y = digits()
    auto = MLPClassifier((8,), batch_size="auto", max_iter=1, random_state=0).fit(x, y)
    fixed = MLPClassifier((8,), batch_size=200, max_iter=1, random_state=0).fit(x, y)
    assert auto.t_ == fixed.t_ == 3  # 600 images in batches of 200
    np.testing.assert_array_equal(auto.params_[0]["w"], fixed.params_[0]["w"])


def test_a_pipeline_in_cross_validation_and_grid_search():
    x, y = digits()
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier((32,), max_iter=40, learning_rate=1e-2, batch_size=50, random_state=0),
    )
    scores = cross_val_score(pipe, x, y, cv=2)
    assert scores.mean() > 0.8  # 300 training images per fold
    search = GridSearchCV(pipe, {"mlpclassifier__learning_rate": [1e-5, 1e-2]}, cv=2)
    search.fit(x, y)
    assert search.best_params_ == {"mlpclassifier__learning_rate": 1e-2}


@pytest.mark.float64
def test_fitted_attributes_and_the_network_behind_them():
    x, y = digits()
    labels = np.array(list("abcdefghij"))[y]  # string classes come back as given
    clf = MLPClassifier((16,), max_iter=5, batch_size=100, random_state=0, grad="backprop")
    clf.fit(x / 16, labels)
    assert clf.classes_.tolist() == list("abcdefghij") and clf.n_iter_ == 5 and clf.t_ == 30
    assert len(clf.loss_curve_) == 5 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.gradient_check_.passed  # the delta rule was checked before it trained
    proba = clf.predict_proba(x / 16)
    np.testing.assert_allclose(
        proba, np.asarray(clf.net_.apply(clf.params_, (x / 16).astype(proba.dtype)))
    )
    assert set(clf.predict(x[:20] / 16)) <= set("abcdefghij")
    np.testing.assert_allclose(clf.predict_log_proba(x[:5] / 16), np.log(proba[:5]))
    assert clf.get_params()["hidden_layer_sizes"] == (16,)
    assert clf.set_params(max_iter=3).max_iter == 3


def test_partial_fit_continues_where_the_last_call_stopped():
    x, y = digits()
    x = x / 16
    whole = MLPClassifier((16,), max_iter=3, batch_size=600, random_state=0).fit(x, y)
    parts = MLPClassifier((16,), max_iter=3, batch_size=600, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        parts.partial_fit(x, y)
    for _ in range(3):
        parts.partial_fit(x, y, classes=np.arange(10))
    # full-batch epochs: three calls of one epoch are the run of three epochs, optimizer state included
    np.testing.assert_allclose(parts.predict_proba(x), whole.predict_proba(x), rtol=1e-6, atol=1e-7)
    assert parts.n_iter_ == 3 and len(parts.loss_curve_) == 3
    with pytest.raises(ValueError, match="not in classes"):
        MLPClassifier().partial_fit(x[:5], [0, 1, 2, 3, 11], classes=np.arange(10))


def test_early_stopping_records_validation_and_keeps_the_best_epoch():
    x, y = make_regression(400, 5, noise=30.0, random_state=0)
    reg = MLPRegressor(
        (64,),
        learning_rate=3e-2,
        max_iter=300,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
        batch_size=50,
    )
    reg.fit(x, y / y.std())
    assert reg.n_iter_ < 300  # stopped early
    assert len(reg.validation_scores_) == len(reg.validation_losses_) == reg.n_iter_
    best = int(np.argmin(reg.validation_losses_))
    assert reg.n_iter_ == best + 1 + 5  # patience: five epochs without a lower validation loss
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.score(x, y / y.std()) > 0.5


def test_multi_output_regression_and_shapes():
    x, y = make_regression(200, 4, n_targets=3, random_state=1)
    reg = MLPRegressor((32,), max_iter=100, learning_rate=1e-2, random_state=0).fit(x, y / y.std())
    assert reg.predict(x).shape == (200, 3) and reg.score(x, y / y.std()) > 0.8
    one = MLPRegressor((8,), max_iter=2, random_state=0).fit(x, y[:, 0])
    assert one.predict(x).shape == (200,)


def test_package_exports_nothing_that_needs_scikit_learn():
    assert not hasattr(jaxmlp, "MLPClassifier")  # `import jaxmlp` stays free of scikit-learn


@pytest.mark.parametrize(
    "option", [{"weight_decay": 0.1}, {"schedule": "cosine"}, {"optimizer": "momentum"}]
)
def test_training_options_reach_fit(option):
    x, y = digits()
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, batch_size=100, random_state=0)
    plain = MLPClassifier(**kw).fit(x / 16, y)
    other = MLPClassifier(**kw, **option).fit(x / 16, y)
    assert other.loss_curve_ != plain.loss_curve_


def test_partial_fit_with_a_schedule_compiles_its_loop_once():
    """The schedule's length is data: each partial_fit call (a longer run than the last) reuses
    the compiled loop."""
    from jaxmlp.training.loop import run_chunk

    x, y = digits()
    clf = MLPClassifier(hidden_layer_sizes=(16,), schedule="cosine", random_state=0)
    clf.partial_fit(x, y, classes=np.arange(10))
    before = run_chunk._cache_size()
    for _ in range(3):
        clf.partial_fit(x, y)
    assert run_chunk._cache_size() == before
