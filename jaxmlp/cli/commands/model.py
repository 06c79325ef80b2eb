"""``jaxmlp predict`` and ``jaxmlp evaluate``: a saved model on new data."""

from __future__ import annotations

import json

from jaxmlp.cli.options import UsageError
from jaxmlp.cli.process import emit, enable_x64, results_stream

__all__ = ["cmd_predict", "write_csv", "enable_dtype", "cmd_export", "cmd_evaluate"]

# --- predict and evaluate -----------------------------------------------------------


def cmd_predict(args) -> int:
    """``jaxmlp predict``: a saved model's predictions for a data file."""
    from jaxmlp.io import modelfile, prediction

    model = modelfile.load(args.model)
    if args.proba and model.task != "classification":
        raise UsageError("--proba applies to classification models; this one is regression")
    enable_dtype(model)
    if args.json:
        result = prediction.predict(model, args.path, proba=args.proba, delimiter=args.delimiter)
        emit(json.dumps(result, indent=2))
        return 0
    # CSV, written a batch of rows at a time (bounded memory whatever the file's size)
    header = prediction.prediction_columns(model, args.proba)
    batches = prediction.predictions(model, args.path, proba=args.proba, delimiter=args.delimiter)
    if args.output:
        from jaxmlp.io.atomic import atomic_open

        with atomic_open(args.output, "w") as f:
            count = write_csv(f, header, batches)
        emit(f"wrote {count} predictions to {args.output}")
    else:
        try:
            write_csv(results_stream(), header, batches)
        except BrokenPipeError:  # the reader stopped early (| head): not an error
            import os
            import sys

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def write_csv(f, columns: list[str], batches) -> int:
    """Write a header and batches of rows to ``f`` as CSV (quoted where needed); the row count."""
    import csv

    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for rows in batches:
        writer.writerows(rows)
        count += len(rows)
    f.flush()
    return count


def enable_dtype(model) -> None:
    """float64 models need x64 mode, turned on before any array exists."""
    if model.mean.dtype.itemsize == 8:
        enable_x64()


def cmd_export(args) -> int:
    """``jaxmlp export``: a saved model as an ONNX file."""
    from jaxmlp.io import modelfile

    model = modelfile.load(args.model)
    try:
        from jaxmlp.io import onnx_export

        path = onnx_export.export(model, args.output)
    except ImportError as e:
        raise UsageError(
            f"ONNX export needs the onnx package: pip install 'jaxmlp[onnx]' ({e})"
        ) from None
    if args.json:
        emit(json.dumps({"model": str(args.model), "onnx": str(path), "opset": onnx_export.OPSET}))
    else:
        emit(f"wrote {path} (ONNX opset {onnx_export.OPSET})")
    return 0


def cmd_evaluate(args) -> int:
    """``jaxmlp evaluate``: a saved model's loss and metrics on a labelled data file."""
    from jaxmlp.cli.summary import score_lines
    from jaxmlp.io import modelfile, prediction

    model = modelfile.load(args.model)
    target = args.target or model.target
    if not target:
        raise UsageError("this model does not name its target column: pass --target COLUMN")
    enable_dtype(model)
    result = prediction.evaluate(model, args.path, target, delimiter=args.delimiter)
    if args.json:
        emit(json.dumps(result, indent=2))
        return 0
    lines = [
        f"{k:<10} {v:.6g}" if isinstance(v, float) else f"{k:<10} {v}"
        for k, v in result.items()
        if k in ("rows", "loss", "task")
    ]
    lines += score_lines(result, "scores", 10)
    if "confusion_matrix" in result:
        names = result["class_names"]
        width = max(6, *(len(n) for n in names))
        lines += [
            "",
            "confusion matrix (true by row, predicted by column):",
            " " * width + "".join(f"{n:>{width + 1}}" for n in names),
        ]
        lines += [
            f"{n:<{width}}" + "".join(f"{v:>{width + 1}}" for v in row)
            for n, row in zip(names, result["confusion_matrix"])
        ]
    emit("\n".join(lines))
    return 0
