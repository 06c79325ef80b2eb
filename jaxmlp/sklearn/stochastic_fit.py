"""scikit-learn's ``sgd`` and ``adam`` solvers for one estimator: the run prepared on the host
(solver state, early-stopping split, batch size, hyperparameters as data), the compiled epochs of
:func:`jaxmlp.training.stochastic.run_epochs`, and the records read back as scikit-learn's
attributes (``loss_curve_``, ``validation_scores_``, ``n_iter_``, ``t_``, verbose lines).

Each function takes the estimator ``est`` first and reads and writes its scikit-learn attributes;
a search's population (:mod:`jaxmlp.sklearn.search`) calls :func:`prepare`, :func:`orders`,
:func:`record` and :func:`finish` for each of its members around one shared compiled call."""

from __future__ import annotations

import warnings

import jax
import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from jaxmlp.sklearn.problem import (
    SolverState,
    Start,
    cohort,
    epochs_per_call,
    from_params,
    to_params,
)
from jaxmlp.training import engine, stochastic

__all__ = ["run", "prepare", "orders", "finish", "record"]


def run(est, net, params, X, t, w, incremental: bool):
    """Train ``est`` on ``(X, t, w)`` from ``params`` (one epoch for ``partial_fit``, else up to
    ``max_iter``), one compiled call per :func:`~jaxmlp.sklearn.problem.epochs_per_call` epochs;
    returns the parameters to keep."""
    start = prepare(est, net, params, X, t, w, incremental)
    data = (X, t, w)
    state = cohort(start.state)  # a cohort of one
    rules = cohort(start.rules)

    def call(wanted):
        nonlocal state
        perms = orders(est, start, int(wanted[0]))
        *state, records, ran, now = stochastic.run_epochs(
            start.solver, rules, *state, data, start.rows, perms, wanted
        )
        records = jax.tree_util.tree_map(lambda a: a[:, 0], jax.device_get(records))
        record(est, records, int(ran[0]), int(start.rows.n_train))
        return np.asarray(ran), np.asarray(now)

    _, ended = engine.run_calls(call, [start.left], start.solver.epochs)
    stopped = bool(ended[0])
    # the cohort of one, taken apart on the host: an index on the device compiles a program
    params, moments, progress = jax.tree_util.tree_map(
        lambda a: np.asarray(a)[0], jax.device_get(tuple(state))
    )
    return finish(est, start, params, moments, progress, stopped, incremental)


def prepare(est, net, params, X, t, w, incremental: bool) -> Start:
    """Everything a stochastic run needs before its first compiled call: the solver's state
    (fresh unless ``partial_fit`` continues), the early-stopping split (as row indices, drawn
    as scikit-learn draws it), the batch size, the static :class:`~stochastic.Solver`, the
    hyperparameters as data and the stopping rules' state."""
    dtype = X.dtype
    previous = getattr(est, "_optimizer", None)
    if not incremental or previous is None or previous.solver != est.solver:
        zeros = jax.tree_util.tree_map(np.zeros_like, params)
        est._optimizer = SolverState(
            est.solver,
            float(est.learning_rate_init),
            zeros,
            zeros if est.solver == "adam" else (),
            0,
        )
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    rows = _rows(est, X, t)
    n = int(rows.n_train)
    batch = _batch(est, n)
    epochs = 1 if incremental else epochs_per_call(est.max_iter, n, est.shuffle)
    solver = stochastic.Solver(
        net,
        est.solver,
        est.learning_rate,
        bool(est.nesterovs_momentum),
        batch,
        bool(est.early_stopping),
        est._score_kind(),
        est.grad,
        bool(est.shuffle),
        epochs,
    )
    values = (
        est.learning_rate_init,
        est.alpha,
        est.power_t,
        est.momentum,
        est.beta_1,
        est.beta_2,
        est.epsilon,
        est.tol,
        est.n_iter_no_change,
        est.weight_decay,
    )
    rules = stochastic.Rules(*(np.asarray(v, dtype) for v in values))
    state = est._optimizer
    moments = stochastic.Moments(
        state.first,
        state.second,
        np.asarray(state.updates, np.int32),
        np.asarray(state.learning_rate, dtype),
    )
    progress = _progress(est, params, dtype)
    est.n_iter_ = 0
    est._order = np.arange(n)
    left = 1 if incremental else est.max_iter
    return Start(solver, rules, rows, (params, moments, progress), left)


