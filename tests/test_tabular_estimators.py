"""TabularClassifier and TabularRegressor: DataFrames with text columns and gaps, trained as
``jaxmlp train`` trains a data file, scored as scikit-learn scores, cloned as scikit-learn clones."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402

from jaxmlp.sklearn import TabularClassifier, TabularRegressor  # noqa: E402


def table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    kind = rng.choice(["x", "y", "z"], n)
    frame = pd.DataFrame({"a": a, "kind": kind, "noise": rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame.loc[rng.random(n) < 0.1, "kind"] = None
    signal = np.nan_to_num(frame["a"].to_numpy()) + 2.0 * (frame["kind"] == "y")
    return frame, signal


def test_the_classifier_learns_a_frame_with_gaps_and_gives_its_own_labels():
    frame, signal = table()
    labels = np.where(signal > 0.5, "high", "low")
    est = TabularClassifier(ensemble=2, epochs=60).fit(frame[:200], labels[:200])
    assert list(est.classes_) == ["high", "low"]
    proba = est.predict_proba(frame[200:])
    assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    pred = est.predict(frame[200:])
    assert set(pred) <= {"high", "low"}
    assert est.score(frame[200:], labels[200:]) == accuracy_score(labels[200:], pred) > 0.85
    assert est.summary_["ensemble"]["members"] == 2
    assert clone(est).get_params() == est.get_params()


def test_the_regressor_predicts_on_the_targets_scale_from_an_array_too():
    frame, signal = table(seed=1)
    y = 1000 + 50 * signal
    est = TabularRegressor(ensemble=2, bag=0.8, epochs=60).fit(frame[:200], y[:200])
    assert r2_score(y[200:], est.predict(frame[200:])) > 0.8
    assert (
        est.summary_["ensemble"]["member_rows"] == 160
    )  # 0.8 of 200 (epochs: no validation split)
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match=r"bag must be a number in \(0, 1\], got "):
            TabularRegressor(ensemble=2, bag=bad, epochs=1).fit(frame[:50], y[:50])
    x = np.random.default_rng(2).normal(size=(150, 2))
    arr = TabularRegressor(ensemble=1, epochs=40).fit(x, 3 * x[:, 0] - x[:, 1])
    assert arr.predict(x).shape == (150,) and arr.score(x, 3 * x[:, 0] - x[:, 1]) > 0.9


def test_bad_input_is_refused_before_training():
    frame, _ = table(n=20)
    with pytest.raises(ValueError, match="at least 2 classes"):
        TabularClassifier().fit(frame, ["a"] * 20)
    with pytest.raises(ValueError, match="X has 20 rows but y has 3"):
        TabularRegressor().fit(frame, [1.0, 2.0, 3.0])
