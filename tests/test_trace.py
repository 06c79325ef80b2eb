"""`jaxmlp trace`: the seed's derivation, any network's, in text, Markdown and JSON."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmlp
from jaxmlp import worked_example
from tests.cli_helpers import assert_one_line_error, run, run_json
from tests.settings import thorough_only

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)


def test_seed_trace_contains_every_seed_figure(capsys):
    d = run_json(capsys, "trace")
    values = {q["name"]: q["value"] for q in d["quantities"]}
    for name, printed in worked_example.SEED_PRINTED.items():
        if "@" in name:
            continue  # trained figures belong to reproduce
        assert name in values, name
        unit = worked_example.printed_unit(printed)
        assert abs(values[name] - float(printed)) <= unit, (name, values[name], printed)
    assert d["weights"] == [[[0.15, 0.2], [0.25, 0.3]], [[0.4, 0.45], [0.5, 0.55]]]
    assert d["inputs"] == [0.05, 0.1] and d["targets"] == [0.01, 0.99] and d["learning_rate"] == 0.5


TRACE_OPTIONS = [
    [
        "--sizes",
        "3,4,2",
        "--activation",
        "tanh",
        "--output-activation",
        "logistic",
        "--loss",
        "half_sse",
        "--seed",
        "0",
    ],
    [
        "--sizes",
        "2,3,3,2",
        "--activation",
        "relu",
        "--output-activation",
        "softmax",
        "--loss",
        "cross_entropy",
        "--bias",
        "per_neuron",
        "--train-bias",
        "--seed",
        "1",
    ],
    [
        "--sizes",
        "4,2,3",
        "--activation",
        "softplus",
        "--output-activation",
        "logistic",
        "--loss",
        "binary_cross_entropy",
        "--bias",
        "none",
        "--seed",
        "2",
    ],
    [
        "--sizes",
        "2,3,1",
        "--activation",
        "leaky_relu",
        "--output-activation",
        "identity",
        "--loss",
        "mse",
        "--train-bias",
        "--seed",
        "3",
    ],
]


@pytest.mark.parametrize(
    "options",
    [
        o if i in (0, 3) else pytest.param(o, marks=thorough_only)
        for i, o in enumerate(TRACE_OPTIONS)
    ],
)
def test_random_network_trace_equals_the_library_for_the_printed_weights(capsys, options):
    d = run_json(capsys, "trace", *options)
    cfg = d["network"]
    net = jaxmlp.MLP(
        tuple(cfg["sizes"]),
        cfg["activation"],
        cfg["output_activation"],
        cfg["loss"],
        cfg["bias"],
        cfg["train_bias"],
    )
    params = tuple(
        {"w": jnp.asarray(w), **({} if b is None else {"b": jnp.asarray(b)})}
        for w, b in zip(d["weights"], d["biases"])
    )
    x = jnp.asarray(d["inputs"])
    y = (
        jnp.asarray(d["targets"])
        if net.loss != "cross_entropy"
        else jnp.asarray(d["targets"], jnp.int32)
    )
    q = {s["name"]: s["value"] for s in d["quantities"]}
    from jaxmlp.explain.names import neuron_names, weight_names

    names = neuron_names(net)
    layers = net.forward_trace(params, x)
    for l, layer in enumerate(layers):
        for j, n in enumerate(names[l + 1]):
            assert q[f"net_{n}"] == pytest.approx(float(layer.net[j]), rel=1e-12, abs=1e-15)
            assert q[f"out_{n}"] == pytest.approx(float(layer.out[j]), rel=1e-12, abs=1e-15)
    assert q["E_total"] == pytest.approx(float(net.loss_fn(params, x, y)), rel=1e-12)
    auto = jax.grad(net.loss_fn)(params, x, y)
    hand = net.backprop(params, x, y)
    new = jaxmlp.sgd_step(params, auto, d["learning_rate"])
    for l, wn in enumerate(weight_names(net)):
        for (j, i), w in np.ndenumerate(wn):
            assert q[f"dE_total/d{w}"] == pytest.approx(
                float(auto[l]["w"][j, i]), rel=1e-9, abs=1e-15
            )
            assert q[f"dE_total/d{w}"] == pytest.approx(
                float(hand[l]["w"][j, i]), rel=1e-12, abs=1e-15
            )
            assert q[f"{w}+"] == pytest.approx(float(new[l]["w"][j, i]), rel=1e-12)
    if net.bias != "none" and net.train_bias:
        assert any(k.startswith("dE_total/db") for k in q)


def test_markdown_is_well_formed(capsys):
    code, out, _ = run(
        capsys, "trace", "--sizes", "3,4,4,2", "--activation", "tanh", "--format", "markdown"
    )
    assert code == 0
    assert out.count("$$") % 2 == 0
    for line in out.splitlines():
        if line.startswith("$$"):
            assert line.endswith("$$") and line.count("$$") == 2
            body = line[2:-2]
            assert body.count("{") == body.count("}") and body.count("(") == body.count(")")
    sections = re.findall(r"^## (.+)$", out, flags=re.M)
    assert sum(s.startswith("Forward pass") for s in sections) == 3  # one per layer
    assert sum(s.startswith("Backward pass") for s in sections) == 3
    assert "Total error" in sections and "Updated weights" in sections
    assert r"\frac{\partial E_{total}}{\partial w_{1}}" in out


def test_text_trace_reads_like_the_seed(capsys):
    code, out, _ = run(capsys, "trace")
    assert code == 0
    assert "net_h1 = w1 * i1 + w2 * i2 + b1 * 1" in out
    assert "= 0.15 * 0.05 + 0.2 * 0.1 + 0.35 * 1 = 0.3775" in out
    assert "= 0.74136507 * 0.186815602 * 0.593269992" not in out  # products are built from deltas
    assert re.search(
        r"dE_total/dw5\s+= dE_o1/dnet_o1 \* dnet_o1/dw5\n\s+= 0.138498562 \* 0.593269992 = 0.082167041",
        out,
    )


def test_weights_file(tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text(
        json.dumps(
            {
                "weights": [[[0.15, 0.2], [0.25, 0.3]], [[0.4, 0.45], [0.5, 0.55]]],
                "biases": [0.35, 0.6],
                "x": [[0.05, 0.1], [0.3, 0.2]],
                "y": [[0.01, 0.99], [0.5, 0.5]],
            }
        )
    )
    d = run_json(capsys, "trace", "--weights", str(path))
    assert {q["name"]: q["value"] for q in d["quantities"]}["dE_total/dw5"] == pytest.approx(
        0.082167041, abs=5e-10
    )
    d1 = run_json(capsys, "trace", "--weights", str(path), "--example", "1")
    assert d1["inputs"] == [0.3, 0.2]
    page = tmp_path / "net.html"  # the same network, example 1, as a page
    code, _, err = run(
        capsys,
        "trace",
        "--weights",
        str(path),
        "--example",
        "1",
        "--format",
        "html",
        "--output",
        str(page),
        "--steps",
        "20",
    )
    assert code == 0, err
    html = page.read_text()
    assert "<math" in html and 'id="n-b2"' in html and "0.3" in html


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["trace", "--activation", "swish"], "invalid choice: 'swish'"),
        (["trace", "--sizes", "3,0,2"], "sizes must be at least two positive integers"),
        (["trace", "--sizes", "3,-4"], "sizes must be at least two positive integers"),
        (["trace", "--sizes", "a,b"], "sizes must be comma-separated positive integers"),
        (["trace", "--learning-rate", "-1"], "expected a positive float"),
        (
            ["trace", "--sizes", "2,2", "--output-activation", "softmax"],
            "needs loss 'cross_entropy'",
        ),
    ],
)
def test_bad_options_exit_two_with_one_line(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, needle)


def test_bad_weights_files_exit_two_with_one_line(tmp_path, capsys):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"weights": [[[0.1, 0.2]]')
    assert_one_line_error(
        *run(capsys, "trace", "--weights", str(bad_json))[::2], "is not valid JSON"
    )
    shapes = tmp_path / "shapes.json"
    shapes.write_text(
        json.dumps({"weights": [[[0.1, 0.2]], [[0.3], [0.4]]], "x": [1, 2], "y": [0, 1]})
    )
    assert_one_line_error(
        *run(capsys, "trace", "--weights", str(shapes), "--sizes", "3,4,2")[::2],
        "holds a 2,1,2 network but --sizes is 3,4,2",
    )
    ragged = tmp_path / "ragged.json"
    ragged.write_text(json.dumps({"weights": [[[0.1, 0.2], [0.3]]], "x": [1, 2], "y": [0]}))
    assert_one_line_error(
        *run(capsys, "trace", "--weights", str(ragged))[::2], "rectangular list of numbers"
    )
    chained = tmp_path / "chain.json"
    chained.write_text(json.dumps({"weights": [[[0.1, 0.2]], [[0.3, 0.1]]], "x": [1, 2], "y": [0]}))
    assert_one_line_error(
        *run(capsys, "trace", "--weights", str(chained))[::2],
        "weights[1] has 2 inputs but layer 0 has 1 outputs",
    )
    assert_one_line_error(
        *run(capsys, "trace", "--weights", str(tmp_path / "missing.json"))[::2], "No such file"
    )
    seed_file = {"weights": [[[0.15, 0.2], [0.25, 0.3]], [[0.4, 0.45], [0.5, 0.55]]]}
    seed_file |= {"x": [0.05, 0.1], "y": [0.01, 0.99]}
    for extra, message in [
        ({"bias": [0.35, 0.6]}, "unknown key(s) 'bias'; the keys are weights, biases"),
        ({"train_bias": "false"}, "train_bias must be true or false, got 'false'"),
        ({"learning_rate": 1e400}, "learning_rate must be a finite number > 0"),
    ]:
        f = tmp_path / "extra.json"
        f.write_text(json.dumps(seed_file | extra))
        assert_one_line_error(*run(capsys, "trace", "--weights", str(f))[::2], message)
    f.write_text(json.dumps(seed_file))
    assert_one_line_error(
        *run(capsys, "trace", "--weights", str(f), "--example", "3")[::2],
        "--example 3 is out of range: the file holds 1 example",
    )


def test_a_network_too_large_to_spell_out_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "page.html"
    assert_one_line_error(
        *run(capsys, "trace", "--sizes", "40,300,300,10", "--format", "html", "--output", str(out))[
            ::2
        ],
        "the html page spells out every number, up to 10,000 parameters; "
        "this 40,300,300,10 network has 105,003",
    )
    assert not out.exists()


def test_a_float32_derivation_checks_its_products_at_float32_tolerance():
    from jaxmlp.explain import trace
    from jaxmlp.explain.steps import check_product

    net, params, x, y = jaxmlp.tutorial(jnp.float32)
    d = trace.derive(net, params, x, y)  # float32 sums differ from the float64 products in ~1e-8
    for name, printed in worked_example.SEED_PRINTED.items():
        if "@" not in name and name in {s.name for s in d.steps}:
            assert abs(d.value(name) - float(printed)) <= 1e-6, name
    check_product(1.0, 1.0 + 1e-6, "within float32's rounding", 4)
    with pytest.raises(AssertionError, match="printed product"):
        check_product(1.0, 1.0 + 1e-4, "a wrong product", 4)
    with pytest.raises(AssertionError, match="printed product"):
        check_product(1.0, 1.0 + 1e-6, "the same difference in float64", 8)
