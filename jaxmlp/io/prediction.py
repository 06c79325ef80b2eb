r"""Using a saved model on raw rows: encode, standardise, apply; predictions and evaluation.

``predict`` applies the network to a file's feature columns (found by name, in any
order), encoded and standardised as in training: :math:`x = (\mathrm{encode}(raw) - \mu) / \sigma`,
then ``out_L``. ``evaluate`` also reads the target column and reports the loss and, for
classification, accuracy and the confusion matrix (true class by row), for regression
:math:`R^2 = 1 - \sum (t - o)^2 / \sum (t - \bar t)^2` and the mean absolute error.
"""

from __future__ import annotations

import numpy as np

from jaxmlp import metrics
from jaxmlp.io.modelfile import Model


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
    from jaxmlp.io import tables

    present = [f["name"] for f in model.features if f["name"] in table.column_names]
    tables.check_complete(table.select(present), path)
    dtype = model.mean.dtype
    x = tables.encode(table, path, model.encoding(), dtype)
    x -= model.mean
    x /= model.std
    return x


def outputs(model: Model, x: np.ndarray) -> np.ndarray:
    """``out_L`` for inputs ``x`` ``(n, n_in)``, as NumPy (one compiled call)."""
    return np.asarray(model.net.apply(model.params, x))


def predict(model: Model, path, *, proba: bool = False, delimiter: str | None = None) -> dict:
    """Predictions for the rows of a data file: ``{"columns": [...], "rows": [[...], ...]}``.

    Classification: the class name, and with ``proba`` one probability column per class;
    regression: the predicted value.
    """
    from jaxmlp.io import tables

    out = outputs(model, inputs(model, tables.read(path, delimiter=delimiter), path))
    if model.task == "regression":
        return {"columns": ["prediction"], "rows": out[:, :1].tolist()}
    names = np.asarray(model.class_names, dtype=object)
    pred = names[metrics.predicted_class(out)]
    if not proba:
        return {"columns": ["prediction"], "rows": [[p] for p in pred]}
    probs = np.column_stack([1 - out[:, 0], out[:, 0]]) if out.shape[1] == 1 else out
    return {
        "columns": ["prediction"] + [f"p({c})" for c in model.class_names],
        "rows": [[p, *map(float, row)] for p, row in zip(pred, probs)],
    }


def evaluate(model: Model, path, target: str, *, delimiter: str | None = None) -> dict:
    """Loss and metrics of the model on a labelled data file (JSON-ready)."""
    from jaxmlp.io import tables
    from jaxmlp.io.file_dataset import targets_from_column

    table = tables.read(path, delimiter=delimiter)
    tables.check_target(table, path, target)
    tables.check_complete(table.select([target]), path)
    x = inputs(model, table, path)
    classes = model.class_names if model.task == "classification" else None
    y = targets_from_column(tables, table.column(target), path, target, model.task, classes)[0]
    out = outputs(model, x)
    dtype = model.mean.dtype
    loss = float(model.net.loss_fn(model.params, x, metrics.loss_targets(model.net, y, dtype)))
    result = {"rows": int(len(x)), "loss": loss, "task": model.task}
    if model.task == "classification":
        pred = metrics.predicted_class(out)
        matrix = metrics.confusion_matrix(y, pred, len(model.class_names))
        result.update(
            accuracy=float(metrics.accuracy(out, y)),
            class_names=list(model.class_names),
            confusion_matrix=matrix.tolist(),
        )
    else:
        t, o = np.asarray(y, np.float64)[:, 0], out[:, 0].astype(np.float64)
        ss = float(((t - t.mean()) ** 2).sum())
        result.update(
            r2=None if ss == 0 else 1 - float(((t - o) ** 2).sum()) / ss,
            mae=float(np.abs(t - o).mean()),
        )
    return result
