"""`jaxmlp reproduce`: every seed figure to its printed digits, and every erratum claim."""

import jax.numpy as jnp
import pytest

import jaxmlp
from tests.cli_helpers import assert_one_line_error, run

NAMES = (
    "net_h1, out_h1, out_h2, net_o1, out_o1, out_o2, E_o1, E_o2, E_total, dE_total/dout_o1, "
    "dout_o1/dnet_o1, dnet_o1/dw5, dE_total/dw5, w5+, w6+, w7+, w8+, dE_o1/dnet_o1, dnet_o1/dout_h1, "
    "dE_o1/dout_h1, dE_o2/dout_h1, dE_total/dout_h1, dout_h1/dnet_h1, dnet_h1/dw1, dE_total/dw1, w1+, w2+, "
    "w3+, w4+, E_total@1, E_total@9999, E_total@10000, out_o1@10000, out_o2@10000"
).split(", ")

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)
ERRATA = {"E_total@1", "E_total@10000", "out_o1@10000", "out_o2@10000"}


@pytest.fixture(scope="module")
def figures():
    import io
    import json
    from contextlib import redirect_stdout

    from jaxmlp.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["reproduce", "--json"]) == 0
    return json.loads(buf.getvalue())["figures"]


def fig(figures, name, variant="simultaneous"):
    (f,) = [f for f in figures if f["name"] == name and f["variant"] == variant]
    return f


def test_names_and_variants_are_exactly_those_of_the_issue(figures):
    assert [f["name"] for f in figures if f["variant"] == "simultaneous"] == NAMES
    assert sorted(f["name"] for f in figures if f["variant"] == "updated_weights") == sorted(ERRATA)
    assert set(figures[0]) >= {"name", "seed", "value", "variant", "match"}


def test_every_figure_of_the_described_algorithm_matches_but_the_errata(figures):
    for f in figures:
        if f["variant"] != "simultaneous" or f["seed"] is None:
            continue
        unit = 10.0 ** -len(f["printed"].split(".")[1])
        assert f["match"] == (abs(f["value"] - f["seed"]) <= unit * (1 + 1e-9))
        assert f["match"] is (f["name"] not in ERRATA), f
    assert fig(figures, "E_total@9999")["seed"] is None


def test_erratum_first_round_error_comes_from_the_updated_weights_order(figures):
    assert fig(figures, "E_total@1")["value"] == pytest.approx(0.291027774, abs=1e-9)
    assert fig(figures, "E_total@1", "updated_weights")["value"] == pytest.approx(
        0.291027924, abs=1e-9
    )
    assert fig(figures, "E_total@1", "updated_weights")["match"] is True


def test_erratum_outputs_after_ten_thousand_rounds_come_from_the_updated_weights_order(figures):
    assert fig(figures, "out_o1@10000")["value"] == pytest.approx(0.0159136, abs=1e-7)
    assert fig(figures, "out_o2@10000")["value"] == pytest.approx(0.9840643, abs=1e-7)
    for name in ("out_o1@10000", "out_o2@10000"):
        assert fig(figures, name, "updated_weights")["match"] is True


def test_erratum_final_error_is_the_described_algorithms_error_after_9999_rounds(figures):
    seed = 0.0000351085
    assert fig(figures, "E_total@10000")["match"] is False
    assert fig(figures, "E_total@10000", "updated_weights")["match"] is False
    assert abs(fig(figures, "E_total@9999")["value"] - seed) <= 1e-10
    assert fig(figures, "E_total@10000")["value"] == pytest.approx(3.5101877829788e-05, rel=1e-12)


def test_erratum_net_h1_uses_w2_not_w3():
    """The hidden-layer section writes net_h1 = w1*i1 + w3*i2 + b1; the seed's own w2+ needs w2*i2."""
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    g = net.backprop(params, x, y)
    # w2 = W[0, 1] connects i2 -> h1: w2+ = 0.19956143 as the seed prints.
    assert abs(float(params[0]["w"][0, 1] - 0.5 * g[0]["w"][0, 1]) - 0.19956143) <= 1e-8
    # Were w2 the weight i1 -> h2 (the w3 slot of net_h1 = w1*i1 + w3*i2), w2+ would differ.
    assert abs(float(params[0]["w"][0, 1] - 0.5 * g[0]["w"][1, 0]) - 0.19956143) > 1e-4
    assert float(net.forward_trace(params, x)[0].net[0]) == pytest.approx(
        0.15 * 0.05 + 0.2 * 0.1 + 0.35, abs=1e-15
    )


def test_the_text_table_marks_the_errata(capsys):
    code, out, _ = run(capsys, "reproduce")
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("E_total@1 ") and "simultaneous" in l)
    assert "erratum: matches E_total@1 (updated_weights)" in line
    assert "multiplies already-rounded intermediates" in out


def test_plot_writes_a_png_into_the_folder(tmp_path, capsys):
    code, out, _ = run(capsys, "reproduce", "--plot", str(tmp_path / "figures"))
    path = tmp_path / "figures" / "seed_loss.png"
    assert code == 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {path}" in out


def test_bad_options_exit_two(capsys):
    assert_one_line_error(
        *run(capsys, "reproduce", "--bogus")[::2], "unrecognized arguments: --bogus"
    )


def test_reproduce_compiles_four_programs_and_dispatches_nothing_op_by_op():
    """Start-up is compiling: the seed's figures, the two training variants and their final
    evaluation are four programs; an eager operation anywhere would add one (or more) per call."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "JAX_LOG_COMPILES": "1", "JAXMLP_CACHE_DIR": ""}
    r = subprocess.run(
        [sys.executable, "-m", "jaxmlp", "reproduce"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr[-2000:]
    compiled = sorted(
        line.split("Compiling ")[1].split()[0]
        for line in r.stderr.splitlines()
        if "Compiling " in line
    )
    assert compiled == [
        "jit(_loss_and_output)",
        "jit(_one_step_figures)",
        "jit(run_chunk)",
        "jit(run_chunk)",
    ], compiled
