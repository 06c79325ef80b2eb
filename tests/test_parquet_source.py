"""Training from Parquet files streamed by row groups (``jaxmlp.ParquetSource``): a directory read as
one table, the encoding and statistics of the rows read into memory, every training row once per
epoch in a two-level shuffle, a resumed run equal to an uninterrupted one (the same batches and
steps, to float32 rounding), at most two windows held, and bad files refused naming the file."""

import jax
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import jaxmlp
from jaxmlp import ParquetSource
from jaxmlp.io import file_dataset
from jaxmlp.io.parquet_source import PARTS

NET = jaxmlp.MLP(sizes=(7, 8, 2), activation="tanh", output_activation="softmax",
                 loss="cross_entropy")  # fmt: skip
RUN = dict(batch_size=64, optimizer="adam", learning_rate=0.01)


def table(rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4)).astype(np.float32)
    return pa.table(
        {
            "f0": x[:, 0],
            "f1": x[:, 1],
            "colour": np.array(["red", "green", "blue"])[rng.integers(0, 3, rows)],
            "f2": x[:, 2],
            "f3": x[:, 3] * 10 + 3,
            "label": np.where(x[:, 0] + x[:, 1] > 0, "yes", "no"),
        }
    )


@pytest.fixture
def directory(tmp_path):
    """Two files, row groups of 400 and 700 rows (some short)."""
    t = table()
    d = tmp_path / "data"
    d.mkdir()
    pq.write_table(t.slice(0, 1000), d / "part-0.parquet", row_group_size=400)
    pq.write_table(t.slice(1000), d / "part-1.parquet", row_group_size=700)
    return d, t


