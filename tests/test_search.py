"""jaxmlp.sklearn.search: scikit-learn's searches, their jaxmlp candidates and folds trained as one
population, giving the results of scikit-learn's own searches over jaxmlp's estimators."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from scipy.stats import loguniform  # noqa: E402
from sklearn import model_selection  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from jaxmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from jaxmlp.sklearn import search as population_search  # noqa: E402
from jaxmlp.training import stochastic  # noqa: E402

from .settings import THOROUGH, thorough_only  # noqa: E402


def iris():
    return load_iris(return_X_y=True)


def same_results(ours, theirs):
    """cv_results_ with scikit-learn's keys and dtypes, the same scores and choice."""
    a, b = ours.cv_results_, theirs.cv_results_
    assert set(a) == set(b)
    for key in b:
        if key.endswith("_time"):
            continue  # look-ups here, fits there
        assert np.asarray(a[key]).dtype == np.asarray(b[key]).dtype, key
        if key.endswith(("_score", "rank_test_score")) or key.startswith("split"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, err_msg=key)
    assert ours.best_params_ == theirs.best_params_ and ours.best_index_ == theirs.best_index_
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-12)
    assert ours.n_splits_ == theirs.n_splits_ and ours.multimetric_ == theirs.multimetric_


def counting(monkeypatch):
    """How many population and single-run calls the search makes."""
    calls = {"population": 0, "single": 0}
    for name, kind in (("run_population", "population"), ("run_epochs", "single")):
        original = getattr(stochastic, name)

        def counted(*args, _original=original, _kind=kind, **kw):
            calls[_kind] += 1
            return _original(*args, **kw)

        monkeypatch.setattr(stochastic, name, counted)
    return calls


@thorough_only
def test_a_grid_over_a_pipeline_gives_scikit_learns_results(monkeypatch):
    """Candidates x seeds x folds (folds of unequal size: 4 folds of 150 rows), shuffled
    minibatches, sgd and adam (two populations), early stopping for some: the scores of
    scikit-learn's GridSearchCV over the same estimator, fit by fit; only the refit trains alone."""
    x, y = iris()
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((8,), max_iter=30, batch_size=32, random_state=3)
    )
    grid = [
        {
            "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
            "mlpclassifier__alpha": [1e-4, 1e-1],
            "mlpclassifier__random_state": [0, 1],
        },
        {"mlpclassifier__solver": ["sgd"], "mlpclassifier__early_stopping": [True, False]},
    ]
    cv = model_selection.StratifiedKFold(4, shuffle=True, random_state=0)
    calls = counting(monkeypatch)
    ours = population_search.GridSearchCV(pipe, grid, cv=cv, return_train_score=True).fit(x, y)
    assert calls["population"] >= 2 and calls["single"] == 1  # the refit alone trains by itself
    theirs = model_selection.GridSearchCV(pipe, grid, cv=cv, return_train_score=True).fit(x, y)
    same_results(ours, theirs)
    np.testing.assert_allclose(
        ours.best_estimator_[-1].coefs_[0], theirs.best_estimator_[-1].coefs_[0], rtol=1e-12
    )
    fitted = [
        {k for k in vars(s) if k.endswith("_") and not k.startswith("_")} for s in (ours, theirs)
    ]
    assert fitted[0] == fitted[1]  # scikit-learn's fitted attributes, no more


def test_a_randomized_search_with_an_int_seed_and_several_metrics():
    x, y = make_regression(120, 5, noise=5.0, random_state=0)
    distributions = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": loguniform(1e-3, 3e-2)}
    kw = dict(n_iter=4, cv=3, random_state=0, scoring=["r2", "neg_mean_squared_error"], refit="r2")
    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=40, random_state=0)
    ours = population_search.RandomizedSearchCV(reg, distributions, **kw).fit(x, y / y.std())
    theirs = model_selection.RandomizedSearchCV(reg, distributions, **kw).fit(x, y / y.std())
    same_results(ours, theirs)
    assert ours.multimetric_


@pytest.mark.parametrize(
    "estimator, grid",
    [
        (LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}),
        (MLPClassifier((4,), solver="lbfgs", max_iter=20, random_state=0), {"alpha": [1e-4, 1e-1]}),
        (
            make_pipeline(StandardScaler(), MLPClassifier((4,), max_iter=5, random_state=0)),
            {"standardscaler__with_mean": [True, False]},
        ),
    ],
    ids=["another estimator", "lbfgs", "a grid over the preprocessing"],
)
def test_what_a_population_cannot_train_is_fitted_by_scikit_learn(estimator, grid, monkeypatch):
    if not THOROUGH and not isinstance(estimator, LogisticRegression):
        pytest.skip("thorough run only (another estimator in the quick run)")
    x, y = iris()
    calls = counting(monkeypatch)
    ours = population_search.GridSearchCV(estimator, grid, cv=3).fit(x, y)
    assert calls["population"] == 0
    same_results(ours, model_selection.GridSearchCV(estimator, grid, cv=3).fit(x, y))


