"""The user's data files (CSV, Parquet, ``.npz``) as a :class:`~jaxmlp.io.dataset.Dataset`: read by pyarrow (:mod:`jaxmlp.io.tables`), targets checked and encoded, categorical features one-hot encoded, a test file or a held-out fraction, standardised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxmlp.io.dataset import TASKS, Dataset, stratified_split

__all__ = [
    "CLASSIFICATION_MAX_CLASSES",
    "read_csv",
    "read_table",
    "RECIPE",
    "file_defaults",
    "MISSING",
    "SCALINGS",
    "ID_MIN_ROWS",
    "scaling_statistics",
    "left_out_columns",
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


MISSING = ("impute", "drop", "error")
SCALINGS = ("robust", "standard")
ID_MIN_ROWS = 20  # fewer rows than this: every value distinct says nothing about ids


def read_table(
    path: str | Path,
    target: str,
    task: str | None = None,
    *,
    delimiter: str | None = None,
    drop_missing: bool = False,
    missing: str = "impute",
    ignore: tuple[str, ...] | list[str] = (),
    scaling: str = "standard",
    test: str | Path | None = None,
    test_fraction: float = 0.0,
    split_seed: int = 0,
    dtype="float32",
) -> Dataset:
    r"""A table with a header: ``target`` is the column to predict, every other column a feature.

    Read by pyarrow (:mod:`jaxmlp.io.tables`: CSV with its delimiter detected or given, quoted
    fields, a byte-order mark; Parquet; ``.npz`` with arrays ``x``, ``y``, the target named
    ``y``). The task is classification when the target holds text or at most 20 distinct
    integers, else regression (``task`` overrides).

    Columns: those named in ``ignore``, those with a single value and row ids (text, or
    the row numbers 0..n-1 or 1..n) are left out, each with its reason in
    ``preprocessing["left_out"]``. Numeric features stay numbers, text features are one-hot
    encoded (categories of the whole training file, so a rare one the split puts only in the
    test rows is known). Rows whose target is missing are left out (how many:
    ``preprocessing["rows_left_out"]``). A missing feature value (empty, null, NaN), by
    ``missing``: ``"impute"`` — numbers take the training rows' median, and every column with a
    missing value gets an indicator input; ``"drop"`` (or ``drop_missing``) — the row is left
    out; ``"error"`` — refused naming row and column.

    Scaling, with statistics of the training rows only: the inputs of a text column (its one-hot
    levels and its indicator) stay 0 or 1; ``"standard"`` — every other input
    :math:`(x - \mu) / \sigma`; ``"robust"`` — a numeric input
    :math:`z = (x - \mathrm{median}) / s` with :math:`s = \mathrm{IQR} / 1.349` (the standard
    deviation for normal data; the standard deviation where the IQR is 0), then smoothly clipped,
    :math:`z / \sqrt{1 + (z/3)^2}`, a number's indicator standardised. Constant inputs
    keep scale 1.

    The test part is the file ``test`` (columns in any order, the same categories and classes),
    or a ``test_fraction`` of the rows (stratified for classification), fixed by
    ``split_seed``; an empty test part leaves ``x_test`` None and says why in ``test_note``.
    Inputs are converted once to ``dtype``.
    """
    from jaxmlp.io import csv_reader, tables

    path = Path(path)
    missing = _check_options(task, test_fraction, "drop" if drop_missing else missing, scaling)
    table, rows_note = _complete(tables, path, delimiter, target, missing)
    if table.num_rows < 2:
        raise ValueError(f"{path}: needs at least 2 data rows with a target, got {table.num_rows}")
    features, left_out = _feature_columns(table, path, target, list(ignore))
    labels, task, classes = targets_from_column(tables, table.column(target), path, target, task)
    if task == "regression" and np.ptp(labels) == 0:
        raise ValueError(
            f"{path}: the target {target!r} has one value ({labels[0, 0]:g}) in every row: "
            "nothing to learn"
        )
    enc = tables.encoding(
        table, path, features, impute=missing == "impute", clip=scaling == "robust"
    )
    note = None
    if test is not None:
        test = Path(test)
        test_table, test_rows_note = _complete(tables, test, delimiter, target, missing, enc=enc)
        rows_note = "; ".join(n for n in (rows_note, test_rows_note) if n) or None
        test_labels = targets_from_column(
            tables, test_table.column(target), test, target, task, classes
        )[0]
        x_tr, x_te = (
            tables.encode(table, path, enc, dtype),
            tables.encode(test_table, test, enc, dtype),
        )
        del test_table
    else:
        (x_tr, labels), (x_te, test_labels), note = _split_rows(
            tables, table, path, enc, labels, task, test_fraction, split_seed, dtype
        )
    del table
    csv_reader.release_unused()
    enc, mean, std = _fill_and_scale(tables, enc, x_tr, x_te, scaling)
    n_out = 1 if task == "regression" else len(classes)
    preprocessing = {
        "features": enc.as_dict()["columns"],
        "inputs": list(enc.input_names),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "target": target,
        "left_out": left_out,
        "rows_left_out": rows_note,
    }
    return Dataset(
        path.name,
        x_tr,
        labels,
        x_te,
        test_labels,
        task,
        n_out,
        file_defaults(x_tr.shape[1], task, n_out, x_tr.shape[0]),
        classes,
        preprocessing,
        note,
    )


def _check_options(task, test_fraction: float, missing: str, scaling: str) -> str:
    """The missing-value rule, after every option of :func:`read_table` is checked."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if missing not in MISSING:
        raise ValueError(
            f"unknown missing-value rule {missing!r}; expected one of {', '.join(MISSING)}"
        )
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; expected one of {', '.join(SCALINGS)}")
    return missing


