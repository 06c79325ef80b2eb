"""``Dataset``: the arrays and defaults of one data set, and the splits and scaling every loader shares."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["TASKS", "Dataset", "standardise", "stratified_split"]

TASKS = ("classification", "regression")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays and defaults of one data set.

    ``x_*``: ``(n, n_features)`` float64 (cast to the run's dtype). ``y_*``: integer labels ``(n,)`` for
    multi-class classification, ``(n, n_outputs)`` floats otherwise (0/1 for
    binary classification with one logistic output). ``x_test`` is None when
    the data set has no held-out part (``test_note`` says why when one was asked
    for). ``defaults`` are keyword arguments of :class:`jaxmlp.MLP` (``sizes``
    included) and of training. ``preprocessing`` (files only): the feature columns
    and their encoding, the network's input names, and the standardisation.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    task: str
    n_outputs: int
    defaults: dict
    class_names: tuple = ()
    preprocessing: dict | None = None
    test_note: str | None = None
    source: Any = None  # streamed: a ParquetSource in place of the arrays (then all None)

    @property
    def n_features(self) -> int:
        """Input width of the data: ``x_train.shape[1]``."""
        return self.x_train.shape[1] if self.source is None else self.source.n_features

    @property
    def n_train(self) -> int:
        """Training examples: ``x_train.shape[0]``, or the stream's training rows."""
        return self.x_train.shape[0] if self.source is None else self.source.num_rows


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x - mean) / std`` with the training part's statistics (constant columns: std 1)."""
    mean = train.mean(0)
    std = train.std(0)
    std = np.where(std > 0, std, 1.0)
    return ((train - mean) / std).astype(np.float64), ((test - mean) / std).astype(np.float64)


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with each class split in the same proportion (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
