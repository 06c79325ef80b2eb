"""What a training run reports: predictions, accuracy, losses on each part of the data, the confusion matrix, and the summaries of the gradient check and of the validation set."""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from jaxmlp import metrics, programs
from jaxmlp.cli.run_config import RunConfig
from jaxmlp.evaluation import ROWS, Totals, evaluate_batches, gives_probabilities
from jaxmlp.forward import apply, loss_fn
from jaxmlp.io.dataset import Dataset
from jaxmlp.mlp import MLP
from jaxmlp.training import parallel
from jaxmlp.training.result import FitResult
from jaxmlp.validation import on_device

__all__ = [
    "scores_of",
    "part_metrics",
    "accuracy",
    "predictions",
    "targets",
    "evaluation",
    "dataset_loss",
    "check_summary",
    "validation_summary",
    "confusion",
    "SCORES",
    "score_lines",
]


def accuracy(net: MLP, ds_task: str, params, x: np.ndarray, y: np.ndarray) -> float | None:
    """Fraction classified right (:func:`jaxmlp.metrics.accuracy`); None for regression."""
    if ds_task != "classification":
        return None
    return float(metrics.accuracy(evaluation(net, params, x, y)[1], y))


def predictions(net: MLP, params, x: np.ndarray) -> np.ndarray:
    """The network's outputs for ``x`` ``(n, n_in)``, as NumPy."""
    return np.asarray(_apply_jit(net, params, on_device(x, _dtype(params))))


_apply_jit = programs.jit(apply, static_argnums=0)


def _dtype(params):
    return jax.tree_util.tree_leaves(params)[0].dtype


targets = metrics.loss_targets  # what the CLI's runs call it


def evaluation(net: MLP, params, x, y) -> tuple[float, np.ndarray]:
    """``(E, outputs)``: the batch loss of ``params`` on a whole data set part (targets as
    :func:`targets` makes them) and the outputs ``(n, n_out)``, from one compiled program per
    shape (a loss and an accuracy on the training and test parts were four to compile)."""
    loss, out = _evaluated(net, params, x, y)
    return float(loss), np.asarray(out)


def _evaluated(net: MLP, params, x, y):
    dtype = _dtype(params)
    return _evaluate(net, params, on_device(x, dtype), targets(net, y, dtype))


@functools.partial(programs.jit, static_argnums=0)
def _evaluate(net: MLP, params, x, t):
    return loss_fn(net, params, x, t), apply(net, params, x)


def dataset_loss(net: MLP, params, x, y) -> float:
    """The batch loss of ``params`` on a whole data set part (:func:`evaluation`'s program; the
    outputs stay on the device: the test curve reads this after every chunk)."""
    return float(_evaluated(net, params, x, y)[0])


def check_summary(report) -> dict | None:
    """A :class:`~jaxmlp.checks.gradient_check.GradCheckReport` as JSON-ready fields (None stays None)."""
    if report is None:
        return None
    return {
        "passed": report.passed,
        "max_abs_error": report.max_abs_error,
        "max_rel_error": report.max_rel_error,
        "rtol": report.rtol,
    }


def validation_summary(result: FitResult, cfg: RunConfig) -> dict[str, Any]:
    """The run's gradient check (worst errors) and validation losses as JSON-ready fields."""
    out: dict[str, Any] = {}
    if cfg.grad == "backprop":
        out["gradient_check"] = check_summary(result.gradient_check)
    if result.validation_losses is not None:
        finite = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731 (JSON has no NaN)
        out["validation_fraction"] = cfg.validation_fraction
        out["patience"] = cfg.patience
        out["best_step"] = result.best_step
        steps = np.asarray(result.validation_steps)
        best = steps.tolist().index(result.best_step) if result.best_step is not None else None
        out["validation_loss"] = None if best is None else finite(result.validation_losses[best])
        out["validation_losses"] = [
            [int(s), finite(v)] for s, v in zip(steps, np.asarray(result.validation_losses))
        ]
    return out


def confusion(net: MLP, params, x, y, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) of ``params`` on ``(x, y)``."""
    pred = metrics.predicted_class(evaluation(net, params, x, y)[1])
    return metrics.confusion_matrix(y, pred, n_classes)


SCORES = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "log_loss": "log loss",
    "r2": "R^2",
    "rmse": "RMSE",
    "mae": "MAE",
}


def score_lines(scores: dict | None, title: str, width: int) -> list[str]:
    """The scores (accuracy, balanced accuracy and log loss, or R^2, RMSE and MAE) on one line
    and the trivial baseline's beside them on the next (none without scores)."""
    if not scores:
        return []

    def line(values: dict) -> str:
        return ", ".join(
            f"{name} {values[key]:.4g}"
            for key, name in SCORES.items()
            if values.get(key) is not None
        )

    lines = [f"{title:<{width}} {line(scores)}"]
    if scores.get("baseline"):
        base = scores["baseline"]
        lines.append(f"{'trivial baseline':<{width}} {line(base)} ({base['rule']})")
    return lines


def part_metrics(
    ds: Dataset, net: MLP, params, part: str, reference: dict | None = None
) -> tuple[float, float | None, dict, dict]:
    """``(loss, accuracy, scores, reference)`` of ``params`` on the training or test part
    (accuracy None for regression; scores: :meth:`jaxmlp.evaluation.Totals.result` without the
    confusion matrix, with the trivial baseline of ``reference``, or of the part's own rows when
    None, the reference returned): in one call on the arrays, or a batch at a time from a stream."""
    n_classes = net.sizes[-1] if net.sizes[-1] > 1 else 2
    if ds.source is None:
        x, y = (ds.x_train, ds.y_train) if part == "train" else (ds.x_test, ds.y_test)
        assert x is not None and y is not None  # the test part is asked for only if present
        if reference is None:
            reference = Totals.reference_of(ds.task, y, n_classes)
        totals = Totals(
            ds.task, n_classes, probabilities=gives_probabilities(net), reference=reference
        )
        loss, out = evaluation(net, params, x, y)
        totals.add(y, out, np.zeros(len(out)))
        return loss, totals.accuracy, scores_of(totals.result()), reference  # one evaluation
    source, processes = ds.source, jax.process_count()
    if processes > 1:  # each process its own shard, the sums added
        source = source.shard(jax.process_index(), processes)
    rows = source.num_rows if part == "train" else source.test_rows
    batches = source.batches(part, ROWS)
    totals = evaluate_batches(net, params, batches, ds.task, total=rows, reference=reference)
    if processes > 1:
        everyone = parallel.all_processes(totals.as_vector())
        totals = Totals.summed(
            totals.task, totals.n_classes, everyone, totals.probabilities, reference
        )
    unknown_mae = False
    if reference is None:  # the training part: its own rows are the baseline's, known after it
        totals.reference = totals.own_reference()
        if ds.task == "regression":  # sum (t - mean)^2 is M2; sum |t - mean| would need a pass
            totals.base_squares = max(totals.as_vector()[5], 0.0)
            unknown_mae = True
    scores = scores_of(totals.result())
    if unknown_mae:
        scores["baseline"]["mae"] = None
    assert totals.reference is not None
    return totals.mean_loss, totals.accuracy, scores, totals.reference


def _scores(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("confusion_matrix", "task", "loss")}


def scores_of(result: dict) -> dict:
    """:meth:`jaxmlp.evaluation.Totals.result` without the confusion matrix, task and loss."""
    return {k: v for k, v in result.items() if k not in ("confusion_matrix", "task", "loss")}
