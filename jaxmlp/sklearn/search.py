"""Hyperparameter search as one population: scikit-learn's ``GridSearchCV`` and
``RandomizedSearchCV`` whose candidates and folds train together.

``GridSearchCV(MLPClassifier(), grid, cv=5)`` in scikit-learn fits every candidate on every fold
one after the other. Here, before scikit-learn's own search runs, every (candidate, fold) fit of a
jaxmlp ``MLPClassifier``/``MLPRegressor`` (alone, or the last step of a ``Pipeline`` whose other
steps the grid leaves alone) is trained by :func:`fit_population`: members that share a network
shape and a stochastic solver's static settings run as one :func:`~jaxmlp.training.stochastic.
run_population` call per chunk of epochs, each member with its own hyperparameters, seed, fold (an
index set over the folds' data, stored once per fold) and stopping; the preprocessing runs per fold
on the host. scikit-learn's search then runs as it always does (its splits, scoring, refit,
``cv_results_``, ``n_jobs``), and each of its fits finds its member already trained: the
population (:class:`~jaxmlp.sklearn.trained.Population`) reaches every ``fit`` as a fit parameter
with ``rows``, the fit's rows, which scikit-learn cuts with the folds; a fit is matched by its
parameters and rows, so the results are those of fitting one by one. Anything else (``lbfgs``, a
grid over the preprocessing, other estimators, a ``RandomizedSearchCV`` without an int
``random_state``) is fitted by scikit-learn's search as usual. The search's fitted attributes are
scikit-learn's; ``search.population(X, y)`` trains the population alone (its ``seconds`` and
``rows_seen`` say what it cost; scikit-learn's ``mean_fit_time`` counts only the look-ups) and
``search.fit(X, y, population=...)`` takes it.
"""

from __future__ import annotations

import functools
import sys
import time
from collections import defaultdict
from typing import Any, NamedTuple

import jax
import numpy as np
from sklearn import get_config, model_selection
from sklearn.base import clone, is_classifier
from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import _num_samples

from jaxmlp.sklearn import stochastic_fit
from jaxmlp.sklearn.estimators import MLPClassifier, MLPRegressor
from jaxmlp.sklearn.problem import Problem, Start, epochs_per_call, running
from jaxmlp.sklearn.trained import Population, fit_identity
from jaxmlp.training import engine, parallel, stochastic
from jaxmlp.training.parallel import axis_size, make_mesh

__all__ = [
    "MEMORY_BUDGET",
    "member_bytes",
    "fit_population",
    "Member",
    "PADDING",
    "train_population",
    "DEVICES",
    "GridSearchCV",
    "RandomizedSearchCV",
]

MEMORY_BUDGET = 2 * 2**30  # bytes of member state and epoch orders per population call


def _stack(trees):
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *trees)


def _member(tree, m: int):
    return jax.tree_util.tree_map(lambda leaf: leaf[m], tree)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([a, np.zeros(size - len(a), a.dtype)])


def member_bytes(start, problem, epochs: int, size: int) -> int:
    """One member's device memory: parameters, moments and best parameters, a batch's gather
    and its epoch orders for one call."""
    params = sum(np.asarray(p).size for p in jax.tree_util.tree_leaves(problem.params))
    itemsize = problem.X.dtype.itemsize
    gather = start.solver.batch * (problem.X.shape[1] + problem.t.shape[1] + 1)
    return (5 * params + gather) * itemsize + 4 * epochs * size