def test_a_directory_streams_as_the_table_in_memory_reads(directory, tmp_path):
    d, t = directory
    pq.write_table(t, tmp_path / "whole.parquet")
    memory = file_dataset.read_table(tmp_path / "whole.parquet", "label", test_fraction=0)
    source = ParquetSource(d, "label")
    assert source.num_rows == 3000 and source.test_rows == 0
    assert len(source.groups) == 3 + 3  # 400, 400, 200 and 700, 700, 600
    assert (source.task, source.classes) == (memory.task, memory.class_names)
    assert source.preprocessing["inputs"] == memory.preprocessing["inputs"]
    # float32 inputs: the moments differ from the one-array sums by rounding only
    np.testing.assert_allclose(source.mean, memory.preprocessing["mean"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(source.std, memory.preprocessing["std"], rtol=1e-6)
    x, y = source.rows(np.arange(3000))
    np.testing.assert_allclose(x, memory.x_train, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, memory.y_train)
    # the directory also reads into memory, as its files concatenated
    whole = file_dataset.read_table(d, "label", test_fraction=0)
    np.testing.assert_array_equal(whole.x_train, memory.x_train)


def test_every_training_row_once_per_epoch_in_windows_of_row_groups(directory):
    d, _ = directory
    row_bytes = 7 * 4
    source = ParquetSource(d, "label", test_fraction=0.25, window_bytes=900 * row_bytes)
    n = source.num_rows
    assert 0.2 < source.test_rows / 3000 < 0.3 and n + source.test_rows == 3000
    orders = []
    for epoch in range(3):
        order = source.order((5, 6), epoch, np.arange(n))
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        orders.append(order)
        plan = source._epoch((5, 6), epoch)
        group = np.searchsorted(source.offsets, order, side="right") - 1
        for w in range(len(plan.starts) - 1):  # a window's positions come from its groups
            window = group[plan.starts[w] : plan.starts[w + 1]]
            assert set(window) == set(plan.order[plan.bounds[w] : plan.bounds[w + 1]])
        assert len(plan.starts) - 1 >= 2  # the window is smaller than the data
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(source.order((5, 6), 1, np.arange(n)), orders[1])
    assert not np.array_equal(source.order((5, 7), 1, np.arange(n)), orders[1])
    # positions asked in pieces give the same rows
    np.testing.assert_array_equal(source.order((5, 6), 2, np.arange(100, 300)), orders[2][100:300])


def test_the_held_out_rows_are_the_rest(directory):
    d, t = directory
    source = ParquetSource(d, "label", test_fraction=0.25)
    train = np.concatenate([y for _, y in source.batches("train", rows=500)])
    test = np.concatenate([y for _, y in source.batches("test", rows=500)])
    assert len(train) == source.num_rows and len(test) == source.test_rows
    labels = np.asarray(t.column("label").to_pylist()) == "yes"
    assert train.sum() + test.sum() == labels.sum()
    np.testing.assert_array_equal(source.rows(np.arange(source.num_rows))[1], train)
    # a validation part comes out of the training rows; the test rows stay the same rows
    split = ParquetSource(d, "label", test_fraction=0.25, validation_fraction=0.1)
    parts = {p: np.concatenate([y for _, y in split.batches(p, rows=500)]) for p in PARTS}
    assert [len(parts[p]) for p in PARTS] == [
        split.num_rows,
        split.test_rows,
        split.validation_rows,
    ]
    assert sum(len(v) for v in parts.values()) == 3000 and 200 < split.validation_rows < 400
    np.testing.assert_array_equal(parts["test"], test)
    assert sum(v.sum() for v in parts.values()) == labels.sum()


def test_a_resumed_run_equals_an_uninterrupted_one_bit_for_bit(directory):
    d, _ = directory
    source = ParquetSource(d, "label", test_fraction=0.2, window_bytes=20_000)
    params = NET.init(jax.random.key(0))
    key = jax.random.key(1)
    whole = jaxmlp.fit(NET, params, source, None, steps=100, key=key, chunk_size=16, **RUN)
    first = jaxmlp.fit(NET, params, source, None, steps=45, key=key, chunk_size=16, **RUN)
    rest = jaxmlp.fit(NET, first.params, source, None, steps=55, key=key, chunk_size=16,
                      start_step=45, opt_state=first.opt_state, **RUN)  # fmt: skip
    # The same batches and steps, but the chunks differ (45 = 16 + 16 + 13 here, 16s there): other
    # programs, which XLA may round otherwise on some CPUs. float32, adam, 100 steps: a real
    # reordering of the batch sums moves the parameters by <= 3e-7 and the losses by <= 3e-7
    # relative; another batch would move them by ~0.1.
    for a, b in zip(
        jax.tree_util.tree_leaves(whole.params), jax.tree_util.tree_leaves(rest.params)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(whole.losses[45:], rest.losses, rtol=1e-5)
    assert whole.losses[-20:].mean() < 0.3 < whole.losses[:5].mean()  # it learns
    limit = 2 * 20_000 + 700 * 7 * 4  # two windows and a row group, at most
    assert sum(x.nbytes for x, _ in source._cache.values()) <= limit


def test_a_stream_validates_on_the_held_out_rows_and_stops_at_its_best(directory):
    """Validation data and patience on a Parquet stream: the run stops, and the parameters it
    returns are those of the same run, unvalidated, stopped at its best step."""
    d, _ = directory
    source = ParquetSource(d, "label", test_fraction=0.2, window_bytes=20_000)
    held = tuple(np.concatenate(part) for part in zip(*source.batches("test", rows=500)))
    params, key = NET.init(jax.random.key(0)), jax.random.key(1)
    run = dict(RUN, key=key, chunk_size=16)
    stopped = jaxmlp.fit(NET, params, source, None, steps=3000, patience=2,
                         validation_data=held, **run)  # fmt: skip
    assert stopped.stopped and stopped.step == stopped.best_step < stopped.validation_steps[-1]
    plain = jaxmlp.fit(NET, params, source, None, steps=stopped.best_step, **run)
    for a, b in zip(
        jax.tree_util.tree_leaves(stopped.params), jax.tree_util.tree_leaves(plain.params)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # as the resumed run's
    with pytest.raises(
        ValueError, match=r"orders its own rows \(ParquetSource\): pass validation_data"
    ):
        jaxmlp.fit(NET, params, source, None, steps=10, validation_fraction=0.2, **run)


def test_bad_directories_are_refused_naming_the_file(tmp_path):
    t = table(rows=200)
    for name, files in {
        "types": [t, t.set_column(0, "f0", t.column("f0").cast("float64"))],
        "columns": [t, t.drop_columns(["f3"])],
        "empty": [t, t.slice(0, 0)],
    }.items():
        d = tmp_path / name
        d.mkdir()
        for i, part in enumerate(files):
            pq.write_table(part, d / f"p{i}.parquet")
        message = {
            "types": r"p1.parquet: its columns \(f0: double.*differ from those of .*p0.parquet",
            "columns": r"p1.parquet: its columns .* differ from those of",
            "empty": r"p1.parquet: holds no rows \(an empty file among 2\)",
        }[name]
        with pytest.raises(ValueError, match=message):
            ParquetSource(d, "label")
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="a directory without Parquet files"):
        ParquetSource(tmp_path / "none", "label")


def test_bad_rows_are_named_by_file_and_row(directory, tmp_path):
    d, t = directory
    x = t.column("f2").to_numpy().copy()
    x[1500 + 123] = np.nan
    pq.write_table(t.slice(1000).set_column(3, "f2", pa.array(x[1000:])),
                   d / "part-1.parquet", row_group_size=700)  # fmt: skip
    with pytest.raises(ValueError, match=r"part-1.parquet, data row 624, column 'f2': nan"):
        ParquetSource(d, "label")
    f0 = t.column("f0").to_pylist()
    f0[1200] = None
    missing = t.set_column(0, "f0", pa.array(f0, pa.float32()))
    pq.write_table(missing.slice(1000), d / "part-1.parquet", row_group_size=700)
    with pytest.raises(
        ValueError, match=r"part-1.parquet, data row 201, column 'f0': the value is missing"
    ):
        ParquetSource(d, "label")


def test_a_row_group_that_fails_to_decode_mid_run_is_named(directory):
    d, _ = directory
    source = ParquetSource(d, "label", window_bytes=1)  # a window a row group
    key = jax.random.key(1)
    entropy = tuple(int(v) for v in np.asarray(jax.random.key_data(key)).ravel())
    last = source.groups[source._epoch(entropy, 0).order[-1]]  # the first epoch's last read
    path, index = last.path, last.index
    column = pq.ParquetFile(path).metadata.row_group(index).column(3)
    raw = bytearray(path.read_bytes())
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    raw[start : start + column.total_compressed_size] = bytes(column.total_compressed_size)
    path.write_bytes(bytes(raw))
    last.source.file = pq.ParquetFile(path)  # the file went bad during the run
    params = NET.init(jax.random.key(0))
    saved = []  # what a checkpoint written after every chunk would hold
    with pytest.raises(
        ValueError, match=rf"{path.name}, column 'f2', row group {index}: cannot be read"
    ):
        jaxmlp.fit(NET, params, source, None, steps=200, key=key, chunk_size=8,
                   callback=lambda state, losses: saved.append(int(state.step)), **RUN)  # fmt: skip
    assert saved and saved == list(range(8, saved[-1] + 1, 8))  # the chunks before it, complete
