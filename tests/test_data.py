"""Data sets: shapes, splits, standardisation, and the CSV reader's errors (which name the line)."""

import numpy as np
import pytest

from jaxmlp.io import builtin, file_dataset


def test_builtin_data_sets():
    t = builtin.load("tutorial")
    assert t.x_train.shape == (1, 2) and t.y_train.tolist() == [
        [pytest.approx(0.01), pytest.approx(0.99)]
    ]
    x = builtin.load("xor")
    assert x.x_train.tolist() == [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
    ] and x.y_train.ravel().tolist() == [0, 1, 1, 0]
    d = builtin.load("digits")
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == np.int32
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    # Stratified: every class keeps its share (within one example) in the test part.
    counts_all = np.bincount(np.concatenate([d.y_train, d.y_test]))
    assert np.all(np.abs(np.bincount(d.y_test) - counts_all * 0.25) <= 1)
    # Fixed: the same split every time.
    assert np.array_equal(builtin.load("digits").y_test, d.y_test)


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_digits_are_read_from_scikit_learns_file_as_load_digits_returns_them(monkeypatch):
    import importlib.util
    import types

    from sklearn.datasets import load_digits

    reference = load_digits()
    x, y = builtin.digits_arrays()
    assert np.array_equal(x, reference.data) and np.array_equal(y, reference.target)
    # Where the shipped file is not found, load_digits reads it; without scikit-learn, a clear error.
    elsewhere = types.SimpleNamespace(submodule_search_locations=["/nonexistent"])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: elsewhere)
    x2, y2 = builtin.digits_arrays()
    assert np.array_equal(x2, x) and np.array_equal(y2, y) and y2.dtype == np.int32
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"needs scikit-learn: pip install 'jaxmlp\[digits\]'"):
        builtin.digits_arrays()


def test_csv_classification_and_regression_are_guessed_and_overridable(tmp_path):
    rows = "\n".join(
        f"{2 * i},{i % 3 * 0.5},{'cat' if i % 2 else 'dog'},{i * 0.1}" for i in range(40)
    )
    p = write(
        tmp_path, "a,b,label,value\n" + rows.replace(",cat", ",7").replace(",dog", ",8") + "\n"
    )
    # With two feature columns beside each target: label is classification (2 integer classes).
    ds = file_dataset.read_csv(p, "label", test_fraction=0.2)
    assert ds.task == "classification" and ds.n_outputs == 2 and ds.class_names == ("7", "8")
    assert ds.n_features == 3 and ds.x_train.shape[0] + ds.x_test.shape[0] == 40
    reg = file_dataset.read_csv(p, "value")
    assert reg.task == "regression" and reg.y_train.shape[1] == 1 and reg.defaults["loss"] == "mse"
    forced = file_dataset.read_csv(p, "label", task="regression")
    assert forced.task == "regression"
    text = write(
        tmp_path,
        "x,y\n" + "\n".join(f"{i},{'yes' if i % 2 else 'no'}" for i in range(10)) + "\n",
        "t.csv",
    )
    assert file_dataset.read_csv(text, "y").class_names == ("no", "yes")


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("a,b\n1,2\n3,4\n", "c", "no target column 'c'; the columns are a, b"),
        (
            "a,b,t\n1,2,0\n3,x,1\n4,5,0\n",
            "t",
            r"data row 2 \(line 3\), column 'b': 'x' is not a number",
        ),
        ("a,b,t\n1,2,0\n3,4\n5,6,1\n", "t", "not a readable CSV file: .*Expected 3 columns, got 2"),
        (
            "a,b,t\n1,2,0\n3,nan,1\n",
            "t",
            r"data row 2 \(line 3\), column 'b': the value is missing",
        ),
        (
            "a,b,t\n1,2,0\n3,inf,1\n",
            "t",
            r"data row 2 \(line 3\), column 'b': inf is not a finite number",
        ),
        ("", "t", "not a readable CSV file"),
        ("a,a,t\n1,2,0\n3,4,1\n", "t", "column names must be unique, but 'a' appears 2 times"),
        ("a,t\n1,0\n", "t", "needs at least 2 data rows"),
        ("a,t\n1,0\n2,0\n", "t", "needs at least 2 classes"),
    ],
)
def test_csv_errors_name_the_row_and_column(tmp_path, text, target, message):
    with pytest.raises(ValueError, match=message):
        file_dataset.read_csv(write(tmp_path, text), target, missing="error")