def fit_population(fits: list[tuple], budget: int = MEMORY_BUDGET, devices=None) -> int:
    """Train ``fits`` (``(estimator, X, y)`` each; estimators unfitted, stochastic solvers) as
    :func:`fit` would one by one, members with the same network and static solver settings as
    one population (cut into groups that fit ``budget`` bytes per device, saying so in one line).
    ``devices`` (a count or a 1-D ``jax.sharding.Mesh``, as ``jaxmlp.fit`` takes it) splits each
    population's cohorts over the devices (the data replicated; the members never communicate),
    also when they belong to several processes (``jax.distributed``): every process passes the
    same fits, trains its devices' cohorts and ends with every member trained.
    Returns the training rows the members went through (rows x epochs, summed)."""
    mesh = make_mesh(devices)
    seen = 0
    if mesh is not None:
        budget *= axis_size(mesh)
    groups = defaultdict(list)
    for estimator, X, y in fits:
        problem = estimator._problem(X, y, None, incremental=False)
        start = stochastic_fit.prepare(
            estimator, problem.net, problem.params, problem.X, problem.t, problem.w, False
        )
        static = start.solver.__dict__ | {"epochs": None}
        key = (repr(static), problem.X.dtype.str, repr(problem.device))
        groups[key].append(Member(estimator, problem, start, id(X)))
    for members in groups.values():
        size = max(len(m.start.rows.train) for m in members)
        epochs = epochs_per_call(
            max(m.estimator.max_iter for m in members),
            size * len(members),
            members[0].start.solver.shuffle,
        )
        per_member = member_bytes(members[0].start, members[0].problem, epochs, size)
        width = max(1, budget // per_member)
        if width < len(members):
            print(
                f"jaxmlp: {len(members)} networks of one shape need "
                f"{len(members) * per_member / 2**20:,.0f} MiB; training them in "
                f"{-(-len(members) // width)} groups of at most {width} ({budget / 2**20:,.0f} MiB)",
                file=sys.stderr,
            )
        for i in range(0, len(members), width):
            seen += _train(members[i : i + width], epochs, mesh)
    return seen


class Member(NamedTuple):
    """A fit of a population: the estimator, its problem and prepared start, and ``source``, which
    data it was given (members fitted to the same data share its rows)."""

    estimator: MLPClassifier | MLPRegressor
    problem: Problem
    start: Start
    source: int


def _cohort_key(member: Member) -> tuple:
    """Members with one key draw the same epoch orders: the same rows of the same data and the
    same int seed (the same draws before the orders: initial weights, early-stopping split)."""
    seed = getattr(member.estimator, "random_state", None)
    seed = seed if isinstance(seed, (int, np.integer)) else id(member.estimator)
    rows = member.start.rows
    return (member.source, seed, np.asarray(rows.train).tobytes(), np.asarray(rows.valid).tobytes())


class _Layout(NamedTuple):
    """A population laid out for :func:`stochastic.run_population`: the shared ``data``, the
    ``grid`` of (cohort, member) -> the member or None (a frozen copy filling its cohort), each
    cohort's ``lead`` member, its ``rows`` (stacked :class:`stochastic.Subset`), the ``solver``,
    the longest training rows ``size`` and the stacked ``rules`` and ``state``."""

    data: tuple
    grid: list
    lead: list
    rows: Any
    solver: stochastic.Solver
    size: int
    rules: Any
    state: Any


def _layout(members, epochs: int, mesh) -> _Layout:
    """Members grouped into cohorts that share their rows and epoch orders, the cohorts padded to
    one size with frozen copies (with a ``mesh``, their count to a multiple of its size), the data
    of every distinct problem stored once."""
    slots: dict[int, tuple[int, Problem]] = {}
    for m in members:
        if m.source not in slots:
            slots[m.source] = (sum(len(p.X) for _, p in slots.values()), m.problem)
    data = tuple(np.concatenate([p[i] for _, p in slots.values()]) for i in (2, 3, 4))
    grouped = defaultdict(list)
    for member in members:
        grouped[_cohort_key(member)].append(member)
    cohorts = _even(list(grouped.values()))
    if mesh is not None:  # frozen copies of the first cohort fill the last device's share
        cohorts += [[]] * (-len(cohorts) % axis_size(mesh))
    width = max(len(c) for c in cohorts)
    size = max(len(m.start.rows.train) for m in members)
    valid = max(len(m.start.rows.valid) for m in members)
    rows = []
    lead = [c[0] if c else cohorts[0][0] for c in cohorts]
    for head in lead:
        offset, r = slots[head.source][0], head.start.rows
        rows.append(
            stochastic.Subset(
                _pad(r.train + offset, size), r.n_train, _pad(r.valid + offset, valid), r.n_valid
            )
        )
    first = members[0].start
    batch = first.solver.batch
    ragged = any(-(-int(r.n_train) // batch) < -(-size // batch) for r in rows)  # a step of padding
    solver = stochastic.Solver(**(first.solver.__dict__ | {"epochs": epochs, "ragged": ragged}))
    grid = [[c[i] if i < len(c) else None for i in range(width)] for c in cohorts]
    fill = [[m if m is not None else head for m in row] for row, head in zip(grid, lead)]
    rules = _stack([_stack([m.start.rules for m in row]) for row in fill])
    state = _stack([_stack([m.start.state for m in row]) for row in fill])
    return _Layout(data, grid, lead, _stack(rows), solver, size, rules, state)


def _train(members, epochs: int, mesh=None) -> int:
    """One population (:func:`_layout`: cohorts that share their rows and epoch orders, so each
    batch is gathered once and the cohort's first-layer products are one wide product) trained
    on the engine, calls of at most ``epochs`` epochs; with a ``mesh``, the cohorts split over
    it. Each member's estimator records its epochs and keeps its parameters. Returns the
    training rows the members went through (rows x epochs)."""
    lay = _layout(members, epochs, mesh)
    solver, grid, lead, data = lay.solver, lay.grid, lay.lead, lay.data
    n_train = np.asarray(lay.rows.n_train)
    split = (lambda tree: tree) if mesh is None else functools.partial(parallel.shard_leaves, mesh)
    left = np.array([[m.start.left if m is not None else 0 for m in row] for row in grid])
    problem = members[0].problem
    seen = 0
    with running(problem.X.dtype, problem.device):
        # in the data's precision
        rules, state, rows = split(lay.rules), split(lay.state), split(lay.rows)
        if mesh is not None:
            data = parallel.replicate(mesh, data)

        def call(wanted):
            nonlocal state, seen
            perms = None
            if solver.shuffle:
                perms = np.zeros((len(grid), epochs, lay.size), np.int32)
                for g, head in enumerate(lead):
                    if wanted[g].max():
                        own = stochastic_fit.orders(
                            head.estimator, head.start._replace(solver=solver), int(wanted[g].max())
                        )
                        assert own is not None  # orders are drawn when shuffling
                        perms[g, :, : own.shape[1]] = own
            *state, records, ran, now_stopped = stochastic.run_population(
                solver, rules, *state, data, rows, split(perms), split(wanted)
            )
            records, ran, now_stopped = parallel.gathered((records, ran, now_stopped))
            for g, row in enumerate(grid):
                for c, member in enumerate(row):
                    if member is not None and wanted[g, c]:
                        one = jax.tree_util.tree_map(lambda a, g=g, c=c: a[g, :, c], records)
                        stochastic_fit.record(
                            member.estimator, one, int(ran[g, c]), int(n_train[g])
                        )
            seen += int(np.sum(ran * n_train[:, None]))
            return ran, now_stopped

        _, stopped = engine.run_calls(call, left, epochs)
        state = parallel.gathered(tuple(state))
    for g, row in enumerate(grid):
        for c, member in enumerate(row):
            if member is not None:
                params, moments, progress = jax.tree_util.tree_map(
                    lambda a, g=g, c=c: a[g, c], state
                )
                params = stochastic_fit.finish(
                    member.estimator, member.start, params, moments, progress,
                    bool(stopped[g, c]), False,
                )  # fmt: skip
                member.estimator._keep(params)
    return seen


PADDING = 0.1  # the most frozen copies a cohort width may add, as a fraction of the members


def _even(cohorts: list[list]) -> list[list]:
    """``cohorts`` cut into cohorts of one width ``w``: the largest whose padding (each cohort
    filled up to a multiple of ``w`` with frozen copies, which cost a member's step each) stays
    within :data:`PADDING` of the members (``w = 1``, no sharing, never pads)."""
    members = sum(len(c) for c in cohorts)
    for width in range(max(len(c) for c in cohorts), 0, -1):
        if sum(-(-len(c) // width) * width for c in cohorts) <= (1 + PADDING) * members:
            return [c[i : i + width] for c in cohorts for i in range(0, len(c), width)]
    raise AssertionError("width 1 never pads")


def _final(estimator):
    """``(name of the MLP step or None, the MLP)`` when the search is over a jaxmlp MLP."""
    if isinstance(estimator, (MLPClassifier, MLPRegressor)):
        return None, estimator
    if isinstance(estimator, Pipeline) and isinstance(
        estimator.steps[-1][1], (MLPClassifier, MLPRegressor)
    ):
        return estimator.steps[-1][0], estimator.steps[-1][1]
    return None, None


def train_population(search, X, y=None, groups=None) -> Population | None:
    """Train every (candidate, fold) fit of ``search`` that a population can train (module
    docstring), on ``X`` and ``y`` split by its ``cv`` with ``groups``: a :class:`~jaxmlp.
    sklearn.trained.Population` (None when there is none to train)."""
    started = time.perf_counter()
    step, mlp = _final(search.estimator)
    if mlp is None:
        return None
    prefix = f"{step}__" if step else ""
    candidates = search._candidates()
    if not all(
        all(k.startswith(prefix) and "__" not in k[len(prefix) :] for k in c) for c in candidates
    ):
        return None  # the grid reaches the preprocessing: scikit-learn fits one by one
    X = np.asarray(X) if not hasattr(X, "iloc") else X
    cv = check_cv(search.cv, y, classifier=is_classifier(search.estimator))
    folds = []
    for train, _ in cv.split(X, y, groups):
        Xf = X.iloc[train] if hasattr(X, "iloc") else X[train]
        yf = y.iloc[train] if hasattr(y, "iloc") else np.asarray(y)[train]
        if step is not None:
            Xf = clone(Pipeline(search.estimator.steps[:-1])).fit_transform(Xf, yf)
        folds.append((Xf, yf, train))
    fits, rows = [], []
    for candidate in candidates:
        params = {k[len(prefix) :]: v for k, v in candidate.items()}
        for Xf, yf, train in folds:
            estimator = clone(mlp).set_params(**params)
            if estimator.solver in stochastic.SOLVERS:
                fits.append((estimator, Xf, yf))
                rows.append(train)
    if not fits:
        return None
    seen = fit_population(fits, devices=getattr(search, "devices", None))
    states = {fit_identity(e, r): dict(vars(e)) for (e, _, _), r in zip(fits, rows)}
    return Population(states, np.shape(X), seen, time.perf_counter() - started)


class _Population:
    """What both searches add to scikit-learn's: the population trained first."""

    def population(self, X, y=None, groups=None) -> Population | None:
        """The population this search's ``fit`` trains first (:func:`train_population`), to
        train once and pass to ``fit`` (its ``rows_seen`` and ``seconds`` say what it cost)."""
        return train_population(self, X, y, groups)

    def fit(self, X, y=None, *, groups=None, population=None, **params):
        """scikit-learn's ``fit``, each (candidate, fold) fit taken from ``population``: by
        default the one :meth:`population` trains, when no other fit parameter is given. It
        reaches the estimator's ``fit`` as a fit parameter (with ``rows``, which scikit-learn cuts
        with the folds): through a ``Pipeline``, under metadata routing, and in ``n_jobs``
        processes as in this one."""
        if population is None and not params:
            population = self.population(X, y, groups)
        if population is not None:
            if tuple(population.data_shape) != np.shape(X):
                raise ValueError(
                    f"population was trained on data of shape {tuple(population.data_shape)}; "
                    f"X has shape {np.shape(X)}"
                )
            step = _final(self.estimator)[0]
            prefix = f"{step}__" if step and not get_config()["enable_metadata_routing"] else ""
            rows = np.arange(_num_samples(X))
            params = params | {f"{prefix}population": population, f"{prefix}rows": rows}
        if groups is not None:  # (under metadata routing, passed only when given)
            params["groups"] = groups
        return super().fit(X, y, **params)


DEVICES = {"devices": "no_validation"}  # checked by make_mesh, as jaxmlp.fit checks it


class GridSearchCV(_Population, model_selection.GridSearchCV):
    """scikit-learn's ``GridSearchCV`` (same signature, attributes and results), its jaxmlp MLP
    candidates and folds trained as one population (module docstring). jaxmlp's one extra
    keyword, ``devices`` (a count or a 1-D ``jax.sharding.Mesh``, as ``jaxmlp.fit`` takes it),
    splits the population over several devices, of one process or of several (every process
    running the same search after ``jax.distributed`` starts)."""

    _parameter_constraints = {**model_selection.GridSearchCV._parameter_constraints, **DEVICES}

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        error_score=np.nan,
        return_train_score=False,
        devices=None,
    ):
        super().__init__(
            estimator, param_grid, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
            verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
            return_train_score=return_train_score,
        )  # fmt: skip
        self.devices = devices

    def _candidates(self):
        return list(ParameterGrid(self.param_grid))


class RandomizedSearchCV(_Population, model_selection.RandomizedSearchCV):
    """scikit-learn's ``RandomizedSearchCV``, its candidates and folds trained as one population
    when ``random_state`` is an int (so the candidates drawn here are those it draws); ``devices``
    as :class:`GridSearchCV`'s."""

    _parameter_constraints = {
        **model_selection.RandomizedSearchCV._parameter_constraints,
        **DEVICES,
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        devices=None,
    ):
        super().__init__(
            estimator, param_distributions, n_iter=n_iter, scoring=scoring, n_jobs=n_jobs,
            refit=refit, cv=cv, verbose=verbose, pre_dispatch=pre_dispatch,
            random_state=random_state, error_score=error_score,
            return_train_score=return_train_score,
        )  # fmt: skip
        self.devices = devices

    def _candidates(self):
        if not isinstance(self.random_state, (int, np.integer)):
            return []
        sampler = ParameterSampler(
            self.param_distributions, self.n_iter, random_state=self.random_state
        )
        return list(sampler)
