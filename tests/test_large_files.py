"""Large data files held once: a Parquet file is read a row group and a column at a time into one
64-byte aligned array, the test part is a view of it, and JAX's CPU device array shares its memory.
Errors in a later row group name the file's row."""

import json
import sys

import numpy as np
import pytest

from jaxmlp.io import file_dataset, tables
from tests.cli_helpers import child_json
from tests.settings import thorough_only

ROWS, FEATURES, GROUP = 1_000_000, 50, 65_536


def write_parquet(path, x, y, row_group_size=GROUP, **columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {f"f{j}": x[:, j] for j in range(x.shape[1])} | columns | {"label": y}
    pq.write_table(pa.table(data), path, row_group_size=row_group_size)


def data(rows=ROWS, features=FEATURES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)


def test_a_parquet_file_reads_as_the_split_and_standardisation_say(tmp_path):
    """The rows land where the split puts them (training rows in file order, then the test rows),
    standardised with the training rows' statistics: compared with NumPy on the whole table."""
    x, y = data(rows=3 * GROUP + 123, features=6)
    write_parquet(tmp_path / "d.parquet", x, y)
    ds = file_dataset.read_csv(tmp_path / "d.parquet", "label", test_fraction=0.25, split_seed=3)
    tr, te = file_dataset.stratified_split(y, 0.25, seed=3)
    xt = x[tr].astype(np.float64)
    mean, std = xt.mean(0), xt.std(0)
    np.testing.assert_allclose(ds.x_train, (xt - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.x_test, (x[te] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ds.y_train, y[tr])
    np.testing.assert_array_equal(ds.y_test, y[te])
    np.testing.assert_allclose(ds.preprocessing["mean"], mean, rtol=1e-6, atol=1e-7)
    csv = tmp_path / "d.csv"  # the same rows as CSV (read whole) give the same arrays
    np.savetxt(csv, np.column_stack([x, y]), delimiter=",", fmt="%.9g", comments="",
               header=",".join([f"f{j}" for j in range(6)] + ["label"]))  # fmt: skip
    same = file_dataset.read_csv(csv, "label", test_fraction=0.25, split_seed=3)
    np.testing.assert_allclose(same.x_train, ds.x_train, rtol=1e-6, atol=1e-6)


def test_the_parts_share_one_aligned_read_only_array_that_the_device_array_aliases(tmp_path):
    import jax

    x, y = data(rows=GROUP + 10, features=4)
    write_parquet(tmp_path / "d.parquet", x, y)
    ds = file_dataset.read_csv(tmp_path / "d.parquet", "label", test_fraction=0.2)
    assert np.shares_memory(ds.x_train.base, ds.x_test)
    assert ds.x_train.ctypes.data % 64 == 0
    assert not ds.x_train.flags.writeable and not ds.x_test.flags.writeable
    assert jax.device_put(ds.x_train).unsafe_buffer_pointer() == ds.x_train.ctypes.data


def child():
    """Read the file ``sys.argv[2]`` after ``sys.argv[1]`` (a small one: the fixed costs of a first
    read); print the peak resident memory above that, in bytes."""

    def peak():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))

    import pyarrow.parquet  # noqa: F401  (imports are the fixed cost, not the data's)

    import jaxmlp.io.file_dataset as fd

    fd.read_csv(sys.argv[1], "label", test_fraction=0.2)
    before = peak()
    ds = fd.read_csv(sys.argv[2], "label", test_fraction=0.2)
    print(json.dumps({"peak": peak() - before, "values": ds.x_train.nbytes + ds.x_test.nbytes}))


@thorough_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_large_parquet_file_is_held_once(tmp_path):
    """200 MB of float32 values are held once while read, split and standardised: the peak stays
    under 1.5 times their size (a second copy would be 2 times; the rest is the row groups being
    decoded, seen 1.14-1.34 times; a pyarrow table, its conversion and a fancy-indexed split took
    3.4 times)."""
    x, y = data()
    write_parquet(tmp_path / "big.parquet", x, y)
    write_parquet(tmp_path / "small.parquet", x[:1000], y[:1000])
    del x, y
    seen = child_json(
        "tests.test_large_files", str(tmp_path / "small.parquet"), str(tmp_path / "big.parquet")
    )
    assert seen["values"] == ROWS * FEATURES * 4
    assert seen["peak"] < 1.5 * seen["values"], seen


def test_errors_in_a_later_row_group_name_the_files_row(tmp_path):
    x, y = data(rows=3 * GROUP, features=3)
    x[2 * GROUP + 7, 1] = np.nan
    write_parquet(tmp_path / "nan.parquet", x, y)
    with pytest.raises(
        ValueError, match=rf"nan.parquet, data row {2 * GROUP + 8}, column 'f1': nan"
    ):
        file_dataset.read_csv(tmp_path / "nan.parquet", "label", missing="error")
    x, y = data(rows=3 * GROUP, features=3)
    colour = np.array(["red", "blue"] * (3 * GROUP // 2), dtype=object)
    write_parquet(tmp_path / "ok.parquet", x, y, colour=colour)
    colour[GROUP + 5] = "green"
    write_parquet(tmp_path / "test.parquet", x, y, colour=colour)
    with pytest.raises(
        ValueError, match=rf"test.parquet, data row {GROUP + 6}, column 'colour': category 'green'"
    ):
        file_dataset.read_csv(tmp_path / "ok.parquet", "label", test=tmp_path / "test.parquet")
    missing = data(rows=2 * GROUP, features=3)[0].astype(object)
    missing[GROUP + 2, 2] = None
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = {f"f{j}": pa.array(missing[:, j].tolist(), pa.float64()) for j in range(3)}
    pq.write_table(pa.table(table | {"label": [0, 1] * GROUP}), tmp_path / "gap.parquet",
                   row_group_size=GROUP)  # fmt: skip
    with pytest.raises(
        ValueError, match=rf"gap.parquet, data row {GROUP + 3}, column 'f2': the value is missing"
    ):
        file_dataset.read_csv(tmp_path / "gap.parquet", "label", missing="error")


def test_a_row_group_that_fails_to_decode_is_named(tmp_path):
    x, y = data(rows=3 * GROUP, features=3)
    path = tmp_path / "broken.parquet"
    write_parquet(path, x, y)
    import pyarrow.parquet as pq

    column = pq.ParquetFile(path).metadata.row_group(1).column(2)
    raw = bytearray(path.read_bytes())
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    raw[start : start + column.total_compressed_size] = bytes(column.total_compressed_size)
    path.write_bytes(bytes(raw))
    with pytest.raises(
        ValueError, match=r"broken.parquet, column 'f2', row group 1: cannot be read"
    ):
        file_dataset.read_csv(path, "label")


def test_only_text_columns_are_read_to_learn_the_encoding(tmp_path, monkeypatch):
    from jaxmlp.io import columns

    x, y = data(rows=100, features=3)
    colour = np.array(["red", "blue"] * 50, dtype=object)
    write_parquet(tmp_path / "d.parquet", x, y, colour=colour)
    read = []
    original = columns.ParquetColumns.column
    monkeypatch.setattr(
        columns.ParquetColumns, "column", lambda s, n: read.append(n) or original(s, n)
    )
    source = tables.open_columns(tmp_path / "d.parquet")
    enc = tables.encoding(source, tmp_path / "d.parquet", ["f0", "f1", "f2", "colour"])
    assert read == ["colour"] and enc.input_names[-2:] == ("colour=blue", "colour=red")