def test_regression_target_must_be_numeric(tmp_path):
    p = write(tmp_path, "a,t\n1,0.5\n2,oops\n3,1\n")
    with pytest.raises(
        ValueError, match=r"data row 2 \(line 3\), column 't': 'oops' is not a number"
    ):
        file_dataset.read_csv(p, "t", task="regression")


ROWS = [
    (0.5, 1.0, "red", "yes"),
    (-1.0, 2.0, "blue, dark", "no"),
    (2.0, -0.5, "red", "no"),
    (0.0, 0.0, "green", "yes"),
    (1.5, 1.5, "blue, dark", "yes"),
    (-0.5, 0.5, "green", "no"),
]


def dialect(rows, sep=",", bom=False, quote_all=False):
    q = (
        (lambda v: f'"{v}"')
        if quote_all
        else (lambda v: f'"{v}"' if sep in str(v) or "," in str(v) else str(v))
    )
    lines = [sep.join(q(h) for h in ("a", "b", "colour", "label"))]
    lines += [sep.join(q(v) for v in r) for r in rows]
    return ("\ufeff" if bom else "") + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "sep,bom,quote_all",
    [(",", False, False), (";", True, False), ("\t", False, True), ("|", True, True)],
)
def test_csv_dialects_read_alike(tmp_path, sep, bom, quote_all):
    p = tmp_path / "d.csv"
    p.write_text(dialect(ROWS, sep, bom, quote_all), encoding="utf-8")
    ds = file_dataset.read_csv(p, "label", test_fraction=0)
    assert ds.preprocessing["inputs"] == [
        "a",
        "b",
        "colour=blue, dark",
        "colour=green",
        "colour=red",
    ]
    raw = ds.x_train * np.asarray(ds.preprocessing["std"]) + np.asarray(ds.preprocessing["mean"])
    expected = [[r[0], r[1], r[2] == "blue, dark", r[2] == "green", r[2] == "red"] for r in ROWS]
    np.testing.assert_allclose(raw, np.asarray(expected, float), atol=1e-6)
    assert ds.class_names == ("no", "yes") and ds.y_train.tolist() == [1, 0, 0, 1, 1, 0]
    assert ds.x_train.dtype == np.float32 and ds.test_note is None and ds.x_test is None
    assert (
        file_dataset.read_csv(p, "label", delimiter=sep, test_fraction=0).preprocessing
        == ds.preprocessing
    )


def test_missing_values_are_dropped_on_request(tmp_path):
    p = write(tmp_path, "a,b,t\n1,2,0\n3,,1\n4,5,1\n6,7,0\n")
    ds = file_dataset.read_csv(p, "t", drop_missing=True, test_fraction=0)
    assert ds.x_train.shape == (3, 2)


