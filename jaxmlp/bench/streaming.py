"""W10 of ``jaxmlp bench``: data larger than memory, each run a whole process (its peak resident
memory from the kernel).

ROWS x 50 float32 features and a 0/1 label (30,000,000 rows: 6.0 GB of values; ``--quick``:
500,000) are written as a directory of Parquet files (row groups of 131,072 rows) and as ``.npy``
files, and 5,000,000 rows as one Parquet file. Then, a 50-64-2 network, adam, batches of 256:

* ``jaxmlp train DIR --target label --stream`` (the rows streamed by row groups);
* ``fit`` over ``jaxmlp.NpySource`` (the ``.npy`` rows gathered by index; the command line does not
  take ``.npy`` files);
* ``jaxmlp train FILE --target label`` on the 5,000,000 rows, in memory;
* the reading limit: a bare pyarrow loop that decodes the same row groups in the same order and
  gathers the same rows, and a bare NumPy loop that gathers the ``.npy`` rows of the same batches
  from the memory-mapped file; neither trains.

Rows per second are the training's (``steps x 256`` over the seconds of the fit, which the command
line reports; compilation included); a stream's preparation (two passes for its statistics) and
its final evaluation are in the process's wall time. The files sit in the page cache, as files
that fit in memory do; a cold disk is slower.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = [
    "TARGETS",
    "write",
    "write_parquet",
    "cached",
    "measured",
    "child",
    "read_npy",
    "read_parquet",
    "w10",
    "ratios",
]

FEATURES, BATCH, GROUP, BLOCK = 50, 256, 131_072, 1_048_576
TARGETS = {"peak_gb": 1.5, "vs_memory": 0.8, "vs_reading": 0.8}


def write(directory: Path, rows: int, files: int) -> None:
    """``rows`` standard-normal rows in ``files`` Parquet files under ``directory/parquet`` and as
    ``directory/x.npy``, ``y.npy``; written a block at a time (never held whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (directory / "parquet").mkdir()
    x_npy = np.lib.format.open_memmap(directory / "x.npy", "w+", np.float32, (rows, FEATURES))
    y_npy = np.lib.format.open_memmap(directory / "y.npy", "w+", np.int32, (rows,))
    schema = pa.schema([(f"f{j}", pa.float32()) for j in range(FEATURES)] + [("label", pa.int32())])
    w = np.random.default_rng(1).standard_normal(FEATURES).astype(np.float32)
    per_file = -(-rows // files)
    writer, written = None, 0
    for start in range(0, rows, BLOCK):
        x = np.random.default_rng(start).standard_normal((min(BLOCK, rows - start), FEATURES))
        x = x.astype(np.float32)
        y = (x @ w > 0).astype(np.int32)
        x_npy[start : start + len(x)], y_npy[start : start + len(x)] = x, y
        for i in range(0, len(x), GROUP):
            if written % per_file == 0:
                if writer is not None:
                    writer.close()
                name = directory / "parquet" / f"part-{written // per_file:03d}.parquet"
                writer = pq.ParquetWriter(name, schema)
            part = {f"f{j}": x[i : i + GROUP, j] for j in range(FEATURES)}
            assert writer is not None
            writer.write_table(pa.table(part | {"label": y[i : i + GROUP]}, schema=schema))
            written += min(GROUP, len(x) - i)
    assert writer is not None
    writer.close()
    x_npy.flush()
    y_npy.flush()
    del x_npy, y_npy


def write_parquet(path: Path, x, y, group: int = GROUP) -> None:
    """``x``'s columns ``f0..`` (float32) and ``label`` (int32) as one Parquet file, a row group of
    ``group`` rows at a time (``x``, ``y`` may be memory-mapped: a group is read at once)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = x.shape[1]
    schema = pa.schema([(f"f{j}", pa.float32()) for j in range(features)] + [("label", pa.int32())])
    with pq.ParquetWriter(path, schema) as writer:
        for i in range(0, len(x), group):
            part = {f"f{j}": np.asarray(x[i : i + group, j]) for j in range(features)}
            writer.write_table(
                pa.table(part | {"label": np.asarray(y[i : i + group])}, schema=schema)
            )


def cached(path: Path) -> None:
    """Read ``path`` (a file, or a directory's files) once from end to end: its pages in the cache."""
    buffer = bytearray(64 << 20)
    for file in sorted(path.iterdir()) if path.is_dir() else [path]:
        with open(file, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass


def measured(command: list[str]) -> tuple[dict, float, float]:
    """``(the JSON of its last output line, peak resident bytes, wall seconds)`` of ``command``
    run to completion in a fresh process."""
    launcher = (
        "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
        "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout; "
        "print(json.dumps(out)); print(time.perf_counter() - t); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
    )
    lines = subprocess.run([sys.executable, "-c", launcher, *command], capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()  # fmt: skip
    out = json.loads(lines[-3]).strip()
    try:  # the command line's --json: one object over many lines
        result = json.loads(out)
    except json.JSONDecodeError:  # a child's last line
        result = json.loads(out.splitlines()[-1])
    return result, float(lines[-2]), int(lines[-1])


def child() -> None:
    """One of the runs that are not a command: ``npy DIR STEPS``, ``read-npy DIR STEPS`` or
    ``read-parquet DIR STEPS``; prints ``{"seconds", "rows"}``."""
    kind, directory, steps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    import jax

    import jaxmlp

    if kind == "npy":
        source = jaxmlp.NpySource(directory / "x.npy", directory / "y.npy")
        net = jaxmlp.MLP(sizes=(FEATURES, 64, 2), activation="tanh", output_activation="softmax",
                         loss="cross_entropy")  # fmt: skip
        params = net.init(jax.random.key(0))
        t = time.perf_counter()
        result = jaxmlp.fit(net, params, source, None, steps=steps, batch_size=BATCH,
                            optimizer="adam", learning_rate=1e-2, key=jax.random.key(1))  # fmt: skip
        jax.block_until_ready(result.params)
        print(json.dumps({"seconds": time.perf_counter() - t, "rows": steps * BATCH}))
    elif kind == "read-npy":
        print(json.dumps(read_npy(directory, steps)))
    else:
        print(json.dumps(read_parquet(directory, steps)))


def read_npy(directory: Path, steps: int) -> dict:
    """The bare NumPy loop: the ``.npy`` rows of ``steps`` batches (the epochs' keyed
    permutation, as ``fit`` draws it), gathered a chunk at a time from the memory-mapped file."""
    import jax

    from jaxmlp.training import batching
    from jaxmlp.training.streamed import BUFFER_BYTES, chunk_indices

    x = np.load(directory / "x.npy", mmap_mode="r")
    y = np.load(directory / "y.npy", mmap_mode="r")
    n, k = len(x), BUFFER_BYTES // (BATCH * FEATURES * 4)
    key = jax.random.key(1)
    cursor = batching.start(key, 0, n, BATCH)
    chunks = []
    for done in range(0, steps, k):
        idx, cursor = chunk_indices(key, cursor, steps=min(k, steps - done), batch=BATCH, n=n)
        chunks.append(np.sort(np.asarray(idx).ravel()))
    t = time.perf_counter()
    for idx in chunks:
        rows, labels = x[idx], y[idx]
    assert len(rows) == len(labels)
    return {"seconds": time.perf_counter() - t, "rows": steps * BATCH}


def read_parquet(directory: Path, steps: int) -> dict:
    """The bare pyarrow loop: the row groups the command line's streamed run decodes, in its
    order (pyarrow's ``read_row_group`` a column at a time and ``to_numpy`` into one array, nothing
    else: no standardisation, no labels, no training), as many rows of each
    chunk gathered from each (its training rows are a keyed 80 % of a group's)."""
    import jax
    import pyarrow.parquet as pq

    import jaxmlp
    from jaxmlp.cli.run import run_keys
    from jaxmlp.training.streamed import BUFFER_BYTES

    # the command line's source, key and chunks, for the order alone
    source = jaxmlp.ParquetSource(directory / "parquet", "label", test_fraction=0.2)
    k = BUFFER_BYTES // (BATCH * FEATURES * 4)
    key = run_keys(0)[1]
    entropy = tuple(int(v) for v in np.asarray(jax.random.key_data(key)).ravel())
    chunks = [source.batch_rows(entropy, s, min(k, steps - s), BATCH).ravel()
              for s in range(0, steps, k)]  # fmt: skip
    files = {g.path: pq.ParquetFile(g.path) for g in source.groups}
    names = [f"f{j}" for j in range(FEATURES)] + ["label"]
    t = time.perf_counter()
    held: dict[int, np.ndarray] = {}
    for idx in chunks:
        which = np.searchsorted(source.offsets, idx, side="right") - 1
        needed = list(dict.fromkeys(which.tolist()))
        held = {g: held[g] for g in needed if g in held}
        for g in needed:
            if g not in held:  # a column at a time, into one array (as fast as pyarrow reads)
                group = source.groups[g]
                held[g] = np.empty((group.num_rows, len(names)), np.float32)
                for j, c in enumerate(names):
                    column = files[group.path].read_row_group(group.index, columns=[c])
                    held[g][:, j] = column.column(0).to_numpy()
        rows = np.empty((len(idx), len(names)), np.float32)
        for g in needed:
            part = which == g
            rows[part] = held[g][idx[part] - source.offsets[g]]
    return {"seconds": time.perf_counter() - t, "rows": steps * BATCH}


def w10(quick: bool) -> list[dict]:
    """W10 rows (see the module): peak memory and rows per second of each run."""
    rows_total, steps = (500_000, 1_000) if quick else (30_000_000, 40_000)
    in_memory = min(rows_total, 5_000_000)
    files = 2 if quick else 10
    cli = [sys.executable, "-m", "jaxmlp", "train"]
    options = ["--target", "label", "--sizes", "50,64,2", "--batch-size", str(BATCH),
               "--steps", str(steps), "--json"]  # fmt: skip
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write(d, rows_total, files)
        x, y = np.load(d / "x.npy", mmap_mode="r"), np.load(d / "y.npy", mmap_mode="r")
        write_parquet(d / "memory.parquet", x[:in_memory], y[:in_memory])
        del x, y  # (unmapped before anything is timed)
        os.sync()  # written back to the disk before anything is timed
        runs = {
            f"jaxmlp train DIR --stream ({rows_total:,} rows, Parquet)":
                [*cli, str(d / "parquet"), "--stream", *options],
            f"fit(NpySource) ({rows_total:,} rows, .npy)":
                [sys.executable, "-c", "from jaxmlp.bench.streaming import child; child()",
                 "npy", str(d), str(steps)],
            f"jaxmlp train FILE, in memory ({in_memory:,} rows, Parquet)":
                [*cli, str(d / "memory.parquet"), *options],
            "reading limit: bare pyarrow loop, same row groups and rows":
                [sys.executable, "-c", "from jaxmlp.bench.streaming import child; child()",
                 "read-parquet", str(d), str(steps)],
            "reading limit: bare NumPy loop, same .npy rows":
                [sys.executable, "-c", "from jaxmlp.bench.streaming import child; child()",
                 "read-npy", str(d), str(steps)],
        }  # fmt: skip
        reads = [d / "parquet", d / "x.npy", d / "memory.parquet", d / "parquet", d / "x.npy"]
        for (peer, command), read in zip(runs.items(), reads, strict=True):
            cached(read)  # in the page cache, as the text says (writing the others evicts some)
            summary, wall, peak = measured(command)
            rows = summary.get("rows", steps * BATCH)
            out.append({
                "workload": f"W10 data larger than memory ({rows_total:,} x {FEATURES}, "
                f"{rows_total * FEATURES * 4 / 1e9:.1f} GB of values)",
                "peer": peer,
                "peak_gb": peak / 1e9,
                "rows_per_second": rows / summary["seconds"],
                "wall_seconds": wall,
            })  # fmt: skip
            print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    return out


def ratios(rows: list[dict]) -> str:
    """The sentence under W10's table: each stream against the in-memory run and its reading limit."""
    by = {r["peer"].split(" (")[0].split(",")[0]: r for r in rows}
    memory = by["jaxmlp train FILE"]["rows_per_second"]
    parts = []
    for name, limit in (
        ("jaxmlp train DIR --stream", "reading limit: bare pyarrow loop"),
        ("fit(NpySource)", "reading limit: bare NumPy loop"),
    ):
        r, bare = by[name], by[limit]["rows_per_second"]
        bottleneck = bare < memory
        parts.append(
            f"{name}: peak {r['peak_gb']:.2f} GB (target < {TARGETS['peak_gb']}), "
            f"{r['rows_per_second'] / memory:.2f}x the in-memory run's rows/s (target "
            f"{TARGETS['vs_memory']}), {r['rows_per_second'] / bare:.2f}x its reading limit"
            + (
                " (reading is the bottleneck: target 0.8)"
                if bottleneck
                else " (reading is not the bottleneck)"
            )
        )
    return "; ".join(parts) + "."
