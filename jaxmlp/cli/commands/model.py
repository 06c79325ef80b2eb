"""``jaxmlp predict`` and ``jaxmlp evaluate``: a saved model on new data."""

from __future__ import annotations

import json

from jaxmlp.cli.options import UsageError
from jaxmlp.cli.process import emit, enable_x64

# --- predict and evaluate -----------------------------------------------------------


def cmd_predict(args) -> int:
    """``jaxmlp predict``: a saved model's predictions for a data file."""
    from jaxmlp.io import modelfile, prediction

    model = modelfile.load(args.model)
    if args.proba and model.task != "classification":
        raise UsageError("--proba applies to classification models; this one is regression")
    enable_dtype(model)
    result = prediction.predict(model, args.path, proba=args.proba, delimiter=args.delimiter)
    if args.json:
        emit(json.dumps(result, indent=2))
        return 0
    text = csv_text(result["columns"], result["rows"])
    if args.output:
        from jaxmlp.io.atomic import write_text

        write_text(args.output, text)
        emit(f"wrote {len(result['rows'])} predictions to {args.output}")
    else:
        emit(text)
    return 0


def csv_text(columns: list[str], rows: list[list]) -> str:
    """A header and rows as CSV text (quoted where needed)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


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
        if k not in ("confusion_matrix", "class_names")
    ]
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
