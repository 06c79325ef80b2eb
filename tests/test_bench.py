"""The benchmark still runs (``--quick``): a smoke test, not a timed test; its own asserts check that
every peer ends on the same loss."""

import json
import os
import subprocess
import sys

import pytest

from tests.settings import thorough_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@thorough_only
def test_bench_quick_runs_and_reports_every_workload():
    r = subprocess.run(
        [sys.executable, "-m", "jaxmlp.cli", "bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=480,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    workloads = {row["workload"].split()[0] for row in report["rows"]}
    assert workloads == {
        "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12", "W13", "W14",
    }  # fmt: skip
    peers = {row["peer"] for row in report["rows"]}
    assert {
        "pure Python (lists, math.exp)",
        "NumPy by hand",
        "bare JAX (grad + scan, inline)",
        "jaxmlp fit, backprop",
        "jaxmlp sweep",
        "jaxmlp sweep, layout=vmap",
    } <= peers
    assert report["matmul_peak_gflops"]["jax"] > 0 and report["machine"]["jax"]
    timed = [row for row in report["rows"] if not row.get("note", "").startswith("skipped")]
    assert all(
        any(
            row.get(k, 0) > 0
            for k in (
                "seconds",
                "seconds_per_10k_steps",
                "us_per_product",
                "us_per_step",
                "us_eager",
                "first_fit_seconds",
                "rows_per_second",
            )
        )
        for row in timed
    )
    w14 = [row for row in report["rows"] if row["workload"].startswith("W14")]
    jaxmlp_rows = [row for row in w14 if row["peer"].startswith("jaxmlp")]
    assert len(jaxmlp_rows) == 1 and all(row["score"] > row["trivial"] for row in jaxmlp_rows)
    w12 = [row for row in report["rows"] if row["workload"].startswith("W12")]
    assert len(w12) == 4 and sum("vs_budget" in row for row in w12) == 2
    assert all(row["records"] == 4 for row in w12 if "records" in row)  # 400 steps, every 100
    w13 = [row for row in report["rows"] if row["workload"].startswith("W13")]
    assert len(w13) == 3 and len({row["best_score"] for row in w13}) == 1
    assert all(row["gflops"] > 0 for row in w13)
    w8 = [row for row in report["rows"] if row["workload"].startswith("W8")]
    digits = [row for row in w8 if row["peer"].startswith("digits")]
    assert {row["peer"].split(": ", 1)[1] for row in digits} == {
        "jaxmlp fit",
        "scikit-learn MLPClassifier",
        "bare JAX + optax (one jit: init, train, predict)",
    }
    assert all(row["test_accuracy"] > 0.9 for row in digits)  # 20 epochs train every peer
    w9 = [row for row in report["rows"] if row["workload"].startswith("W9")]
    assert len(w9) == 6 and all(row["vs_one_gradient"] > 0 for row in w9)
    w11 = [row for row in report["rows"] if row["workload"].startswith("W11")]
    assert len(w11) == 7  # digits: empty cache, scikit-learn, warm cache, bare JAX; lbfgs: three
    # the estimators (jaxmlp's and scikit-learn's) agree; the bare loop draws its own initial weights
    estimators = [row for row in w11 if "bare JAX" not in row["peer"]]
    same = {row["peer"].split(":")[0]: row["test_accuracy"] for row in estimators}
    assert all(row["test_accuracy"] == same[row["peer"].split(":")[0]] for row in estimators)
    assert all(row["test_accuracy"] > 0.9 for row in w11)
    # W10: every run finishes in its own process and reports a peak and a rate; the sentence
    # under the table compares each stream with the in-memory run
    from jaxmlp.bench.streaming import ratios

    w10 = [row for row in report["rows"] if row["workload"].startswith("W10")]
    assert len(w10) == 5
    for r in w10:
        assert 0.1 < r["peak_gb"] < 8 and r["rows_per_second"] > 10_000 and r["wall_seconds"] > 0
    text = ratios(w10)
    assert "jaxmlp train DIR --stream: peak" in text and "fit(NpySource): peak" in text


def test_gpu_benchmark_without_a_gpu_is_a_one_line_usage_error():
    import jax

    from tests.cli_helpers import assert_one_line_error, run_process

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU: --device gpu is the real benchmark here")
    r = run_process("bench", "--device", "gpu", "--quick", env={**os.environ, "PYTHONPATH": ROOT})
    assert_one_line_error(r.returncode, r.stderr, "--device gpu: JAX finds no GPU on this machine")


def test_peers_that_disagree_stop_the_benchmark():
    from jaxmlp.bench.common import BenchmarkMismatch, peers_agree

    rows = [
        {"peer": "a", "final_loss": 1.0},
        {"peer": "b", "final_loss": 1.0 + 5e-5},
        {"note": "-"},
    ]
    peers_agree(rows, 1.0, rtol=1e-4)
    with pytest.raises(BenchmarkMismatch, match="b: 1.00005 differs from the reference 1.0"):
        peers_agree(rows, 1.0, rtol=1e-5)
    with pytest.raises(BenchmarkMismatch):
        peers_agree(rows, 1.0, rtol=0.0, atol=1e-5)


@pytest.mark.float64
def test_a_wrong_hessian_vector_product_stops_w9(monkeypatch):
    from jaxmlp import hvp
    from jaxmlp.bench.common import BenchmarkMismatch, interleaved
    from jaxmlp.bench.second_order import w9

    monkeypatch.setattr(hvp, "hvp", lambda net, params, x, y, v, **kw: v)  # the identity, not H
    with pytest.raises(BenchmarkMismatch, match="W9 seed 2-2-2"):
        w9(1, True, interleaved)


def test_real_data_workloads_run_in_default_precision_and_the_rest_in_float64(monkeypatch):
    """W5-W8 and W12 measure what users run (JAX's default 32 bits: float64 changed W8's training);
    W1-W4 and W9 need float64 for the seed's figures; the caller's setting is left as it was."""
    import jax

    import jaxmlp.bench as bench
    from jaxmlp.bench import (
        estimators,
        monitoring,
        real_data,
        search,
        second_order,
        streaming,
        tables,
    )

    seen = {}

    def record(name, result):
        def workload(*args, **kwargs):
            seen[name] = bool(jax.config.jax_enable_x64)
            return result

        return workload

    for name in ("w1", "w3", "w4"):
        monkeypatch.setattr(bench, name, record(name, []))
    monkeypatch.setattr(bench, "w2", record("w2", ([], {})))
    monkeypatch.setattr(real_data, "all_rows", record("w5-w8", []))
    monkeypatch.setattr(second_order, "w9", record("w9", []))
    monkeypatch.setattr(monitoring, "w12", record("w12", []))
    monkeypatch.setattr(search, "w13", lambda quick: [])  # its searches run in their own processes
    monkeypatch.setattr(streaming, "w10", lambda quick: [])  # (so do its runs,
    monkeypatch.setattr(estimators, "w11", lambda quick: [])  # and W11's first fits,
    monkeypatch.setattr(tables, "w14", lambda quick: [])  # and W14's jaxmlp runs)
    before = bool(jax.config.jax_enable_x64)
    bench.run(quick=True)
    assert seen == {
        "w1": True, "w2": True, "w3": True, "w4": True, "w5-w8": False, "w9": True, "w12": False,
    }  # fmt: skip
    assert bool(jax.config.jax_enable_x64) == before
