"""Steps per second of a run streamed from a memory-mapped ``.npy`` file and from a Parquet file
(row groups of 131,072 rows, read by :class:`jaxmlp.ParquetSource` in its two-level shuffle) against
the same run with the rows in memory: ROWS x 50 float32 rows (default 1,000,000: 200 MB), a
50-64-2 network, adam, batches of 256, 10,000 steps (2.6 epochs); the three alternate, three times each, and the
medians are reported (the files' pages are in the page cache after the first pass, as they are for
a file that fits).

    python experiments/stream.py [--rows 1000000]   # writes experiments/results/stream.md
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import jaxmlp
from jaxmlp.bench.streaming import write_parquet

RESULTS = Path(__file__).parent / "results"
FEATURES, STEPS, BATCH = 50, 10_000, 256


def main() -> None:
    from jaxmlp.bench.common import machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        x = np.lib.format.open_memmap(Path(tmp) / "x.npy", "w+", np.float32, (args.rows, FEATURES))
        for i in range(0, args.rows, 100_000):
            x[i : i + 100_000] = rng.standard_normal((min(100_000, args.rows - i), FEATURES))
        x.flush()
        y = (np.asarray(x[:, 0]) > 0).astype(np.int32)
        np.save(Path(tmp) / "y.npy", y)
        memory = np.load(Path(tmp) / "x.npy")
        source = jaxmlp.NpySource(Path(tmp) / "x.npy", Path(tmp) / "y.npy")
        write_parquet(Path(tmp) / "rows.parquet", memory, y)
        parquet = jaxmlp.ParquetSource(Path(tmp) / "rows.parquet", "label", test_fraction=0)
        net = jaxmlp.MLP(sizes=(FEATURES, 64, 2), output_activation="softmax", loss="cross_entropy")
        params = net.init(jax.random.key(0))
        run = dict(steps=STEPS, learning_rate=1e-2, optimizer="adam", batch_size=BATCH,
                   key=jax.random.key(1))  # fmt: skip
        ways = {
            "rows in memory": lambda: jaxmlp.fit(net, params, memory, y, **run),
            "streamed from .npy": lambda: jaxmlp.fit(net, params, source, None, **run),
            "streamed from Parquet": lambda: streamed(parquet),
        }

        def streamed(parquet):
            parquet.release()  # every run decodes its row groups afresh
            return jaxmlp.fit(net, params, parquet, None, **run)

        times: dict[str, list[float]] = {name: [] for name in ways}
        for way in ways.values():  # compile
            jax.block_until_ready(way().params)
        for _ in range(3):
            for name, way in ways.items():
                t = time.perf_counter()
                jax.block_until_ready(way().params)
                times[name].append(time.perf_counter() - t)
    rate = {name: STEPS / statistics.median(t) for name, t in times.items()}
    m = machine("cpu")
    lines = [
        f"Machine: {m['cpu']}; Python {m['python']}, jax {m['jax']}.",
        "",
        f"{args.rows:,} x {FEATURES} float32 rows, {FEATURES}-64-2 network, adam, batches of "
        f"{BATCH}, {STEPS:,} steps; medians of 3. `python experiments/stream.py`.",
        "",
        "| run | steps/s | rows/s | against in memory |",
        "|---|---|---|---|",
    ]
    base = rate["rows in memory"]
    for name, r in rate.items():
        lines.append(f"| {name} | {r:,.0f} | {r * BATCH:,.0f} | {r / base:.2f}x |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