def test_a_population_over_the_budget_is_cut_into_groups(capsys):
    x, y = iris()
    fits = [(MLPClassifier((8,), max_iter=5, random_state=s), x, y) for s in range(5)]
    population_search.fit_population(fits, budget=1)
    assert "5 networks of one shape need" in capsys.readouterr().err
    for estimator, _, _ in fits:
        alone = MLPClassifier((8,), max_iter=5, random_state=estimator.random_state)
        with pytest.warns(Warning):
            alone.fit(x, y)
        np.testing.assert_allclose(estimator.coefs_[0], alone.coefs_[0], rtol=1e-12)


def test_a_search_on_float32_data_trains_in_float32_and_gives_the_same_results():
    """float32 data (what a user who asks for speed passes): the population trains in float32,
    as each fit one by one does, with the same scores (accuracies of the same predictions)."""
    x, y = iris()
    x = x.astype(np.float32)
    mlp = MLPClassifier((8,), max_iter=20, batch_size=50, random_state=0)
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}
    ours = population_search.GridSearchCV(mlp, grid, cv=3).fit(x, y)
    theirs = model_selection.GridSearchCV(mlp, grid, cv=3).fit(x, y)
    same_results(ours, theirs)
    assert ours.best_estimator_.coefs_[0].dtype == np.float32


def test_devices_is_a_parameter_like_the_others():
    from sklearn.base import clone

    search = population_search.GridSearchCV(MLPClassifier(), {"alpha": [1e-4]}, devices=2)
    assert search.get_params()["devices"] == 2 and clone(search).devices == 2
    randomized = population_search.RandomizedSearchCV(MLPClassifier(), {"alpha": [1e-4]})
    assert randomized.get_params()["devices"] is None


@pytest.mark.skipif(not THOROUGH, reason="thorough run only (a two-device subprocess)")
def test_a_population_split_over_two_devices_gives_one_devices_results():
    from tests.test_distributed import python

    out = python(
        """
        import json, warnings
        import numpy as np
        from sklearn.datasets import load_iris
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from jaxmlp.sklearn import GridSearchCV, MLPClassifier
        warnings.simplefilter("ignore")
        x, y = load_iris(return_X_y=True)
        grid = {"mlpclassifier__alpha": [1e-4, 1e-2], "mlpclassifier__random_state": [0, 1, 2]}
        pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=30))
        one = GridSearchCV(pipe, grid, cv=3).fit(x, y)
        two = GridSearchCV(pipe, grid, cv=3, devices=2).fit(x, y)
        print(json.dumps({
            "one": one.cv_results_["mean_test_score"].tolist(),
            "two": two.cv_results_["mean_test_score"].tolist(),
            "coefs": float(np.max(np.abs(one.best_estimator_[-1].coefs_[0] - two.best_estimator_[-1].coefs_[0]))),
        }))
        """,
        devices=2,
    )
    assert out["one"] == out["two"] and out["coefs"] == 0.0


@thorough_only
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_processes_split_the_population_and_find_one_process_results(dtype):
    """Hosts: two processes over loopback, one device each, train half of the cohorts each; every
    process ends with the whole search, that of one process alone (the members never talk)."""
    from tests.test_distributed import ROOT, two_processes

    code = "from tests.search_hosts import child; child()"
    two = two_processes(code, dtype)
    one = subprocess.run(
        [sys.executable, "-c", code, "0", "single", dtype], capture_output=True, text=True,
        check=True, env={**os.environ, "PYTHONPATH": ROOT},
    )  # fmt: skip
    one = json.loads(one.stdout.strip().splitlines()[-1])
    assert [p.pop("devices") for p in two] == [[2, 1], [2, 1]]  # a mesh over both processes
    one.pop("devices")
    assert two[0] == two[1] == one  # scores, best parameters, refit weights, rows trained
    assert one["trained"] > 0  # the population trained the fits (not scikit-learn one by one)


