"""W5-W8 of the benchmark alone: minibatch scaling, CSV ingestion, eager latency, scikit-learn
(see jaxmlp/bench/real_data.py). ``jaxmlp bench`` runs them with the others.

    python experiments/bench_real_data.py [--quick]

Writes ``bench_real_data.md`` and ``minibatch_scaling.png`` (the documentation's W5-W8 tables and plot).
"""

import sys
from pathlib import Path

from jaxmlp import bench  # noqa: E402
from jaxmlp.bench.real_data import all_rows  # noqa: E402
from jaxmlp.cli import plots  # noqa: E402
from jaxmlp.io.atomic import write_text  # noqa: E402


def plot(rows, path):
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    peers = dict.fromkeys(
        r["peer"] for r in rows if r["workload"].startswith("W5") and "us_per_step" in r
    )
    for peer in peers:
        pts = [
            (r["n"], r["us_per_step"]) for r in rows if r.get("peer") == peer and "us_per_step" in r
        ]
        ax.plot(*zip(*pts), "o-", label=peer)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("examples in the data set (n)")
    ax.set_ylabel("us per step (batch 128, 40-64-2)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    plots.save_figure(fig, path)


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    rows = all_rows(3 if quick else 5, quick, bench.torch_or_none(), bench.interleaved)
    text = bench.markdown({"machine": bench.machine("cpu"), "rows": rows})
    print(text)
    if not quick:
        out = Path(__file__).parent / "results"
        write_text(out / "bench_real_data.md", text + "\n")
        plot(rows, out / "minibatch_scaling.png")
