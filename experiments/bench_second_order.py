"""W9 of the benchmark alone: the handwritten Hessian-vector product against forward-over-reverse
autodiff and one gradient (see jaxmlp/bench/second_order.py). ``jaxmlp bench`` runs it with the others.

    python experiments/bench_second_order.py [--quick]

Writes ``bench_second_order.md`` (the documentation's W9 table).
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from jaxmlp import bench  # noqa: E402
from jaxmlp.bench.second_order import w9  # noqa: E402
from jaxmlp.io.atomic import write_text  # noqa: E402

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    rows = w9(3 if quick else 7, quick, bench.interleaved)
    text = bench.markdown({"machine": bench.machine("cpu"), "rows": rows})
    print(text)
    if not quick:
        write_text(Path(__file__).parent / "results" / "bench_second_order.md", text + "\n")
