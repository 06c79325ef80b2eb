"""The user's data files (CSV, Parquet, ``.npz``) as a :class:`~jaxmlp.io.dataset.Dataset`: read by pyarrow (:mod:`jaxmlp.io.tables`), targets checked and encoded, categorical features one-hot encoded, a test file or a held-out fraction, standardised."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxmlp.io.dataset import TASKS, Dataset, stratified_split

__all__ = [
    "CLASSIFICATION_MAX_CLASSES",
    "read_csv",
    "read_table",
    "file_defaults",
    "column_statistics",
    "moments",
    "targets_from_column",
]

CLASSIFICATION_MAX_CLASSES = (
    20  # a numeric target with at most this many integer values is a class label
)


def read_csv(path: str | Path, target: str, task: str | None = None, **options) -> Dataset:
    """A data file (CSV, Parquet or ``.npz``) as a :class:`Dataset`; see :func:`read_table`."""
    return read_table(path, target, task, **options)


def read_table(
    path: str | Path,
    target: str,
    task: str | None = None,
    *,
    delimiter: str | None = None,
    drop_missing: bool = False,
    test: str | Path | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    dtype="float32",
) -> Dataset:
    """A table with a header: ``target`` is the column to predict, every other column a feature.

    Read by pyarrow (:mod:`jaxmlp.io.tables`: CSV with its delimiter detected or given, quoted
    fields, a byte-order mark; Parquet; ``.npz`` with arrays ``x``, ``y``, the target named
    ``y``). Numeric features stay numbers, text features are one-hot encoded (categories
    of the training rows); missing values are an error naming row and column, or dropped
    with ``drop_missing``. The task is classification when the target holds text or at most
    20 distinct integers, else regression (``task`` overrides). The test part is the file
    ``test`` (columns in any order, the same categories and classes), or a ``test_fraction``
    of the rows (stratified for classification), fixed by ``split_seed``; categories are those of
    the whole file (of the training file with ``test``); an empty test part
    leaves ``x_test`` None and says why in ``test_note``. Inputs are standardised with the
    training part's statistics and converted once to ``dtype``.
    """
    from jaxmlp.io import csv_reader, tables

    path = Path(path)
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    table = _complete(tables, path, delimiter, target, drop_missing)
    if table.num_rows < 2:
        raise ValueError(f"{path}: needs at least 2 data rows, got {table.num_rows}")
    features = [c for c in table.column_names if c != target]
    if not features:
        raise ValueError(f"{path}: needs at least one feature column besides the target {target!r}")
    labels, task, classes = targets_from_column(tables, table.column(target), path, target, task)
    note = None
    # Categories come from the whole (training) file, so a rare one that the split puts only in
    # the test rows is still known. Rows are encoded a batch at a time straight to their place:
    # the training rows first (in file order), then the test rows, so that both parts are views
    # of the one array (row numbers in errors stay the file's).
    enc = tables.encoding(table, path, features)
    x_te: np.ndarray | None
    if test is not None:
        test = Path(test)
        test_table = _complete(tables, test, delimiter, target, drop_missing)
        test_labels = targets_from_column(
            tables, test_table.column(target), test, target, task, classes
        )[0]
        x_tr, x_te = (
            tables.encode(table, path, enc, dtype),
            tables.encode(test_table, test, enc, dtype),
        )
        del test_table
    else:
        if task == "classification":
            tr, te = stratified_split(labels, test_fraction, seed=split_seed)
        else:
            idx = np.random.default_rng(split_seed).permutation(len(labels))
            k = int(round(test_fraction * len(labels)))
            te, tr = np.sort(idx[:k]), np.sort(idx[k:])
        if len(tr) == 0:
            raise ValueError(f"{path}: --test-fraction {test_fraction} leaves no training rows")
        n_tr, n_te, n = len(tr), len(te), len(labels)
        test_labels = labels[te] if n_te else None
        labels = labels[tr]
        order = None
        if n_te:  # where each row of the file goes: 4 bytes a row, the split's only copy
            order = np.empty(n, np.int32 if n < 2**31 else np.int64)
            order[tr], order[te] = np.arange(n_tr), n_tr + np.arange(n_te)
        del tr, te
        x = tables.encode(table, path, enc, dtype, order=order)
        x_tr, x_te = x[:n_tr], (x[n_tr:] if n_te else None)
        if not n_te:
            note = (
                f"no test set: --test-fraction {test_fraction} of {n} rows rounds to 0 "
                "(raise it or pass --test FILE)"
            )
        del x, order
    del table
    csv_reader.release_unused()
    mean, std = column_statistics(x_tr)
    std = np.where(std > 0, std, 1).astype(dtype)
    for part in (x_tr, x_te):  # in place: no copies of a large data set
        if part is not None:
            part -= mean
            part /= std
            part.flags.writeable = False  # the device array may share its memory
    n_out = 1 if task == "regression" else len(classes)
    preprocessing = {
        "features": enc.as_dict()["columns"],
        "inputs": list(enc.input_names),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "target": target,
    }
    return Dataset(
        path.name,
        x_tr,
        labels,
        x_te,
        test_labels,
        task,
        n_out,
        file_defaults(x_tr.shape[1], task, n_out),
        classes,
        preprocessing,
        note,
    )


def file_defaults(n_in: int, task: str, n_out: int, **training) -> dict:
    """The network and training defaults of a data file: one hidden layer of 32 tanh units,
    softmax and cross entropy for classes or identity and mse for regression, adam at 0.01 for
    200 full-batch epochs (``training`` overrides)."""
    output = (
        {"output_activation": "identity", "loss": "mse"}
        if task == "regression"
        else {"output_activation": "softmax", "loss": "cross_entropy"}
    )
    return {
        "sizes": (n_in, 32, n_out),
        "activation": "tanh",
        "bias": "per_neuron",
        "train_bias": True,
        "optimizer": "adam",
        "learning_rate": 1e-2,
        "epochs": 200,
        "batch_size": None,
        **output,
        **training,
    }


def _complete(tables, path, delimiter, target: str, drop_missing: bool):
    """The file's columns (:func:`~jaxmlp.io.tables.open_columns`) with the target checked and the
    missing values refused, or the whole table with its incomplete rows dropped."""
    if drop_missing:
        table = tables.read(path, delimiter=delimiter)
        tables.check_target(table, path, target)
        return tables.drop_missing(table)
    source = tables.open_columns(path, delimiter=delimiter)
    tables.check_target(source, path, target)
    tables.check_complete(source, path)
    return source


def column_statistics(x: np.ndarray, block_bytes: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    r"""The mean and (population) standard deviation of each column of ``x`` ``(n, d)``, in
    ``x``'s dtype: :math:`\mu = \frac1n \sum_i x_i`, :math:`\sigma^2 = \frac1n \sum_i (x_i - \mu)^2`
    (:func:`moments`)."""
    n, mean, m2 = moments(x, block_bytes)
    return mean.astype(x.dtype), np.sqrt(m2 / n).astype(x.dtype)


def moments(x: np.ndarray, block_bytes: int = 1 << 20) -> tuple[int, np.ndarray, np.ndarray]:
    r"""``(n, mean, M2)`` of the columns of ``x`` ``(n, d)`` in float64: the mean and
    :math:`M_2 = \sum_i (x_i - \mu)^2`, two passes over blocks of rows (about ``block_bytes`` of
    float64 each) with float64 sums (the variance is :math:`M_2 / n`)."""
    n, block = x.shape[0], max(1, block_bytes // (8 * x.shape[1]))
    total = np.zeros(x.shape[1])
    for i in range(0, n, block):
        total += x[i : i + block].sum(0, dtype=np.float64)
    mean = total / max(n, 1)
    squares = np.zeros(x.shape[1])
    for i in range(0, n, block):
        squares += np.square(x[i : i + block] - mean).sum(0)
    return n, mean, squares


def targets_from_column(
    tables, column, path, target: str, task: str | None, classes=None, first: int = 0
):
    """``(labels, task, classes)``: int32 class indices ``(n,)`` or float regression targets
    ``(n, 1)`` (the column's cells are the file's data rows from ``first`` on)."""
    text = tables.is_text(column)
    values = None
    if text and task == "regression":
        tables.check_numbers(column, path, target)
        raise ValueError(f"{path}, column {target!r}: --task regression needs numbers, got text")
    if not text:
        values = column.to_numpy().astype(np.float64)
        tables.check_finite(values, path, target, first)
    if task is None:
        integral = values is not None and np.all(values == np.round(values))
        small = values is not None and len(np.unique(values)) <= CLASSIFICATION_MAX_CLASSES
        task = "classification" if text or (integral and small) else "regression"
    if task == "regression":
        assert values is not None  # text targets were refused above
        return values[:, None], task, ()
    # Each distinct value is named once (its text, or f"{v:g}"), and rows are labelled through
    # their value's index: no Python object per row.
    if text:
        import pyarrow as pa
        import pyarrow.compute as pc

        names = sorted(str(v) for v in pc.unique(column).to_pylist())
        codes = pc.index_in(column, value_set=pa.array(names)).to_numpy(zero_copy_only=False)
    else:
        assert values is not None
        distinct, codes = np.unique(values, return_inverse=True)
        names = [f"{v:g}" for v in distinct]
    if classes is None:
        order = sorted(set(names), key=float) if not text else sorted(set(names))
        classes = tuple(str(c) for c in order)
        if len(classes) < 2:
            raise ValueError(
                f"{path}: classification needs at least 2 classes in {target!r}, got {len(classes)}"
            )
    lookup = {c: i for i, c in enumerate(classes)}
    labels = np.asarray([lookup.get(v, -1) for v in names], np.int32)[codes.astype(np.int64)]
    if (labels < 0).any():
        row = int(np.argmax(labels < 0))
        raise ValueError(
            f"{tables.cell(path, first + row, target)}: class {names[int(codes[row])]!r} "
            f"does not occur in the training data ({', '.join(classes)})"
        )
    return labels, task, classes
