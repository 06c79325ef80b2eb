"""Classification and regression metrics on the host, and targets as the losses take them.

One rule for a predicted class everywhere (:mod:`jaxmlp.evaluation`, :mod:`jaxmlp.io.prediction`,
the CLI's summaries and reports): the argmax of the outputs, or ``out > 0.5`` for a single
(logistic) output.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxmlp.mlp import MLP
from jaxmlp.validation import on_device

__all__ = [
    "PROBABILITY_FLOOR",
    "predicted_class",
    "accuracy",
    "confusion_matrix",
    "true_class_probability",
    "loss_targets",
]

PROBABILITY_FLOOR = 1e-15  # the log loss of a probability 0 is counted as that of this one


def predicted_class(out: np.ndarray) -> np.ndarray:
    """Class indices from outputs ``(..., n_out)``: argmax, or threshold 0.5 for one output."""
    out = np.asarray(out)
    return (out[..., 0] > 0.5).astype(int) if out.shape[-1] == 1 else out.argmax(-1)


def accuracy(out: np.ndarray, labels: np.ndarray) -> np.ndarray | float:
    """The fraction of rows whose :func:`predicted_class` is the label (over the last axis of
    rows: outputs ``(..., n, n_out)`` give ``(...)``)."""
    correct = predicted_class(out) == np.asarray(labels).reshape(-1).astype(int)
    return correct.mean(-1)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(n_classes, n_classes)`` of (true class, predicted class)."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(labels).reshape(-1).astype(int), np.asarray(predicted)), 1)
    return m


def true_class_probability(out: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The probability ``(n,)`` that outputs ``(n, n_out)`` give each row's true class (softmax
    rows, or one logistic output: ``p`` for class 1, ``1 - p`` for class 0), at least
    :data:`PROBABILITY_FLOOR`."""
    out = np.asarray(out, np.float64)
    labels = np.asarray(labels).reshape(-1).astype(int)
    if out.shape[-1] == 1:
        p = np.where(labels == 1, out[:, 0], 1 - out[:, 0])
    else:
        p = out[np.arange(len(labels)), labels]
    return np.clip(p, PROBABILITY_FLOOR, 1.0)


def loss_targets(net: MLP, y: np.ndarray, dtype) -> jax.Array:
    """A data set's targets as the network's loss takes them: class labels stay labels for
    cross entropy and become one-hot rows for a loss on ``n_out > 1`` outputs (mse on digits)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        if net.loss == "cross_entropy":
            return on_device(y)
        if y.ndim == 1 and net.sizes[-1] > 1:
            return on_device(np.eye(net.sizes[-1])[y], dtype)
    return on_device(y, dtype)
