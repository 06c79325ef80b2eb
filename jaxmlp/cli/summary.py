"""What a training run reports: predictions, accuracy, losses on each part of the data, the confusion matrix, and the summaries of the gradient check and of the validation set."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import metrics
from jaxmlp.cli.run_config import RunConfig
from jaxmlp.config import MLP
from jaxmlp.forward import apply
from jaxmlp.train import (
    FitResult,
    compiled_loss,
)


def accuracy(net: MLP, ds_task: str, params, x: np.ndarray, y: np.ndarray) -> float | None:
    """Fraction classified right (:func:`jaxmlp.metrics.accuracy`); None for regression."""
    if ds_task != "classification":
        return None
    return float(metrics.accuracy(predictions(net, params, x), y))


def predictions(net: MLP, params, x: np.ndarray) -> np.ndarray:
    """The network's outputs for ``x`` ``(n, n_in)``, as NumPy."""
    return np.asarray(_apply_jit(net, params, jnp.asarray(x, _dtype(params))))


_apply_jit = jax.jit(apply, static_argnums=0)


def _dtype(params):
    return jax.tree_util.tree_leaves(params)[0].dtype


targets = metrics.loss_targets  # what the CLI's runs call it


def dataset_loss(net: MLP, params, x, y) -> float:
    """The batch loss of ``params`` on a whole data set part (targets as :func:`targets` makes them)."""
    dtype = _dtype(params)
    return float(compiled_loss(net, params, jnp.asarray(x, dtype), targets(net, y, dtype)))


def check_summary(report) -> dict | None:
    """A :class:`~jaxmlp.gradcheck.GradCheckReport` as JSON-ready fields (None stays None)."""
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
        best = (
            result.validation_steps.tolist().index(result.best_step)
            if result.best_step is not None
            else None
        )
        out["validation_loss"] = None if best is None else finite(result.validation_losses[best])
        out["validation_losses"] = [
            [int(s), finite(v)] for s, v in zip(result.validation_steps, result.validation_losses)
        ]
    return out


def confusion(net: MLP, params, x, y, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) of ``params`` on ``(x, y)``."""
    pred = metrics.predicted_class(predictions(net, params, x))
    return metrics.confusion_matrix(y, pred, n_classes)
