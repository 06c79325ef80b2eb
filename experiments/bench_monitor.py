"""W12 of the benchmark alone: what jaxmlp.Monitor costs against what it computes (see
jaxmlp/bench/monitoring.py). ``jaxmlp bench`` runs it with the others.

    python experiments/bench_monitor.py [--quick]

Writes ``bench_monitor.md`` (the documentation's W12 table).
"""

import sys
from pathlib import Path

from jaxmlp import bench
from jaxmlp.bench.monitoring import w12
from jaxmlp.io.atomic import write_text

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    rows = w12(3 if quick else 9, quick, bench.interleaved)
    text = bench.markdown({"machine": bench.machine("cpu"), "rows": rows})
    print(text)
    if not quick:
        write_text(Path(__file__).parent / "results" / "bench_monitor.md", text + "\n")
