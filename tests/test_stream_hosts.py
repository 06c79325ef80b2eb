"""Streamed training over several devices and processes: two processes joined by
``jax.distributed`` over loopback each read a disjoint half of the rows (a Parquet directory's row
groups shard by process; ``.npy`` rows are read by index, each process its half of every batch),
and the trained parameters equal a one-process run over the same global batches."""

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.settings import thorough_only
from tests.test_distributed import ROOT, python, two_processes

ROWS = 4_000


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, 6))
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    d = tmp_path / "parquet"
    d.mkdir()
    table = pa.table({f"f{j}": x[:, j] for j in range(6)} | {"label": y})
    for i in range(2):  # 2 files x 4 row groups of 500
        pq.write_table(table.slice(2000 * i, 2000), d / f"part-{i}.parquet", row_group_size=500)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return tmp_path


def run_children(data, kind):
    """The two processes of a run over loopback."""
    return two_processes("from tests.stream_hosts import child; child()", str(data), kind)


def single(data, kind):
    out = subprocess.run(
        [sys.executable, "-c", "from tests.stream_hosts import child; child()", "0", "single",
         str(data), kind],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": ROOT},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_same_training(two, one):
    for p in two:  # float64: the all-reduced gradient sums in another order than one device's
        for a, b in zip(p["params"], one["params"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(p["losses"], one["losses"], rtol=1e-9)


@thorough_only
def test_two_processes_read_disjoint_row_groups_and_train_as_one(data):
    two = run_children(data / "parquet", "parquet")
    decoded = [set(p["decoded"]) for p in two]
    assert decoded[0] and decoded[1] and not decoded[0] & decoded[1]
    assert decoded[0] | decoded[1] == set(range(8))  # 40 steps x 64 rows: an epoch and a bit
    for p in two:  # the first row (read for the checks), then 32 rows of each of 40 steps
        assert len(p["rows"]) == 1 + 40 * 32
    assert_same_training(two, single(data / "parquet", "parquet"))


@thorough_only
def test_two_processes_read_their_halves_of_every_batch_of_npy_rows(data):
    two = run_children(data, "npy")
    mine = [set(p["rows"][1:]) for p in two]  # (the first row is read for the checks)
    assert not mine[0] & mine[1]  # 40 x 64 rows, all of the first epoch: distinct
    assert len(mine[0]) == len(mine[1]) == 40 * 32
    one = single(data, "npy")
    assert_same_training(two, one)
    # the global batches are the one-process run's: the union of the halves is what it read
    assert mine[0] | mine[1] == set(one["rows"][1:])


@thorough_only
def test_a_stream_on_two_devices_equals_one_device(data):
    out = python(
        f"""
        import json, jax, numpy as np, jaxmlp
        jax.config.update("jax_enable_x64", True)
        src = jaxmlp.ParquetSource({str(data / "parquet")!r}, "label", dtype="float64")
        npy = jaxmlp.NpySource({str(data / "x.npy")!r}, {str(data / "y.npy")!r})
        net = jaxmlp.MLP(sizes=(6, 16, 2), activation="tanh", output_activation="softmax",
                         loss="cross_entropy")
        p = net.init(jax.random.key(0), np.float64)
        run = dict(steps=30, batch_size=64, key=jax.random.key(1), optimizer="adam",
                   learning_rate=0.01, chunk_size=7)
        gaps = []
        for s in (src, npy):
            a = jaxmlp.fit(net, p, s, None, **run)
            b = jaxmlp.fit(net, p, s, None, devices=2, **run)
            gaps.append(max(float(np.abs(np.asarray(u) - np.asarray(v)).max())
                            for u, v in zip(jax.tree_util.tree_leaves(a.params),
                                            jax.tree_util.tree_leaves(b.params))))
            gaps.append(b.params[0]["w"].sharding.is_fully_replicated)
        print(json.dumps(gaps))
        """,
        devices=2,
    )
    assert out[0] < 1e-12 and out[2] < 1e-12 and out[1] and out[3]


@thorough_only
def test_the_command_line_streams_over_two_processes(data, tmp_path):
    from tests.test_distributed import launch_two_processes

    args = [
        "train",
        str(data / "parquet"),
        "--target",
        "label",
        "--stream",
        "--steps",
        "40",
        "--batch-size",
        "64",
        "--devices",
        "4",
        "--test-fraction",
        "0.2",
        "--json",
    ]  # fmt: skip  (2 processes x 2)
    results = launch_two_processes(args, tmp_path / "ck")
    if any(proc.returncode != 0 for proc, _, _ in results):  # the port was taken: again
        results = launch_two_processes(args, tmp_path / "ck")
    outs = []
    for proc, out, err in results:
        assert proc.returncode == 0, err[-3000:]
        outs.append(json.loads(out))
    assert outs[0]["final_loss"] == outs[1]["final_loss"]
    assert outs[0]["test_accuracy"] == outs[1]["test_accuracy"] > 0.9
    # the metrics add both processes' shards: every row counted once
    assert outs[0]["streamed"]["rows"] + outs[0]["streamed"]["test_rows"] == ROWS
    assert (tmp_path / "ck" / "checkpoint.npz").is_file()


def test_totals_of_parts_add_up_to_the_totals_of_the_whole():
    from jaxmlp.evaluation import Totals

    rng = np.random.default_rng(0)
    for task, y, out in (
        ("classification", rng.integers(0, 3, 100), rng.random((100, 3))),
        ("regression", 1e6 + rng.standard_normal((100, 1)), 1e6 + rng.standard_normal((100, 1))),
    ):
        losses = rng.random(100)
        whole, parts = Totals(task, 3), [Totals(task, 3), Totals(task, 3), Totals(task, 3)]
        whole.add(y, out, losses)
        for p, s in zip(parts, (slice(0, 30), slice(30, 30), slice(30, 100))):
            p.add(y[s], out[s], losses[s])
        summed = Totals.summed(task, 3, np.stack([p.as_vector() for p in parts]))
        a, b = whole.result(), summed.result()
        assert a.keys() == b.keys() and a.pop("task") == b.pop("task") == task
        for k in a:
            np.testing.assert_allclose(np.asarray(a[k], float), np.asarray(b[k], float), rtol=1e-9)
