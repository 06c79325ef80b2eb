"""Peak memory of a training run on a large Parquet file, as a user runs it: whole processes.

Writes a ROWS x 50 float32 Parquet file (default 5,000,000 rows: 1.0 GB of values) and a 10,000-row
file of the same columns, then measures the peak resident memory of

* ``jaxmlp train csv FILE --target label --sizes 50,64,2 --steps 2000 --batch-size 256``;
* a hand-written JAX program of the same work: ``pyarrow.parquet.read_table``, ``np.column_stack``,
  standardisation, a fancy-indexed 80/20 split, ``jnp.asarray``, 2,000 adam steps in one
  ``lax.scan`` (:func:`bare`).

Each runs in a fresh process; the 10,000-row run is its start-up cost, and
``(peak - start-up) / values`` is what the data costs per byte of its values.

    python experiments/memory.py [--rows 5000000]   # writes experiments/results/memory.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
FEATURES, GROUP = 50, 500_000


def write(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` x 50 standard normal float32 features and a 0/1 ``label``, in row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(FEATURES).astype(np.float32)
    writer = None
    for start in range(0, rows, GROUP):
        x = rng.standard_normal((min(GROUP, rows - start), FEATURES)).astype(np.float32)
        table = pa.table({**{f"f{j}": x[:, j] for j in range(FEATURES)}, "label": x @ w > 0})
        table = table.set_column(FEATURES, "label", table.column("label").cast(pa.int64()))
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=GROUP)
    assert writer is not None
    writer.close()


def bare() -> None:
    """The hand-written program: read, stack, standardise, split, transfer, train (adam, scan)."""
    import jax
    import jax.numpy as jnp
    import optax
    import pyarrow.parquet as pq

    table = pq.read_table(sys.argv[1])
    x = np.column_stack([table.column(f"f{j}").to_numpy() for j in range(FEATURES)])
    y = table.column("label").to_numpy()
    del table
    x = (x - x.mean(0)) / x.std(0)
    perm = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    x_tr, y_tr, x_te = x[perm[:cut]], y[perm[:cut]], x[perm[cut:]]
    del x
    xd, yd = jnp.asarray(x_tr, jnp.float32), jnp.asarray(y_tr)
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {
        "w1": jax.random.normal(k1, (FEATURES, 64)) / FEATURES**0.5,
        "b1": jnp.zeros(64),
        "w2": jax.random.normal(k2, (64, 2)) / 8.0,
        "b2": jnp.zeros(2),
    }
    opt = optax.adam(1e-2)

    def loss(p, xb, yb):
        logits = jnp.tanh(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def train(p, s, key):
        def step(carry, k):
            p, s = carry
            i = jax.random.randint(k, (256,), 0, xd.shape[0])
            g = jax.grad(loss)(p, xd[i], yd[i])
            u, s = opt.update(g, s)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, s), jax.random.split(key, 2000))[0]

    p, _ = train(params, opt.init(params), jax.random.key(1))
    jax.block_until_ready(p)
    print(len(x_te))


def peak(command: list[str]) -> int:
    """The peak resident memory of ``command``, run to completion in a fresh process (bytes)."""
    launcher = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
    )
    out = subprocess.run([sys.executable, "-c", launcher, *command], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return int(out.stdout.split()[-1])


def main() -> None:
    import pyarrow

    from jaxmlp.bench.common import machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    jaxmlp = [sys.executable, "-m", "jaxmlp", "train", "csv"]
    options = ["--target", "label", "--sizes", "50,64,2", "--steps", "2000", "--batch-size", "256"]
    programs = {
        "jaxmlp train": lambda f: [*jaxmlp, str(f), *options],
        "hand-written JAX": lambda f: [sys.executable, __file__, "--bare", str(f)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small.parquet", Path(tmp) / "big.parquet"
        write(small, 10_000)
        write(big, args.rows)
        values = args.rows * FEATURES * 4
        rows = []
        for name, command in programs.items():
            start, top = peak(command(small)), peak(command(big))
            rows.append((name, start, top, (top - start) / values))
            print(json.dumps({"program": name, "start_up": start, "peak": top}), flush=True)
    m = machine("cpu")
    lines = [
        f"Machine: {m['cpu']}; Python {m['python']}, jax {m['jax']}, pyarrow {pyarrow.__version__}.",
        "",
        f"{args.rows:,} rows x {FEATURES} float32 features in Parquet: {values / 1e9:.2f} GB of "
        "values; 2,000 adam steps of 256 rows on a 50-64-2 network. `python experiments/memory.py`.",
        "",
        "| program | peak, 10,000 rows (start-up) | peak | (peak - start-up) / values |",
        "|---|---|---|---|",
    ]
    for name, start, top, ratio in rows:
        lines.append(f"| {name} | {start / 1e9:.2f} GB | {top / 1e9:.2f} GB | {ratio:.2f}x |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare"]:
        sys.argv = [sys.argv[0], *sys.argv[2:]]
        bare()
    else:
        main()
