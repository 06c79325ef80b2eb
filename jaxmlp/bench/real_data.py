"""W5-W8 of ``jaxmlp bench``: the paths users take with real data, at default arguments.

* **W5 minibatch scaling**: microseconds per step of ``fit(batch_size=128)`` (defaults otherwise:
  one call, adam 1e-3) on 40-64-2 at n = 4,000 / 40,000 / 400,000, against a bare JAX + optax
  loop with per-epoch shuffling (a permutation per epoch, slices of it per step), and PyTorch
  (index slices of a per-epoch ``randperm``) when installed. Each peer's whole call is timed,
  data already in memory.
* **W6 ingestion**: a 200,000 x 40 CSV (written once, about 65 MB) read by ``jaxmlp.io.builtin``
  (``read_table``: parse, encode, split, standardise), by ``numpy.loadtxt`` and by pyarrow's
  reader alone; each in a fresh process: the time of the read (imports excluded) and the
  process's peak resident memory (``VmHWM``, imports included).
* **W7 eager latency**: each public method of ``MLP`` called outside ``jit`` on the seed network,
  against the same pure function jitted.
* **W8 against scikit-learn**: ``MLPClassifier`` and ``jaxmlp.fit`` on the same architecture
  (relu hidden layers, softmax output), optimizer (adam), learning rate, batch size and number of
  epochs, on digits and on a synthetic 40-feature, 10-class set of 5,000 examples; seconds to
  train (jaxmlp's include compilation) and test accuracy, mean of 3 seeds.
"""

from __future__ import annotations

import os

from jaxmlp.bench.eager import w7
from jaxmlp.bench.ingestion import PEERS, w6
from jaxmlp.bench.minibatch import w5
from jaxmlp.bench.versus_sklearn import BARE, w8

__all__ = ["all_rows", "ratios"]


def all_rows(repeats: int, quick: bool, torch, interleaved) -> list[dict]:
    """W5-W8, in order; ``interleaved`` is :func:`jaxmlp.bench.interleaved` (round-robin timing)."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    return w5(repeats, quick, torch) + w6(repeats, quick) + w7(repeats, interleaved) + w8(quick)


def ratios(name: str, rows: list[dict]) -> str:
    """The sentence of ratios under a W5-W8 table (the figures the targets speak of)."""
    timed = [r for r in rows if not r.get("note", "").startswith("skipped")]
    if name.startswith("W5"):
        ours = {r["n"]: r["us_per_step"] for r in timed if r["peer"].startswith("jaxmlp")}
        bare = {r["n"]: r["us_per_step"] for r in timed if r["peer"].startswith("bare")}
        lo, hi = min(ours), max(ours)
        worst = max(ours[n] / bare[n] for n in ours)
        return (
            f"jaxmlp's step at n = {hi:,} is {ours[hi] / ours[lo]:.2f}x its step at n = {lo:,}; "
            f"fit against the bare loop: at most {worst:.2f}x."
        )
    if name.startswith("W6"):
        by = {r["peer"]: r for r in timed}
        j, np_, run = by[PEERS["jaxmlp"]], by["numpy.loadtxt"], by[PEERS["train"]]
        return (
            f"jaxmlp reads the file {np_['seconds'] / j['seconds']:.1f}x as fast as numpy.loadtxt, "
            f"peak {j['peak_mb']:,.0f} MB; a whole jaxmlp train csv on it peaks at "
            f"{run['peak_mb']:,.0f} MB."
        )
    if name.startswith("W7"):
        worst = max(r["ratio"] for r in timed if "ratio" in r)
        return f"Every method outside jit is within {worst:.2f}x of the jitted function."
    if name.startswith("W8"):
        parts = []
        for r in timed:
            if r["peer"].endswith("scikit-learn MLPClassifier"):
                label = r["peer"].rsplit(":", 1)[0]
                j = next(q for q in timed if q["peer"] == f"{label}: jaxmlp fit")
                bare_row = next((q for q in timed if q["peer"] == f"{label}: {BARE}"), {})
                parts.append(
                    f"{label.split(' (')[0]}: {r['seconds'] / j['seconds']:.1f}x faster, "
                    f"accuracy {100 * (j['test_accuracy'] - r['test_accuracy']):+.1f} points"
                    + (
                        f" (the bare JAX program: {r['seconds'] / bare_row['seconds']:.1f}x)"
                        if bare_row
                        else ""
                    )
                )
        return "jaxmlp against scikit-learn: " + "; ".join(parts) + "."
    return ""
