r"""Using a saved model on raw rows: encode, standardise, apply; predictions and evaluation.

``predict`` applies the network to a file's feature columns (found by name, in any
order), encoded and standardised as in training: :math:`x = (\mathrm{encode}(raw) - \mu) / \sigma`,
then ``out_L``. ``evaluate`` also reads the target column and reports the loss and, for
classification, accuracy, balanced accuracy, log loss and the confusion matrix (true class by
row), for regression :math:`R^2 = 1 - \sum (t - o)^2 / \sum (t - \bar t)^2`, the root mean
squared and the mean absolute error; each beside the trivial baseline's (the training rows' mean,
or their majority class and class frequencies, which the model file keeps).
"""

from __future__ import annotations

import numpy as np

from jaxmlp import evaluation, metrics
from jaxmlp.io.modelfile import Model

__all__ = [
    "model_from_run",
    "inputs",
    "input_batches",
    "outputs",
    "prediction_columns",
    "predictions",
    "predict",
    "evaluate",
]


def model_from_run(ds, net, params, summary: dict) -> Model:
    """The :class:`Model` of a training run on data set ``ds``."""
    pre = ds.preprocessing or {
        "features": [{"name": f"x{j}", "categories": None} for j in range(ds.n_features)],
        "mean": [0.0] * ds.n_features,
        "std": [1.0] * ds.n_features,
        "target": None,
    }
    dtype = np.asarray(params[0]["w"]).dtype
    return Model(
        net,
        tuple({k: np.asarray(v) for k, v in layer.items()} for layer in params),
        pre["features"],
        np.asarray(pre["mean"], dtype),
        np.asarray(pre["std"], dtype),
        ds.task,
        tuple(ds.class_names),
        pre.get("target"),
        summary,
    )


def inputs(model: Model, table, path) -> np.ndarray:
    """The network inputs ``(n, n_in)`` of a table's raw feature columns."""
    return np.concatenate([x for _, x, _ in input_batches(model, table, path)])


def input_batches(model: Model, table, path, extra: tuple[str, ...] = ()):
    """``(where, x, batch)`` for each batch of a file's rows (a Parquet row group, or
    65,536 rows of a table read whole): where its rows are (``(file, first data row)``), its
    network inputs ``(m, n_in)`` and its ``pyarrow.Table`` of the feature columns and ``extra``.
    A missing column, or a missing value the model does not impute, is refused naming it."""
    from jaxmlp.io import columns, tables

    source = columns.as_columns(table)
    enc = model.encoding()
    tables.check_columns(source, path, enc)
    names = [c.name for c in enc.columns]
    names += [e for e in extra if e not in names]
    clipped = enc.value_inputs(clipped_only=True)
    for first, batch in source.batches(names):
        if isinstance(batch, columns.RowGroup):  # its errors name its own file and row
            where, at, batch = batch.path, batch.first, batch.table(names)
        else:
            where, at = path, first
        x = np.empty((batch.num_rows, len(enc.input_names)), model.mean.dtype)
        tables.encode_rows(batch, where, enc, x, slice(None), at)
        x -= model.mean
        x /= model.std
        if clipped.size:
            x[:, clipped] = tables.smooth_clip(x[:, clipped])
        yield (where, at), x, batch


def outputs(model: Model, x: np.ndarray) -> np.ndarray:
    """``out_L`` for inputs ``x`` ``(n, n_in)``, as NumPy (one compiled call per padded batch)."""
    return evaluation.outputs(model.net, model.params, x, evaluation.batch_rows(len(x)))


def prediction_columns(model: Model, proba: bool) -> list[str]:
    """The header of :func:`predictions`' rows."""
    if model.task == "classification" and proba:
        return ["prediction"] + [f"p({c})" for c in model.class_names]
    return ["prediction"]


def predictions(model: Model, path, *, proba: bool = False, delimiter: str | None = None):
    """The predictions for a data file's rows, a batch of rows at a time (lists of rows; see
    :func:`predict`): the file is read a row group (Parquet) or a table (CSV, ``.npz``) at a time."""
    from jaxmlp.io import tables

    source = tables.open_columns(path, delimiter=delimiter)
    rows = evaluation.batch_rows(source.num_rows)
    names = np.asarray(model.class_names, dtype=object)
    for _, x, _ in input_batches(model, source, path):
        out = evaluation.outputs(model.net, model.params, x, rows)
        if model.task == "regression":
            yield out[:, :1].tolist()
            continue
        pred = names[metrics.predicted_class(out)]
        if not proba:
            yield [[p] for p in pred]
            continue
        probs = np.column_stack([1 - out[:, 0], out[:, 0]]) if out.shape[1] == 1 else out
        yield [[p, *map(float, row)] for p, row in zip(pred, probs)]


def predict(model: Model, path, *, proba: bool = False, delimiter: str | None = None) -> dict:
    """Predictions for the rows of a data file: ``{"columns": [...], "rows": [[...], ...]}``.

    Classification: the class name, and with ``proba`` one probability column per class;
    regression: the predicted value. (:func:`predictions` gives them a batch at a time.)
    """
    rows = [r for part in predictions(model, path, proba=proba, delimiter=delimiter) for r in part]
    return {"columns": prediction_columns(model, proba), "rows": rows}


def evaluate(model: Model, path, target: str, *, delimiter: str | None = None) -> dict:
    """Loss and metrics of the model on a labelled data file (JSON-ready; :mod:`jaxmlp.evaluation`),
    read a batch of rows at a time."""
    from jaxmlp.io import tables
    from jaxmlp.io.file_dataset import targets_from_column

    source = tables.open_columns(path, delimiter=delimiter)
    tables.check_target(source, path, target)
    classes = model.class_names if model.task == "classification" else None

    def batches():
        for (where, at), x, batch in input_batches(model, source, path, (target,)):
            y = targets_from_column(
                tables, batch.column(target), where, target, model.task, classes, at
            )[0]
            yield x, y

    reference = (model.summary or {}).get("baseline")  # None in files saved before it existed
    totals = evaluation.evaluate_batches(
        model.net, model.params, batches(), model.task, total=source.num_rows, reference=reference
    )
    result = totals.result()
    if model.task == "classification":
        result["class_names"] = list(model.class_names)
        result["confusion_matrix"] = result.pop("confusion_matrix")
    return result
