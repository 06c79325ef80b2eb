"""Data sets: the seed's example, XOR, scikit-learn's 8x8 digits, and the user's files
(CSV, Parquet, ``.npz``: :mod:`jaxmlp.io.file_dataset`), loaded by name with :func:`load`.

Each loader returns a :class:`Dataset` of NumPy arrays (float64 for the built-in
sets, the run's dtype for files; cast to the parameters' dtype by the library) with
the network it is trained with by default. Nothing is downloaded: digits ship
inside scikit-learn.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from jaxmlp.io.dataset import Dataset, standardise, stratified_split
from jaxmlp.io.file_dataset import read_table

__all__ = ["DATASETS", "tutorial", "xor", "digits_arrays", "digits", "load"]

DATASETS = ("tutorial", "xor", "digits", "csv")


def tutorial() -> Dataset:
    """The seed's single example: inputs (0.05, 0.10), targets (0.01, 0.99)."""
    from jaxmlp.worked_example import SEED_LEARNING_RATE, SEED_NET, SEED_X, SEED_Y

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


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the 1,797 images ``(1797, 64)`` float64 and their digits ``(1797,)`` int32, as
    ``sklearn.datasets.load_digits`` returns them.

    Read straight from the file scikit-learn ships (``datasets/data/digits.csv.gz``: 64 pixels
    and the digit per row) with ``numpy.loadtxt``, found without importing scikit-learn, whose
    import would dominate the start-up of ``jaxmlp train digits``; ``load_digits`` itself where the
    file is not there.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ValueError("the digits data set needs scikit-learn: pip install 'jaxmlp[digits]'")
    shipped = [
        Path(p, "datasets", "data", "digits.csv.gz") for p in spec.submodule_search_locations or ()
    ]
    shipped = [p for p in shipped if p.is_file()]
    if shipped:
        with gzip.open(shipped[0], "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
        return table[:, :-1], table[:, -1].astype(np.int32)
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int32)


def digits() -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes): a fixed stratified 75/25
    split (seed 0), standardised with the training part's statistics."""
    x, y = digits_arrays()
    tr, te = stratified_split(y, 0.25, seed=0)
    x_tr, x_te = standardise(x[tr], x[te])
    std = x[tr].std(0)
    preprocessing = {
        "features": [
            {"name": f"pixel_{i}_{j}", "categories": None} for i in range(8) for j in range(8)
        ],
        "mean": x[tr].mean(0).tolist(),
        "std": np.where(std > 0, std, 1.0).tolist(),
        "target": None,
    }
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
        preprocessing,
    )


def load(
    name: str,
    path: str | None = None,
    target: str | None = None,
    task: str | None = None,
    *,
    stream: bool = False,
    **file_options,
) -> Dataset:
    """A data set by name (``csv`` needs ``path`` and ``target``; ``file_options`` go to
    :func:`read_table`, or with ``stream`` to :func:`~jaxmlp.io.parquet_source.stream_dataset`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "csv":
        if not path:
            raise ValueError("the csv data set needs a file: jaxmlp train csv PATH --target COLUMN")
        if not target and Path(path).suffix.lower() == ".npz":
            target = "y"  # an .npz data set is its arrays x and y
        if not target:
            raise ValueError("the csv data set needs --target COLUMN (the column to predict)")
        if stream:
            from jaxmlp.io.parquet_source import stream_dataset

            return stream_dataset(path, target, task, **file_options)
        return read_table(path, target, task, **file_options)
    if path:
        raise ValueError(f"the {name} data set takes no file argument (got {path!r})")
    ds = {"tutorial": tutorial, "xor": xor, "digits": digits}[name]()
    if task is not None and task != ds.task:
        raise ValueError(f"--task {task} does not apply to the {name} data set ({ds.task})")
    return ds
