"""W6 of ``jaxmlp bench``: a 200,000 x 40 CSV read by jaxmlp, by ``numpy.loadtxt`` and by pyarrow alone, and a whole ``jaxmlp train csv`` on it, each in a fresh process (time and peak memory)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["W6_CHILD", "PEERS", "w6"]

W6_CHILD = """
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
import numpy as np
if kind == "jaxmlp":
    from jaxmlp.io import file_dataset
elif kind == "train":
    from jaxmlp.cli import main
elif kind == "pyarrow":
    import pyarrow.csv as pc
t = time.perf_counter()
if kind == "jaxmlp":
    shape = file_dataset.read_table(path, "label").x_train.shape
elif kind == "train":  # the whole command: read, train 100 steps, evaluate (its JSON to stderr)
    sys.stdout = sys.stderr
    main(["train", "csv", path, "--target", "label", "--steps", "100", "--json"])
    sys.stdout, shape = sys.__stdout__, []
elif kind == "numpy.loadtxt":
    shape = np.loadtxt(path, delimiter=",", skiprows=1).shape
else:
    shape = pc.read_csv(path).shape
seconds = time.perf_counter() - t
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "shape": list(shape)}))
"""


PEERS = {
    "jaxmlp": "jaxmlp file_dataset.read_table (parse, encode, split, standardise)",
    "train": "jaxmlp train csv FILE --target label --steps 100 (read, train, evaluate)",
}


def w6(repeats: int, quick: bool) -> list[dict]:
    """W6 rows: reading an n x 40 CSV, each reader in a fresh process (seconds include its imports)."""
    n = 20_000 if quick else 200_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w6.csv"
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 40))
        label = rng.integers(0, 10, n)
        header = ",".join([f"f{j}" for j in range(40)] + ["label"])
        np.savetxt(
            path,
            np.column_stack([x, label]),
            delimiter=",",
            header=header,
            comments="",
            fmt=["%.6f"] * 40 + ["%d"],
        )
        size_mb = path.stat().st_size / 1e6
        for kind in ("jaxmlp", "numpy.loadtxt", "pyarrow", "train"):
            runs = []
            for _ in range(max(1, repeats // 3)):
                r = subprocess.run(
                    [sys.executable, "-c", W6_CHILD, kind, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
            rows.append(
                {
                    "workload": f"W6 ingestion ({n:,} x 40 CSV, {size_mb:.0f} MB)",
                    "peer": PEERS.get(kind, kind),
                    "seconds": float(np.median([r["seconds"] for r in runs])),
                    "peak_mb": float(np.median([r["peak_mb"] for r in runs])),
                    "note": "in a fresh process (imports excluded); peak: the process's"
                    + ("" if kind == "train" else "; reading alone"),
                }
            )
    return rows