def _feature_columns(table, path: Path, target: str, ignore: list[str]):
    """``(features, left_out)``: the columns that train, and those left out with why (``ignore``
    first, then :func:`left_out_columns`'s); refused when none is left."""
    unknown = [c for c in ignore if c not in table.column_names]
    if unknown:
        raise ValueError(
            f"--ignore {unknown[0]!r}: {path} has no such column; the columns are "
            f"{', '.join(table.column_names)}"
        )
    if target in ignore:
        raise ValueError(f"--ignore {target!r}: that is the target column")
    candidates = [c for c in table.column_names if c != target and c not in ignore]
    left_out = [{"name": c, "why": "--ignore"} for c in ignore]
    left_out += left_out_columns(table, path, candidates)
    dropped = {d["name"] for d in left_out}
    features = [c for c in candidates if c not in dropped]
    if not features:
        why = "; ".join(f"{d['name']!r}: {d['why']}" for d in left_out)
        raise ValueError(
            f"{path}: no feature column left besides the target {target!r}"
            + (f" (left out: {why})" if why else "")
        )
    return features, left_out


def _split_rows(tables, table, path, enc, labels, task, test_fraction, split_seed, dtype):
    """``((x_train, y_train), (x_test, y_test), note)``: the rows encoded a batch at a time
    straight to their place, the training rows first (in file order), then the test
    rows (stratified for classes), so that both parts are views of the one array and row
    numbers in errors stay the file's; an empty test part is None and ``note`` says why."""
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
    order = None
    if n_te:  # where each row of the file goes: 4 bytes a row, the split's only copy
        order = np.empty(n, np.int32 if n < 2**31 else np.int64)
        order[tr], order[te] = np.arange(n_tr), n_tr + np.arange(n_te)
    x = tables.encode(table, path, enc, dtype, order=order)
    note = None
    if not n_te and test_fraction:
        note = (
            f"no test set: --test-fraction {test_fraction} of {n} rows rounds to 0 "
            "(raise it or pass --test FILE)"
        )
    return (x[:n_tr], labels[tr]), ((x[n_tr:] if n_te else None), test_labels), note