def _rows(est, X, t) -> stochastic.Subset:
    """The training rows, and with early stopping the validation rows split off as
    scikit-learn splits them (``train_test_split``, stratified for one output of classes)."""
    if not est.early_stopping:
        return stochastic.subset(np.arange(X.shape[0]))
    stratify = t.astype(bool) if is_classifier(est) and est.n_outputs_ == 1 else None
    train, valid = train_test_split(
        np.arange(X.shape[0]),
        random_state=est._random_state,
        test_size=est.validation_fraction,
        stratify=stratify,
    )
    if len(valid) < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' or the "
            "size of your dataset."
        )
    return stochastic.subset(train, valid)


def _batch(est, n: int) -> int:
    """scikit-learn's batch size of ``n`` training rows: ``min(200, n)`` for ``"auto"``, else
    the given size clipped to ``[1, n]`` (with scikit-learn's warning)."""
    if est.batch_size == "auto":
        return min(200, n)
    if est.batch_size > n:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
            stacklevel=5,
        )
    return int(np.clip(est.batch_size, 1, n))


def _progress(est, params, dtype) -> stochastic.Progress:
    """The stopping rules' state: fresh, or where ``partial_fit`` or ``warm_start`` left it
    (rows seen, best loss and score, epochs without improvement, best parameters)."""
    best = params
    if est.early_stopping:
        best = to_params(est._best_coefs, est._best_intercepts, dtype)
    best_loss = getattr(est, "best_loss_", None)
    best_score = getattr(est, "best_validation_score_", None)
    return stochastic.Progress(
        np.asarray(est.t_, dtype),
        np.asarray(np.inf if best_loss is None else best_loss, dtype),
        np.asarray(-np.inf if best_score is None else best_score, dtype),
        np.asarray(getattr(est, "_no_improvement_count", 0), np.int32),
        best,
    )


def orders(est, start: Start, wanted: int) -> np.ndarray | None:
    """The next ``wanted`` epochs' orders ``(solver.epochs, n)`` (the rest zero), each a
    shuffle of the last as scikit-learn's ``shuffle(sample_idx, random_state)``; None
    without ``shuffle``."""
    if not est.shuffle:
        return None
    n = len(est._order)
    perms = np.zeros((start.solver.epochs, n), np.int32)
    for e in range(wanted):
        est._order = est._order[est._random_state.permutation(n)]
        perms[e] = est._order
    return perms


def finish(est, start, params, moments, progress, stopped, incremental):
    """The solver's and the rules' state back on the host as scikit-learn's attributes; the
    convergence warning; the parameters to keep (the best with early stopping)."""
    est._optimizer = SolverState(
        est.solver,
        float(moments.learning_rate),
        jax.device_get(moments.first),
        jax.device_get(moments.second),
        int(moments.updates),
    )
    est._no_improvement_count = int(progress.stale)
    if est.early_stopping:
        est.best_validation_score_ = float(progress.best_score)
        est._best_coefs, est._best_intercepts = from_params(progress.best_params)
    else:
        est.best_loss_ = float(progress.best_loss)
    if not stopped and not incremental and est.n_iter_ == est.max_iter:
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return progress.best_params if est.early_stopping else params


def record(est, records, ran: int, n: int):
    """The epochs' records as scikit-learn's attributes, and its verbose lines."""
    for e in range(ran):
        est.n_iter_ += 1
        est.t_ += n
        est.loss_ = float(records.loss[e])
        est.loss_curve_ = [*getattr(est, "loss_curve_", []), est.loss_]
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if est.early_stopping:
            est.validation_scores_.append(float(records.score[e]))
            est.validation_losses_.append(float(records.validation_loss[e]))
            if est.verbose:
                print(f"Validation score: {est.validation_scores_[-1]:f}")
        event = int(records.event[e])
        if est.verbose and event != stochastic.NOTHING:
            what = "Validation score" if est.early_stopping else "Training loss"
            message = (
                f"{what} did not improve more than tol={est.tol:f} for "
                f"{est.n_iter_no_change} consecutive epochs."
            )
            if event == stochastic.LEARNING_RATE_DIVIDED:
                print(f"{message} Setting learning rate to {float(records.learning_rate[e]):f}")
            elif event == stochastic.LEARNING_RATE_TOO_SMALL:
                print(f"{message} Learning rate too small. Stopping.")
            else:
                print(f"{message} Stopping.")
