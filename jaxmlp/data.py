"""Data sets: the seed's example, XOR, scikit-learn's 8x8 digits, and the user's CSV files.

Each loader returns a :class:`Dataset` of float64 NumPy arrays (cast to the
parameters' dtype by the library) with the network it is trained with by
default. Nothing is downloaded: digits ship inside scikit-learn.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

DATASETS = ("tutorial", "xor", "digits", "csv")
TASKS = ("classification", "regression")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays and defaults of one data set.

    ``x_*``: ``(n, n_features)`` float64 (cast to the run's dtype). ``y_*``: integer labels ``(n,)`` for
    multi-class classification, ``(n, n_outputs)`` floats otherwise (0/1 for
    binary classification with one logistic output). ``x_test`` is None when
    the data set has no held-out part. ``defaults`` are keyword arguments of
    :class:`jaxmlp.MLP` (``sizes`` included) and of training.
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

    @property
    def n_features(self) -> int:
        """Input width of the data: ``x_train.shape[1]``."""
        return self.x_train.shape[1]


def tutorial() -> Dataset:
    """The seed's single example: inputs (0.05, 0.10), targets (0.01, 0.99)."""
    from jaxmlp.seed import SEED_LEARNING_RATE, SEED_NET, SEED_X, SEED_Y

    net = dataclasses.asdict(SEED_NET)
    return Dataset(
        "tutorial",
        np.asarray([SEED_X], np.float64),
        np.asarray([SEED_Y], np.float64),
        None,
        None,
        "regression",
        2,
        {
            **net,
            "optimizer": "none",
            "learning_rate": SEED_LEARNING_RATE,
            "steps": 10_000,
            "batch_size": None,
        },
    )


def xor() -> Dataset:
    """The four XOR cases; one logistic output, right when it falls on the target's side of 0.5."""
    x = np.asarray([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    y = np.asarray([[0], [1], [1], [0]], np.float64)
    return Dataset(
        "xor",
        x,
        y,
        None,
        None,
        "classification",
        1,
        {
            "sizes": (2, 5, 1),
            "activation": "logistic",
            "output_activation": "logistic",
            "loss": "half_sse",
            "bias": "per_neuron",
            "train_bias": True,
            "optimizer": "none",
            "learning_rate": 2.0,
            "steps": 20_000,
            "batch_size": None,
        },
        ("0", "1"),
    )


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


def digits() -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes): a fixed stratified 75/25
    split (seed 0), standardised with the training part's statistics."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError(
            "the digits data set needs scikit-learn: pip install 'jaxmlp[digits]'"
        ) from None
    d = load_digits()
    x, y = d.data.astype(np.float64), d.target.astype(np.int32)
    tr, te = stratified_split(y, 0.25, seed=0)
    x_tr, x_te = standardise(x[tr], x[te])
    return Dataset(
        "digits",
        x_tr,
        y[tr],
        x_te,
        y[te],
        "classification",
        10,
        {
            "sizes": (64, 256, 10),
            "activation": "relu",
            "output_activation": "softmax",
            "loss": "cross_entropy",
            "bias": "per_neuron",
            "train_bias": True,
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "epochs": 100,
            "batch_size": 64,
        },
        tuple(str(i) for i in range(10)),
    )


def _number(cell: str) -> float:
    v = float(cell)
    if not math.isfinite(v):
        raise ValueError
    return v


def read_csv(path: str | Path, target: str, task: str | None = None) -> Dataset:
    """A CSV file with a header row: every column but ``target`` is a numeric feature.

    The task is classification when the target holds text labels, or at most
    20 distinct integers; otherwise regression (``task`` overrides). A fixed
    80/20 split (stratified for classification, seed 0) is standardised with
    the training part's statistics. Errors name the line and column.
    """
    path = Path(path)
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a text CSV file: {e.reason}") from None
    if not rows or not rows[0]:
        raise ValueError(f"{path} is empty: expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise ValueError(
            f"{path}: no target column {target!r}; the columns are {', '.join(header)}"
        )
    t_col = header.index(target)
    features, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {line}: {len(row)} fields, but the header has {len(header)}"
            )
        feats = []
        for j, cell in enumerate(row):
            if j == t_col:
                continue
            try:
                feats.append(_number(cell))
            except ValueError:
                raise ValueError(
                    f"{path}, line {line}, column {header[j]!r}: {cell!r} is not a finite number"
                ) from None
        features.append(feats)
        labels.append(row[t_col].strip())
    if len(features) < 2:
        raise ValueError(f"{path}: needs at least 2 data rows, got {len(features)}")
    x = np.asarray(features, np.float64).reshape(len(features), len(header) - 1)
    if x.shape[1] == 0:
        raise ValueError(f"{path}: needs at least one feature column besides the target {target!r}")
    numeric = []
    for v in labels:
        try:
            numeric.append(_number(v))
        except ValueError:
            numeric = None
            break
    if task is None:
        task = (
            "classification"
            if numeric is None
            or (all(float(v).is_integer() for v in numeric) and len(set(numeric)) <= 20)
            else "regression"
        )
    if task == "regression":
        if numeric is None:
            bad = next((i, v) for i, v in enumerate(labels, start=2) if not _is_number(v))
            raise ValueError(
                f"{path}, line {bad[0]}, column {target!r}: {bad[1]!r} is not a number, and --task regression needs numbers"
            )
        y = np.asarray(numeric, np.float64)[:, None]
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(y))
        k = max(1, int(round(0.2 * len(y))))
        te, tr = np.sort(idx[:k]), np.sort(idx[k:])
        classes, n_out = (), 1
        defaults = {"output_activation": "identity", "loss": "mse"}
    else:
        classes = tuple(
            sorted(set(labels), key=lambda v: (float(v) if numeric is not None else 0, v))
        )
        if len(classes) < 2:
            raise ValueError(
                f"{path}: classification needs at least 2 classes in {target!r}, got {len(classes)}"
            )
        y = np.asarray([classes.index(v) for v in labels], np.int32)
        tr, te = stratified_split(y, 0.2, seed=0)
        n_out = len(classes)
        defaults = {"output_activation": "softmax", "loss": "cross_entropy"}
    x_tr, x_te = standardise(x[tr], x[te])
    return Dataset(
        path.name,
        x_tr,
        y[tr],
        x_te,
        y[te],
        task,
        n_out,
        {
            "sizes": (x.shape[1], 32, n_out),
            "activation": "tanh",
            "bias": "per_neuron",
            "train_bias": True,
            "optimizer": "adam",
            "learning_rate": 1e-2,
            "epochs": 200,
            "batch_size": None,
            **defaults,
        },
        classes,
    )


def _is_number(v: str) -> bool:
    try:
        _number(v)
        return True
    except ValueError:
        return False


def load(
    name: str, path: str | None = None, target: str | None = None, task: str | None = None
) -> Dataset:
    """A data set by name (``csv`` needs ``path`` and ``target``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "csv":
        if not path:
            raise ValueError("the csv data set needs a file: jaxmlp train csv PATH --target COLUMN")
        if not target:
            raise ValueError("the csv data set needs --target COLUMN (the column to predict)")
        return read_csv(path, target, task)
    if path:
        raise ValueError(f"the {name} data set takes no file argument (got {path!r})")
    ds = {"tutorial": tutorial, "xor": xor, "digits": digits}[name]()
    if task is not None and task != ds.task:
        raise ValueError(f"--task {task} does not apply to the {name} data set ({ds.task})")
    return ds
