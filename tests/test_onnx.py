"""ONNX export: onnxruntime's predictions equal jaxmlp's, for every activation, bias mode and head,
in float32 and float64, and for a model trained from a CSV file with a categorical column."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import jaxmlp  # noqa: E402
from jaxmlp.io import modelfile, onnx_export, prediction  # noqa: E402
from tests.cli_helpers import assert_one_line_error, run, run_json  # noqa: E402
from tests.settings import THOROUGH, thorough_only  # noqa: E402
from tests.test_modelfile import data_files, train_and_save  # noqa: E402

HEADS = [  # (output activation, loss, task, classes)
    ("softmax", "cross_entropy", "classification", ("a", "b", "c")),
    ("logistic", "binary_cross_entropy", "classification", ("no", "yes")),
    ("identity", "mse", "regression", ()),
    ("tanh", "half_sse", "regression", ()),
]


def model_of(net, params, dtype, task, classes, rng):
    n_in = net.sizes[0]
    features = [{"name": f"x{i}", "categories": None} for i in range(n_in)]
    return modelfile.Model(
        net,
        params,
        features,
        rng.normal(size=n_in).astype(dtype),
        rng.uniform(0.5, 2.0, size=n_in).astype(dtype),
        task,
        classes,
        "t",
        {},
    )


def run_onnx(model, columns: dict) -> list:
    session = ort.InferenceSession(onnx_export.to_onnx(model).SerializeToString())
    return session.run(None, {k: v.reshape(-1, 1) for k, v in columns.items()})


def check_architecture(activation, head, bias, dtype):
    output_activation, loss, task, classes = head
    rng = np.random.default_rng(0)
    n_out = len(classes) if output_activation == "softmax" else (1 if classes else 2)
    net = jaxmlp.MLP(
        (3, 5, 4, n_out), activation, output_activation, loss, bias=bias, train_bias=True
    )
    params = net.init(jax.random.key(1), dtype)
    if bias != "none":  # non-zero biases, so that they are exercised
        params = tuple({**p, "b": p["b"] + 0.3} for p in params)
    model = model_of(net, params, dtype, task, classes, rng)
    raw = rng.normal(size=(7, 3)).astype(dtype)
    got = run_onnx(model, {f"x{i}": raw[:, i] for i in range(3)})
    want = np.asarray(net.apply(params, (raw - model.mean) / model.std))
    assert got[0].dtype == dtype
    # float32: a few roundings per layer, and onnxruntime's exp/tanh differ from XLA's by an ulp
    # or two: 1e-5 relative is ~100 eps; float64 to 1e-12.
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[0], want, rtol=rtol, atol=rtol * 1e-1)
    if task == "classification":
        index = want.argmax(1) if want.shape[1] > 1 else (want[:, 0] > 0.5).astype(int)
        assert list(got[1]) == [classes[i] for i in index]


@pytest.mark.parametrize("head", HEADS, ids=lambda h: h[0])
@pytest.mark.parametrize("activation", jaxmlp.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("bias", jaxmlp.BIAS_MODES)
def test_every_activation_bias_and_head_in_float32(activation, head, bias):
    k = jaxmlp.HIDDEN_ACTIVATIONS.index(activation)
    turn = jaxmlp.BIAS_MODES[k % len(jaxmlp.BIAS_MODES)], HEADS[k % len(HEADS)]
    if not THOROUGH and (bias, head) != turn:
        pytest.skip("thorough run only (one bias mode and head per activation in the quick run)")
    check_architecture(activation, head, bias, np.float32)


@pytest.mark.float64
@pytest.mark.parametrize("head", HEADS, ids=lambda h: h[0])
@pytest.mark.parametrize("activation", jaxmlp.HIDDEN_ACTIVATIONS)
def test_every_activation_and_head_in_float64(activation, head):
    if not THOROUGH and HEADS.index(head) != jaxmlp.HIDDEN_ACTIVATIONS.index(activation) % len(
        HEADS
    ):
        pytest.skip("thorough run only (one head per activation in the quick run)")
    check_architecture(activation, head, "per_neuron", np.float64)


@thorough_only
def test_a_model_trained_from_a_csv_with_a_categorical_column(tmp_path, capsys):
    """jaxmlp export, then onnxruntime on the raw columns (numbers and text): the probabilities and
    class names jaxmlp predict gives; the metadata names the features and classes."""
    train, new, (a, b, colour, _) = data_files(tmp_path)
    model_path = tmp_path / "m.safetensors"
    train_and_save(capsys, train, model_path, "--steps", "100")
    out = run_json(capsys, "export", str(model_path), "--output", str(tmp_path / "m.onnx"))
    assert out["opset"] == onnx_export.OPSET
    proto = onnx.load(tmp_path / "m.onnx")
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == ["no", "yes"]
    assert json.loads(meta["features"]) == ["a", "b", "colour"]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    rows = slice(0, 10)
    got, labels = session.run(
        None,
        {
            "a": np.round(a[rows], 4).astype(np.float32).reshape(-1, 1),
            "b": np.round(b[rows], 4).astype(np.float32).reshape(-1, 1),
            "colour": colour[rows].astype(object).reshape(-1, 1),
        },
    )
    model = modelfile.load(model_path)
    pred = prediction.predict(model, new, proba=True)
    want = np.asarray([r[1:] for r in pred["rows"]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert list(labels) == [r[0] for r in pred["rows"]]


def test_export_refuses_a_model_file_that_is_not_one(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    assert_one_line_error(
        *run(capsys, "export", str(bad), "--output", str(tmp_path / "m.onnx"))[::2],
        "not a readable model file",
    )
    assert not (tmp_path / "m.onnx").exists()


def test_float64_models_export_a_float64_graph():
    with jax.enable_x64(True):
        net = jaxmlp.MLP((2, 3, 1), "tanh")
        model = model_of(
            net,
            net.init(jax.random.key(0), jnp.float64),
            np.float64,
            "regression",
            (),
            np.random.default_rng(0),
        )
    proto = onnx_export.to_onnx(model)
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