def _fill_and_scale(tables, enc, x_tr, x_te, scaling: str):
    """``(encoding, mean, std)``: the gaps of both parts filled with the training rows' values and
    both scaled with the training rows' statistics, in place (no copies of a large data set),
    then made read-only (the device array may share their memory)."""
    enc, fills = tables.set_fills(enc, x_tr)
    for part in (x_tr, x_te):
        if part is not None:
            tables.fill_missing(part, fills)
    mean, std = scaling_statistics(
        x_tr, enc.value_inputs() if scaling == "robust" else None, enc.level_inputs()
    )
    clipped = enc.value_inputs(clipped_only=True)
    for part in (x_tr, x_te):
        if part is not None:
            part -= mean
            part /= std
            if clipped.size:
                part[:, clipped] = tables.smooth_clip(part[:, clipped])
            part.flags.writeable = False
    return enc, mean, std


def scaling_statistics(
    x: np.ndarray, robust: np.ndarray | None = None, levels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""``(centre, scale)`` of each column of ``x`` ``(n, d)``, in ``x``'s dtype: the mean and
    standard deviation (:func:`column_statistics`), except for the columns ``robust`` (indices):
    the median and :math:`\mathrm{IQR}/1.349`, or the standard deviation where the IQR is 0, and
    the columns ``levels`` (one-hot inputs): centre 0 and scale 1, left as 0 or 1 (standardised,
    a level of frequency :math:`p` would be :math:`1/\sqrt{p(1-p)}` wide: a rare one dominates
    the first layer). A scale of 0 becomes 1."""
    mean, std = column_statistics(x)
    centre, scale = mean.astype(np.float64), std.astype(np.float64)
    if levels is not None:
        centre[levels], scale[levels] = 0.0, 1.0
    for j in [] if robust is None else robust:
        q1, med, q3 = np.percentile(x[:, j], [25, 50, 75])
        centre[j] = med
        if q3 > q1:
            scale[j] = (q3 - q1) / 1.349
        else:
            scale[j] = float(np.sqrt(np.mean(np.square(x[:, j] - med))))
    scale = np.where(scale > 0, scale, 1)
    return centre.astype(x.dtype), scale.astype(x.dtype)


def left_out_columns(table, path, names: list[str]) -> list[dict]:
    """The columns among ``names`` that cannot help a model, each ``{"name", "why"}``: one value
    in every row (missing counts as a value), or a row id — text with every value distinct, or
    the row numbers 0..n-1 or 1..n in any order — in a table of at least
    :data:`ID_MIN_ROWS` rows. A column missing in every row is refused."""
    import pyarrow.compute as pc

    from jaxmlp.io import columns, tables

    source = columns.as_columns(table)
    rows = source.num_rows
    out = []
    for name in names:
        nulls = source.null_count(name)
        if nulls == rows:
            raise ValueError(
                f"{path}: column {name!r} is missing in every row; leave it out with --ignore {name}"
            )
        field = source.schema.field(name)
        text = tables.is_text(field)
        import pyarrow as pa

        if not (
            text
            or pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type)
            or pa.types.is_boolean(field.type)
        ):
            continue
        col = source.column(name)
        if text:  # a hash of every value: text columns only
            distinct = pc.count_distinct(col, mode="only_valid").as_py()
            if distinct + (nulls > 0) <= 1:
                out.append({"name": name, "why": "one value in every row"})
            elif rows >= ID_MIN_ROWS and nulls == 0 and distinct == rows:
                out.append({"name": name, "why": "a row id (text, every value distinct)"})
        elif not nulls:  # (a number and a gap: two values)
            out += _numeric_left_out(col, name, field, rows)
    return out


def _numeric_left_out(col, name: str, field, rows: int) -> list[dict]:
    """A column of numbers without gaps left out: one value (min = max), or the row numbers
    0..n-1 or 1..n (integers; the hash of distinct values only then)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lo, hi = (v.as_py() for v in pc.min_max(col).values())
    if lo == hi:
        return [{"name": name, "why": "one value in every row"}]
    if (
        pa.types.is_integer(field.type)
        and rows >= ID_MIN_ROWS
        and lo in (0, 1)
        and hi - lo == rows - 1  # 0..n-1 or 1..n (not years), if each comes once
        and pc.count_distinct(col).as_py() == rows
    ):
        return [{"name": name, "why": "a row number (0..n-1 or 1..n, each once)"}]
    return []


RECIPE: dict[str, Any] = {
    "hidden": (256,),
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "weight_decay": 1e-4,
    "schedule": "cosine",
    "warmup_fraction": 0.05,
    "batch_size": 256,
    "epochs": 256,
    "validation_fraction": 0.1,
    "validation_min_rows": 100,
    "label_smoothing": 0.1,
    "time_budget": 50.0,
    "ensemble": 32,
}  # the training recipe of a data file: see file_defaults


def file_defaults(n_in: int, task: str, n_out: int, n_rows: int | None = None, **training) -> dict:
    """The network and training defaults of a data file of ``n_rows`` training rows (the recipe,
    :data:`RECIPE`, chosen on the tuning tables of ``experiments/tabular.py``): an ensemble of 32
    networks of one hidden layer of 256 ReLU units, trained at once and averaged; softmax and
    cross entropy for classes (labels smoothed by 0.1) or identity and mse for regression
    (targets standardised); adam at 2e-3 with decoupled weight decay 1e-4, a 5% linear warm-up
    and cosine decay, batches of 256 (the whole set when smaller), 256 epochs; a tenth of the
    rows held out for validation (from 100 rows on), each member keeping the parameters of its
    best validation loss; members and epochs cut to end within 50 s of training
    (:mod:`jaxmlp.cli.time_budget`). ``training`` overrides."""
    output = (
        {"output_activation": "identity", "loss": "mse", "target_scaling": True}
        if task == "regression"
        else {
            "output_activation": "softmax",
            "loss": "cross_entropy",
            "label_smoothing": RECIPE["label_smoothing"],
        }
    )
    r = RECIPE
    rows = n_rows if n_rows is not None else 0
    validation = r["validation_fraction"] if rows >= r["validation_min_rows"] else None
    fitted = int(rows * (1 - (validation or 0)))
    batch = r["batch_size"] if fitted > r["batch_size"] else None
    return {
        "sizes": (n_in, *r["hidden"], n_out),
        "activation": r["activation"],
        "bias": "per_neuron",
        "train_bias": True,
        "optimizer": r["optimizer"],
        "learning_rate": r["learning_rate"],
        "weight_decay": r["weight_decay"],
        "schedule": r["schedule"],
        "warmup_fraction": r["warmup_fraction"],
        "epochs": r["epochs"],
        "batch_size": batch,
        "validation_fraction": validation,
        "time_budget": r["time_budget"],
        "ensemble": r["ensemble"],
        **output,
        **training,
    }


def _complete(tables, path, delimiter, target: str, missing: str, enc=None):
    """``(table, note)``: the file's columns (:func:`~jaxmlp.io.tables.open_columns`)
    with the target checked and the rows whose target is missing left out; with ``missing``
    ``"drop"`` the rows with any missing value left out too (``enc``: only in its columns), with
    ``"error"`` a missing value refused. ``note`` says how many rows were left out, and why
    (None: none)."""
    import pyarrow.compute as pc

    source = tables.open_columns(path, delimiter=delimiter)
    tables.check_target(source, path, target)
    if missing == "error":
        tables.check_complete(source, path)
        return source, None
    if missing == "drop":
        table = tables.read(path, delimiter=delimiter)
        if enc is not None:
            keep = [c.name for c in enc.columns] + [target]
            table = table.select([c for c in table.column_names if c in keep])
        before = table.num_rows
        table = tables.drop_missing(table)
        dropped = before - table.num_rows
        return table, dropped and f"left out {dropped:,} rows of {path.name} with a missing value"
    nulls = source.null_count(target)
    if not nulls:
        return source, None
    table = tables.read(path, delimiter=delimiter)
    table = table.filter(pc.is_valid(table.column(target)))
    if table.num_rows == 0:
        raise ValueError(f"{path}: the target {target!r} is missing in every row")
    return table, f"left out {nulls:,} rows of {path.name} whose target {target!r} is missing"


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
