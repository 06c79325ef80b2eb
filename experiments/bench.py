"""The performance benchmark: jaxmlp and its peers on identical work (same as `jaxmlp bench`).

    python experiments/bench.py [--quick] [--device cpu|gpu] [--json]

See the jaxmlp/bench/ package for the workloads. One full run on the CPU writes the documentation's
performance tables, each workload where the documentation shows it: W1-W4 to
experiments/results/bench.md, W5-W8 to bench_real_data.md (with minibatch_scaling.png), W9 to
bench_second_order.md, W11 to bench_estimators.md, W12 to bench_monitor.md, W13 to search.md
(experiments/bench_real_data.py, bench_second_order.py, bench_monitor.py and search.py rerun a part
alone); with --device gpu, the whole report goes to bench_gpu.md.
"""

import sys
from pathlib import Path

from bench_real_data import plot

from jaxmlp import bench
from jaxmlp.io.atomic import write_text

PARTS = {
    "bench.md": ("W1", "W2", "W3", "W4"),
    "bench_real_data.md": ("W5", "W6", "W7", "W8"),
    "bench_second_order.md": ("W9",),
    "bench_estimators.md": ("W11",),
    "bench_monitor.md": ("W12",),
    "search.md": ("W13",),
}


def part(report: dict, workloads: tuple[str, ...]) -> dict:
    """The report restricted to the rows of ``workloads`` (the matmul peak only with W2's table)."""
    rows = [r for r in report["rows"] if r["workload"].split()[0] in workloads]
    kept = {"machine": report["machine"], "rows": rows}
    if "W2" in workloads or "W13" in workloads:
        kept["matmul_peak_gflops"] = report.get("matmul_peak_gflops")
    return kept


if __name__ == "__main__":
    argv = sys.argv[1:]
    gpu = "gpu" in argv
    report = bench.run(quick="--quick" in argv, device="gpu" if gpu else "cpu")
    if "--json" in argv:
        import json

        print(json.dumps(report, indent=2))
    else:
        print(bench.markdown(report))
    if "--quick" not in argv:
        out = Path(__file__).parent / "results"
        if gpu:
            write_text(out / "bench_gpu.md", bench.markdown(report) + "\n")
        else:
            for name, workloads in PARTS.items():
                write_text(out / name, bench.markdown(part(report, workloads)) + "\n")
            plot(part(report, PARTS["bench_real_data.md"])["rows"], out / "minibatch_scaling.png")