def test_parquet_and_npz(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.integers(0, 3, 40)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    pq.write_table(
        pa.table({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "y": y}), tmp_path / "d.parquet"
    )
    a = file_dataset.read_csv(tmp_path / "d.npz", "y", test_fraction=0.2)
    b = file_dataset.read_csv(tmp_path / "d.parquet", "y", test_fraction=0.2)
    assert a.n_features == 3 and a.task == "classification" and a.n_outputs == 3
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    by_name = builtin.load("csv", str(tmp_path / "d.npz"), test_fraction=0.2)  # target: its y
    np.testing.assert_array_equal(by_name.y_train, a.y_train)
    np.savez(tmp_path / "bad.npz", x=np.where(x > 2, np.nan, x), y=y)
    with pytest.raises(ValueError, match=r"bad.npz, data row \d+, column 'x\d': nan"):
        file_dataset.read_csv(tmp_path / "bad.npz", "y", missing="error")  # no CSV line numbers


def test_parquet_categories_read_as_text_whatever_their_encoding(tmp_path):
    """A pandas category saves as a dictionary column; codes saved as strings are categories."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    colour = ["red", "blue", "green", "red"] * 10
    code = ["10", "20", "30", "10"] * 10
    y = [0, 1, 1, 0] * 10
    plain = pa.table({"colour": colour, "code": code, "y": y})
    encoded = pa.table(
        {
            "colour": pa.array(colour).dictionary_encode(),
            "code": pa.array(code).dictionary_encode(),
            "y": y,
        }
    )
    pq.write_table(plain, tmp_path / "plain.parquet")
    pq.write_table(encoded, tmp_path / "encoded.parquet")
    a = file_dataset.read_csv(tmp_path / "plain.parquet", "y")
    b = file_dataset.read_csv(tmp_path / "encoded.parquet", "y")
    assert a.n_features == 6  # 3 colours + 3 codes, one-hot
    np.testing.assert_array_equal(a.x_train, b.x_train)


def test_a_test_file_may_order_columns_otherwise_but_must_know_its_categories(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text(dialect(ROWS))
    test = write(
        tmp_path, 'label,colour,b,a\nyes,red,1.0,0.5\nno,"blue, dark",2.0,-1.0\n', "test.csv"
    )
    ds = file_dataset.read_csv(train, "label", test=test)
    np.testing.assert_array_equal(ds.x_test, ds.x_train[:2])
    assert ds.y_test.tolist() == [1, 0]
    unseen = write(tmp_path, "label,colour,b,a\nyes,purple,1,2\n", "u.csv")
    with pytest.raises(ValueError, match="category 'purple' was not seen in training"):
        file_dataset.read_csv(train, "label", test=unseen)
    missing = write(tmp_path, "label,b,a\nyes,1,2\n", "m.csv")
    with pytest.raises(ValueError, match="no column 'colour'"):
        file_dataset.read_csv(train, "label", test=missing)
    new_class = write(tmp_path, "label,colour,b,a\nmaybe,red,1,2\n", "c.csv")
    with pytest.raises(ValueError, match="class 'maybe' does not occur in the training data"):
        file_dataset.read_csv(train, "label", test=new_class)


def test_the_split_follows_its_seed_and_fraction(tmp_path):
    p = write(tmp_path, "a,t\n" + "\n".join(f"{i % 7},{i * 0.5}" for i in range(50)) + "\n")
    a = file_dataset.read_csv(p, "t", test_fraction=0.3, split_seed=1)
    b = file_dataset.read_csv(p, "t", test_fraction=0.3, split_seed=2)
    assert a.x_test.shape[0] == 15 and a.task == "regression"
    assert not np.array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(
        a.y_test, file_dataset.read_csv(p, "t", test_fraction=0.3, split_seed=1).y_test
    )


def test_unknown_data_set_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="unknown data set 'mnist'; expected one of tutorial, xor, digits, csv"
    ):
        builtin.load("mnist")


def test_a_column_whose_type_changes_after_the_first_block_is_read_whole(tmp_path):
    """The file is parsed in blocks of csv_reader.BLOCK bytes; integers in the first and a decimal
    or a word further down still read as the whole file says."""
    from jaxmlp.io import tables

    n = 600_000  # about 3 MB: several blocks
    rows = [f"{i % 7},{i % 2}" for i in range(n)]
    path = tmp_path / "late.csv"
    path.write_text("a,t\n" + "\n".join(rows + ["2.5,1"]) + "\n")
    column = tables.read(path).column("a")
    assert str(column.type) == "double" and column[n].as_py() == 2.5 and column[1].as_py() == 1
    path.write_text("a,t\n" + "\n".join(rows + ["abc,1"]) + "\n")
    with pytest.raises(ValueError, match=rf"data row {n + 1} \(line {n + 2}\), column 'a'"):
        file_dataset.read_table(path, "t")
