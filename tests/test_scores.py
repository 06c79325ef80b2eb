"""The numbers users read: accuracy, balanced accuracy and log loss, or R^2, RMSE and MAE, each
beside the trivial baseline's (the training rows' majority class and class frequencies, or their
mean), after training and in evaluate; counted a batch at a time, and across processes, as
scikit-learn counts them on all the rows at once."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

from jaxmlp.evaluation import Totals
from tests.cli_helpers import run, run_json


def batches(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def classification(rng, n=257, k=4):
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2 * np.eye(k)[labels] * (rng.random(n) < 0.7)[:, None]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probs


def test_classification_scores_and_the_majority_baseline_equal_scikit_learns():
    rng = np.random.default_rng(0)
    labels, probs = classification(rng)
    train_labels = rng.choice(4, 500, p=[0.1, 0.5, 0.3, 0.1])
    reference = Totals.reference_of("classification", train_labels, 4)
    totals = Totals("classification", 4, probabilities=True, reference=reference)
    for part in batches(len(labels), 50):
        totals.add(labels[part], probs[part], np.zeros(len(probs[part])))
    got = totals.result()
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, probs.argmax(1)), abs=1e-15)
    assert got["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(labels, probs.argmax(1)), abs=1e-12
    )
    assert got["log_loss"] == pytest.approx(log_loss(labels, probs, labels=range(4)), rel=1e-12)
    majority = np.bincount(train_labels, minlength=4).argmax()
    prior = np.bincount(train_labels, minlength=4) / len(train_labels)
    base = got["baseline"]
    assert base["accuracy"] == pytest.approx(accuracy_score(labels, [majority] * len(labels)))
    assert base["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(labels, [majority] * len(labels))
    )
    assert base["log_loss"] == pytest.approx(
        log_loss(labels, np.tile(prior, (len(labels), 1)), labels=range(4)), rel=1e-12
    )


def test_one_logistic_output_gives_the_binary_log_loss():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 100)
    p = np.clip(0.5 + (labels - 0.5) * rng.random(100), 0.01, 0.99)
    totals = Totals("classification", 2, probabilities=True)
    totals.add(labels[:, None].astype(float), p[:, None], np.zeros(100))
    assert totals.result()["log_loss"] == pytest.approx(log_loss(labels, p), rel=1e-12)
    assert "baseline" not in totals.result()  # no training statistics, no baseline


def test_regression_scores_and_the_mean_baseline_equal_scikit_learns():
    rng = np.random.default_rng(2)
    t = rng.normal(3.0, 2.0, 300)
    o = t + rng.normal(0, 0.7, 300)
    train_mean = 2.8
    totals = Totals("regression", reference={"mean": train_mean})
    for part in batches(300, 64):
        totals.add(t[part, None], o[part, None], np.zeros(len(t[part])))
    got = totals.result()
    assert got["r2"] == pytest.approx(r2_score(t, o), rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, o)), rel=1e-12)
    assert got["mae"] == pytest.approx(mean_absolute_error(t, o), rel=1e-12)
    constant = np.full(300, train_mean)
    base = got["baseline"]
    assert base["r2"] == pytest.approx(r2_score(t, constant), rel=1e-9) and base["r2"] < 0
    assert base["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, constant)), rel=1e-12)
    assert base["mae"] == pytest.approx(mean_absolute_error(t, constant), rel=1e-12)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_sums_of_several_processes_give_the_scores_of_all_the_rows(task):
    rng = np.random.default_rng(3)
    if task == "classification":
        y, out = classification(rng, 200, 3)
        reference = {"class_counts": [5, 9, 2]}
    else:
        y = rng.normal(size=(200, 1))
        out = y + rng.normal(0, 0.3, (200, 1))
        reference = {"mean": 0.1}
    whole = Totals(task, 3, probabilities=True, reference=reference)
    whole.add(y, out, np.zeros(200))
    parts = []
    for part in (slice(0, 70), slice(70, 200)):
        t = Totals(task, 3, probabilities=True, reference=reference)
        t.add(y[part], out[part], np.zeros(len(out[part])))
        parts.append(t.as_vector())
    summed = Totals.summed(task, 3, np.stack(parts), True, reference).result()
    for key, value in whole.result().items():
        if isinstance(value, float):
            assert summed[key] == pytest.approx(value, rel=1e-12), key
        elif isinstance(value, dict):
            for k, v in value.items():
                assert summed[key][k] == (
                    pytest.approx(v, rel=1e-12) if isinstance(v, float) else v
                )


def regression_file(path, n=200, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = 3 * a - 2 * b + rng.normal(0, 0.1, n) + 10
    path.write_text("a,b,y\n" + "\n".join(f"{a[i]:.5f},{b[i]:.5f},{y[i]:.5f}" for i in range(n)))
    return path


def test_train_and_evaluate_report_the_scores_beside_the_baseline(tmp_path, capsys):
    data = regression_file(tmp_path / "reg.csv")
    model = tmp_path / "m.safetensors"
    summary = run_json(
        capsys, "train", "csv", str(data), "--target", "y", "--save", str(model), "--steps", "300",
        "--test-fraction", "0.2",
    )  # fmt: skip
    test = summary["test_scores"]
    assert set(test) >= {"rows", "r2", "rmse", "mae", "baseline"}
    assert test["baseline"]["rule"] == "the training rows' mean" and test["baseline"]["r2"] <= 0
    assert test["r2"] > test["baseline"]["r2"] and test["rmse"] < test["baseline"]["rmse"]
    assert summary["baseline"]["mean"] == pytest.approx(10, abs=1.0)
    evaluated = run_json(capsys, "evaluate", str(model), str(data))
    assert evaluated["baseline"]["mae"] > evaluated["mae"] and evaluated["rmse"] > 0
    code, out, _ = run(capsys, "evaluate", str(model), str(data))
    assert code == 0
    lines = out.splitlines()
    scores = next(line for line in lines if line.startswith("scores"))
    base = next(line for line in lines if line.startswith("trivial baseline"))
    assert "R^2" in scores and "RMSE" in scores and "MAE" in scores
    assert base.endswith("(the training rows' mean)")
    code, out, _ = run(
        capsys,
        "train",
        "csv",
        str(data),
        "--target",
        "y",
        "--steps",
        "50",
        "--test-fraction",
        "0.2",
    )
    assert any(line.startswith("test scores") for line in out.splitlines())
    assert any(line.startswith("trivial baseline") for line in out.splitlines())