def test_with_metadata_routing_groups_reach_the_splitter_as_in_scikit_learn(monkeypatch):
    """With ``enable_metadata_routing``, ``groups`` passed to ``fit`` reach a group splitter (the
    population trains on its folds: scikit-learn's results), and are refused, in scikit-learn's
    words, where nothing asks for them."""
    import sklearn

    x, y = iris()
    groups = np.arange(len(y)) % 5
    mlp = MLPClassifier((4,), max_iter=5, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    calls = counting(monkeypatch)
    with sklearn.config_context(enable_metadata_routing=True):
        cv = model_selection.GroupKFold(3)
        ours = population_search.GridSearchCV(mlp, grid, cv=cv).fit(x, y, groups=groups)
        assert calls["population"] >= 1 and calls["single"] == 1  # only the refit trains alone
        theirs = model_selection.GridSearchCV(mlp, grid, cv=cv).fit(x, y, groups=groups)
        same_results(ours, theirs)
        messages = []
        for search in (population_search.GridSearchCV, model_selection.GridSearchCV):
            with pytest.raises(TypeError) as refused:
                search(mlp, grid, cv=3).fit(x, y, groups=groups)
            messages.append(str(refused.value))
        assert messages[0] == messages[1] and "not routed to any object" in messages[0]


def test_the_population_reaches_a_pipelines_fits_under_metadata_routing(monkeypatch):
    """The population and each fit's rows are fit parameters the estimators request by default:
    under metadata routing they pass through a ``Pipeline`` to the MLP step, unasked."""
    import sklearn

    x, y = iris()
    pipe = make_pipeline(StandardScaler(), MLPClassifier((4,), max_iter=5, random_state=0))
    grid = {"mlpclassifier__alpha": [1e-4, 1e-2]}
    calls = counting(monkeypatch)
    with sklearn.config_context(enable_metadata_routing=True):
        ours = population_search.GridSearchCV(pipe, grid, cv=3).fit(x, y)
        assert calls["population"] >= 1 and calls["single"] == 1  # only the refit trains alone
        same_results(ours, model_selection.GridSearchCV(pipe, grid, cv=3).fit(x, y))


class Recording(population_search.GridSearchCV):
    """A subclass, as users write them: it sees the search's own ``n_jobs`` while it runs."""

    def _run_search(self, evaluate_candidates, callback_ctx=None):
        self.seen_n_jobs = self.n_jobs
        super()._run_search(evaluate_candidates, callback_ctx=callback_ctx)


def test_the_users_n_jobs_is_left_alone(monkeypatch):
    """``n_jobs=2`` stays the search's while it runs (here on joblib's threads, where the calls
    can be counted): every fit but the refit is taken from the population."""
    import joblib

    x, y = iris()
    mlp = MLPClassifier((4,), max_iter=5, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    calls = counting(monkeypatch)
    with joblib.parallel_backend("threading"):
        ours = Recording(mlp, grid, cv=3, n_jobs=2).fit(x, y)
    assert ours.seen_n_jobs == 2 and ours.n_jobs == 2
    assert calls["population"] >= 1 and calls["single"] == 1
    same_results(ours, model_selection.GridSearchCV(mlp, grid, cv=3).fit(x, y))


@thorough_only
def test_fits_in_worker_processes_take_the_population():
    """``n_jobs=2`` in processes (joblib's loky): the population pickles to the workers and the
    search gives scikit-learn's results; trained beforehand and passed to ``fit``, it is used as
    it is (its cost read from it)."""
    x, y = iris()
    mlp = MLPClassifier((4,), max_iter=5, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    search = population_search.GridSearchCV(mlp, grid, cv=3, n_jobs=2)
    population = search.population(x, y)
    assert population.rows_seen == 2 * 3 * 100 * 5 and population.seconds > 0
    ours = search.fit(x, y, population=population)
    same_results(ours, model_selection.GridSearchCV(mlp, grid, cv=3, n_jobs=2).fit(x, y))
    with pytest.raises(ValueError, match=r"trained on data of shape \(150, 4\); X has shape"):
        search.fit(x[:120], y[:120], population=population)


class Hooks:
    """A scikit-learn fit callback that records the hooks it sees, in order."""

    def __init__(self):
        self.seen = []

    def setup(self, estimator, context):
        self.seen.append(("setup", type(estimator).__name__))

    def on_fit_task_begin(self, estimator, context, **kwargs):
        self.seen.append(("begin", type(estimator).__name__, context.task_name))

    def on_fit_task_end(self, estimator, context, **kwargs):
        self.seen.append(("end", type(estimator).__name__, context.task_name))

    def teardown(self, estimator, context):
        self.seen.append(("teardown", type(estimator).__name__))


def test_a_callback_sees_the_search_scikit_learns_sees():
    """scikit-learn's callbacks (``set_callbacks``): the same hooks, in the same order, on
    jaxmlp's search as on scikit-learn's."""
    x, y = iris()
    mlp = MLPClassifier((4,), max_iter=5, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    seen = []
    for search in (population_search.GridSearchCV, model_selection.GridSearchCV):
        hooks = Hooks()
        search(mlp, grid, cv=3).set_callbacks(hooks).fit(x, y)
        seen.append([(h[0], *h[2:]) for h in hooks.seen])  # (the class names differ)
    assert seen[0] == seen[1] and len(seen[0]) > 4
