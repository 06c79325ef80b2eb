"""The performance benchmark: jaxmlp and its peers on identical work (same as `jaxmlp bench`).

    python experiments/bench.py [--quick] [--device cpu|gpu] [--json]

See the jaxmlp/bench/ package for the workloads. The README's performance table is this
script's Markdown output, written to experiments/results/bench.md.
"""

import sys
from pathlib import Path

from jaxmlp import bench
from jaxmlp.io.atomic import write_text

if __name__ == "__main__":
    argv = sys.argv[1:]
    report = bench.run(quick="--quick" in argv, device="gpu" if "gpu" in argv else "cpu")
    text = bench.markdown(report)
    if "--json" in argv:
        import json

        print(json.dumps(report, indent=2))
    else:
        print(text)
    if "--quick" not in argv:
        name = "bench_gpu.md" if "gpu" in argv else "bench.md"
        write_text(Path(__file__).parent / "results" / name, text + "\n")
