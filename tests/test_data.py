"""Data sets: shapes, splits, standardisation, and the CSV reader's errors (which name the line)."""

import numpy as np
import pytest

from jaxmlp import data


def test_builtin_data_sets():
    t = data.load("tutorial")
    assert t.x_train.shape == (1, 2) and t.y_train.tolist() == [
        [pytest.approx(0.01), pytest.approx(0.99)]
    ]
    x = data.load("xor")
    assert x.x_train.tolist() == [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
    ] and x.y_train.ravel().tolist() == [0, 1, 1, 0]
    d = data.load("digits")
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == np.int32
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    # Stratified: every class keeps its share (within one example) in the test part.
    counts_all = np.bincount(np.concatenate([d.y_train, d.y_test]))
    assert np.all(np.abs(np.bincount(d.y_test) - counts_all * 0.25) <= 1)
    # Fixed: the same split every time.
    assert np.array_equal(data.load("digits").y_test, d.y_test)


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_classification_and_regression_are_guessed_and_overridable(tmp_path):
    rows = "\n".join(f"{i},{i % 3 * 0.5},{'cat' if i % 2 else 'dog'},{i * 0.1}" for i in range(40))
    p = write(
        tmp_path, "a,b,label,value\n" + rows.replace(",cat", ",7").replace(",dog", ",8") + "\n"
    )
    # With two feature columns beside each target: label is classification (2 integer classes).
    ds = data.read_csv(p, "label")
    assert ds.task == "classification" and ds.n_outputs == 2 and ds.class_names == ("7", "8")
    assert ds.n_features == 3 and ds.x_train.shape[0] + ds.x_test.shape[0] == 40
    reg = data.read_csv(p, "value")
    assert reg.task == "regression" and reg.y_train.shape[1] == 1 and reg.defaults["loss"] == "mse"
    forced = data.read_csv(p, "label", task="regression")
    assert forced.task == "regression"
    text = write(
        tmp_path,
        "x,y\n" + "\n".join(f"{i},{'yes' if i % 2 else 'no'}" for i in range(10)) + "\n",
        "t.csv",
    )
    assert data.read_csv(text, "y").class_names == ("no", "yes")


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("a,b\n1,2\n3,4\n", "c", "no target column 'c'; the columns are a, b"),
        ("a,b,t\n1,2,0\n3,x,1\n", "t", "line 3, column 'b': 'x' is not a finite number"),
        ("a,b,t\n1,2,0\n3,4\n5,6,1\n", "t", "line 3: 2 fields, but the header has 3"),
        ("a,b,t\n1,2,0\n3,nan,1\n", "t", "line 3, column 'b': 'nan' is not a finite number"),
        ("", "t", "is empty"),
        ("a,t\n1,0\n", "t", "needs at least 2 data rows"),
        ("a,t\n1,0\n2,0\n", "t", "needs at least 2 classes"),
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, target, message):
    with pytest.raises(ValueError, match=message):
        data.read_csv(write(tmp_path, text), target)


def test_regression_target_must_be_numeric(tmp_path):
    p = write(tmp_path, "a,t\n1,0.5\n2,oops\n3,1\n")
    with pytest.raises(ValueError, match="line 3, column 't': 'oops' is not a number"):
        data.read_csv(p, "t", task="regression")


def test_unknown_data_set_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="unknown data set 'mnist'; expected one of tutorial, xor, digits, csv"
    ):
        data.load("mnist")
