"""Model files: train, save, load, predict and evaluate; damaged and foreign files refused."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from jaxmlp.io import modelfile, prediction
from tests.cli_helpers import assert_one_line_error, run, run_json


def data_files(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "blue, dark", "green"], n)
    label = np.where(a + (colour == "red") > 0.2, "yes", "no")
    train = tmp_path / "train.csv"
    train.write_text(
        "a,b,colour,label\n"
        + "\n".join(f'{a[i]:.4f},{b[i]:.4f},"{colour[i]}",{label[i]}' for i in range(n))
        + "\n"
    )
    new = tmp_path / "new.csv"  # other column order, no target
    new.write_text(
        "colour;b;a\n" + "\n".join(f'"{colour[i]}";{b[i]:.4f};{a[i]:.4f}' for i in range(10)) + "\n"
    )
    return train, new, (a, b, colour, label)


def train_and_save(capsys, train, model_path, *extra):
    """``jaxmlp train csv TRAIN --target label --save MODEL [extra]``; its JSON summary."""
    return run_json(
        capsys, "train", "csv", str(train), "--target", "label", "--save", str(model_path), *extra
    )


def numpy_forward(path, rows):
    """The saved network applied with NumPy and the safetensors reader alone (no jaxmlp)."""
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
        t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    inputs = json.loads(meta["inputs"])
    net = json.loads(meta["network"])
    x = np.zeros((len(rows), len(inputs)))
    for j, name in enumerate(inputs):
        col, _, cat = name.partition("=")
        x[:, j] = [(r[col] == cat) if cat else r[col] for r in rows]
    h = (x - t["input.mean"]) / t["input.std"]
    for i in range(len(net["sizes"]) - 1):
        h = h @ t[f"layers.{i}.w"].T + t[f"layers.{i}.b"]
        hidden = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0)}[net["activation"]]
        h = hidden(h) if i < len(net["sizes"]) - 2 else h
    e = np.exp(h - h.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.float64
def test_train_save_predict_evaluate_and_read_with_numpy_alone(tmp_path, capsys):
    train, new, (a, b, colour, label) = data_files(tmp_path)
    model_path = tmp_path / "m.safetensors"
    out = train_and_save(capsys, train, model_path, "--steps", "300", "--x64")
    assert out["model"] == str(model_path)
    model = modelfile.load(model_path)
    assert model.class_names == ("no", "yes") and model.target == "label"
    assert model.input_names == ["a", "b", "colour=blue, dark", "colour=green", "colour=red"]
    # predict equals net.apply on the encoded inputs, to float64 rounding: predict runs padded
    # batches, a different shape (another program) than net.apply on the whole array, and XLA may
    # round differently (it does on some AMD EPYC CPUs), so equal to ~1e-12, not bit for bit
    import pyarrow.csv as pc

    x = prediction.inputs(
        model, pc.read_csv(new, parse_options=pc.ParseOptions(delimiter=";")), new
    )
    direct = np.asarray(model.net.apply(model.params, x))
    pred = run_json(capsys, "predict", str(model_path), str(new), "--proba")
    probs = np.asarray([row[1:] for row in pred["rows"]])
    np.testing.assert_allclose(probs, direct, rtol=1e-12, atol=1e-15)
    assert [row[0] for row in pred["rows"]] == ["no" if p[0] > p[1] else "yes" for p in direct]
    # NumPy alone, from the file's tensors and metadata
    rows = [{"a": round(a[i], 4), "b": round(b[i], 4), "colour": colour[i]} for i in range(10)]
    np.testing.assert_allclose(numpy_forward(model_path, rows), direct, rtol=1e-10, atol=1e-12)
    # evaluate: the confusion matrix adds up, accuracy matches the predictions
    ev = run_json(capsys, "evaluate", str(model_path), str(train))
    assert np.asarray(ev["confusion_matrix"]).sum() == 80 and ev["accuracy"] > 0.9
    # --output writes a CSV
    code, text, _ = run(
        capsys, "predict", str(model_path), str(new), "--output", str(tmp_path / "p.csv")
    )
    assert code == 0 and (tmp_path / "p.csv").read_text().splitlines()[0] == "prediction"


def test_predict_refuses_missing_columns_and_unseen_categories(tmp_path, capsys):
    train, new, _ = data_files(tmp_path)
    model_path = tmp_path / "m.safetensors"
    train_and_save(capsys, train, model_path, "--steps", "5")
    missing = tmp_path / "missing.csv"
    missing.write_text("a,colour\n1,red\n")
    assert_one_line_error(
        *run(capsys, "predict", str(model_path), str(missing))[::2], "no column 'b'"
    )
    unseen = tmp_path / "unseen.csv"
    unseen.write_text("a,b,colour\n1,2,purple\n")
    assert_one_line_error(
        *run(capsys, "predict", str(model_path), str(unseen))[::2], "category 'purple' was not seen"
    )


def test_regression_model_reports_r2_and_mae(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 2))
    y = 2 * x[:, 0] - x[:, 1]
    p = tmp_path / "r.csv"
    p.write_text("u,v,y\n" + "\n".join(f"{u},{v},{t}" for (u, v), t in zip(x, y)) + "\n")
    m = tmp_path / "r.safetensors"
    run_json(capsys, "train", "csv", str(p), "--target", "y", "--steps", "500", "--save", str(m))
    ev = run_json(capsys, "evaluate", str(m), str(p))
    assert ev["task"] == "regression" and ev["r2"] > 0.95 and ev["mae"] < 0.3


def test_damaged_foreign_and_newer_files_are_refused(tmp_path, capsys):
    train, new, _ = data_files(tmp_path)
    good = tmp_path / "m.safetensors"
    train_and_save(capsys, train, good, "--steps", "5")
    blob = good.read_bytes()
    cases = {}
    (tmp_path / "trunc.safetensors").write_bytes(blob[: len(blob) // 2])
    cases["trunc.safetensors"] = "not a readable model file"
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3)}, tmp_path / "foreign.safetensors", metadata={"x": "y"})
    cases["foreign.safetensors"] = "is not a jaxmlp model file"
    model = modelfile.load(good)
    modelfile.save(tmp_path / "newer.safetensors", model)
    raw = (tmp_path / "newer.safetensors").read_bytes()
    (tmp_path / "newer.safetensors").write_bytes(
        raw.replace(b'"format_version":"1"', b'"format_version":"9"')
    )
    cases["newer.safetensors"] = "format version '9'; this jaxmlp reads up to 2"
    from safetensors import safe_open

    with safe_open(good, framework="numpy") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != "input.std"}  # noqa: SIM118
    save_file(tensors, tmp_path / "nostd.safetensors", metadata=metadata)
    cases["nostd.safetensors"] = (
        "damaged jaxmlp model file: the tensor 'input.std' (the standard deviation each input is "
        "divided by) is missing"
    )
    for name, needle in cases.items():
        assert_one_line_error(*run(capsys, "predict", str(tmp_path / name), str(new))[::2], needle)
    with pytest.raises(modelfile.ModelFileError, match="no model file"):
        modelfile.load(tmp_path / "absent.safetensors")
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b,colour\n")
    assert_one_line_error(
        *run(capsys, "predict", str(good), str(empty))[::2], "has a header but no data rows"
    )
    empty.write_text("a,b,colour,label\n")
    assert_one_line_error(
        *run(capsys, "train", "csv", str(empty), "--target", "label")[::2],
        "has a header but no data rows",
    )


def test_resume_without_a_checkpoint_says_it_starts_afresh(tmp_path, capsys):
    code, _, err = run(
        capsys,
        "train",
        "xor",
        "--steps",
        "5",
        "--checkpoint",
        str(tmp_path / "c"),
        "--resume",
        "--json",
    )
    assert code == 0 and "no checkpoint in" in err and "starting afresh" in err


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_model_file_of_format_version_1_loads_and_predicts_in_every_later_version(capsys):
    """tests/fixtures/model_v1.safetensors was written by jaxmlp 0.2.0 (format version 1:
    ``jaxmlp train csv`` on the data of data_files(), 200 steps, --save); this and every later
    version must load it and predict what its tensors say, computed here with NumPy alone."""
    path = FIXTURES / "model_v1.safetensors"
    model = modelfile.load(path)
    assert model.class_names == ("no", "yes") and model.target == "label"
    assert model.input_names == ["a", "b", "colour=blue, dark", "colour=green", "colour=red"]
    rows_path = FIXTURES / "model_v1_rows.csv"
    pred = run_json(capsys, "predict", str(path), str(rows_path), "--proba")
    probs = np.asarray([row[1:] for row in pred["rows"]])
    lines = rows_path.read_text().splitlines()
    header = lines[0].split(";")
    rows = []
    for line in lines[1:]:
        cells = dict(zip(header, next(csv.reader([line], delimiter=";"))))
        rows.append({"a": float(cells["a"]), "b": float(cells["b"]), "colour": cells["colour"]})
    # float32 model: its forward pass rounds a few times per layer (1e-5 relative is ~100 eps)
    np.testing.assert_allclose(probs, numpy_forward(path, rows), rtol=1e-5, atol=1e-6)
