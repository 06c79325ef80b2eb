"""A data file's defaults: columns left out (ids, constants, --ignore), missing values imputed
with an indicator, robust scaling with smooth clipping, regression targets standardised and
folded back, labels smoothed, an ensemble merged into one network, a time budget; each learned
from the training rows, kept in the model file, and applied the same way by predict, evaluate and
the ONNX graph. And the bad input that stops a run in one line."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmlp import MLP
from jaxmlp.cli import time_budget
from jaxmlp.ensemble import member_params, merge_members
from jaxmlp.io import file_dataset, modelfile, prediction, tables
from jaxmlp.io.file_dataset import RECIPE
from jaxmlp.training.arguments import FitOptions, training_update
from jaxmlp.training.target_transforms import fold_target_scale, smoothed_labels, target_scale
from tests.cli_helpers import assert_one_line_error, run, run_json


def frame(n=60, seed=0):
    """Rows with a row number, a constant, a heavy-tailed number with gaps, a category with
    gaps, and a regression target."""
    rng = np.random.default_rng(seed)
    heavy = np.round(rng.lognormal(0, 1.5, n), 4)
    kind = rng.choice(["a", "b", "c"], n)
    target = 3 * np.log(heavy) + (kind == "b") + rng.normal(0, 0.1, n) + 100
    rows = []
    for i in range(n):
        h = "" if i % 7 == 3 else f"{heavy[i]}"
        k = "" if i % 11 == 5 else kind[i]
        rows.append(f"{i + 1},1,{h},{k},{target[i]:.6f}")
    return "id,const,heavy,kind,y\n" + "\n".join(rows) + "\n", heavy, kind, target


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_ids_and_constants_are_left_out_and_gaps_get_the_training_median_and_an_indicator(
    tmp_path,
):
    text, heavy, kind, _ = frame()
    ds = file_dataset.read_table(write(tmp_path, text), "y", test_fraction=0, scaling="standard")
    left = {d["name"]: d["why"] for d in ds.preprocessing["left_out"]}
    assert set(left) == {"id", "const"} and "row number" in left["id"]
    assert ds.preprocessing["inputs"] == [
        "heavy", "heavy missing", "kind=a", "kind=b", "kind=c", "kind missing",
    ]  # fmt: skip
    n = len(heavy)
    gaps = np.arange(n) % 7 == 3
    (heavy_col,) = [f for f in ds.preprocessing["features"] if f["name"] == "heavy"]
    assert heavy_col["fill"] == pytest.approx(np.median(heavy[~gaps]))
    mean, std = np.asarray(ds.preprocessing["mean"]), np.asarray(ds.preprocessing["std"])
    # a category's inputs (its levels and its indicator) stay 0 or 1; the numbers are standardised
    np.testing.assert_array_equal(mean[2:6], 0)
    np.testing.assert_array_equal(std[2:6], 1)
    assert set(np.unique(ds.x_train[:, 2:6])) == {0.0, 1.0}
    np.testing.assert_allclose(ds.x_train[:, :2].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(ds.x_train[:, :2].std(0), 1, rtol=1e-5)
    raw = ds.x_train * std + mean  # standard scaling undone: the encoded inputs
    np.testing.assert_allclose(raw[:, 0], np.where(gaps, np.median(heavy[~gaps]), heavy), rtol=1e-5)
    np.testing.assert_array_equal(np.round(raw[:, 1]), gaps)
    kind_gaps = np.arange(n) % 11 == 5
    np.testing.assert_array_equal(np.round(raw[:, 5]), kind_gaps)
    assert np.allclose(raw[kind_gaps, 2:5], 0, atol=1e-5)  # a missing category: no one-hot input
    onehot = np.round(raw[~kind_gaps, 2:5])
    np.testing.assert_array_equal(
        onehot.argmax(1), np.searchsorted(["a", "b", "c"], kind[~kind_gaps])
    )


def test_the_statistics_come_from_the_training_rows_only(tmp_path):
    text, heavy, _, _ = frame(n=80)
    ds = file_dataset.read_table(
        write(tmp_path, text), "y", test_fraction=0.25, split_seed=3, scaling="robust"
    )
    rng = np.random.default_rng(3)
    te = np.sort(rng.permutation(80)[:20])
    tr = np.setdiff1d(np.arange(80), te)
    gaps = np.arange(80) % 7 == 3
    present = heavy[tr][~gaps[tr]]
    (col,) = [f for f in ds.preprocessing["features"] if f["name"] == "heavy"]
    assert col["fill"] == pytest.approx(np.median(present)) and col["clip"] is True
    filled = np.where(gaps[tr], np.median(present), heavy[tr])
    q1, med, q3 = np.percentile(filled, [25, 50, 75])
    assert ds.preprocessing["mean"][0] == pytest.approx(med, rel=1e-5)
    assert ds.preprocessing["std"][0] == pytest.approx((q3 - q1) / 1.349, rel=1e-5)
    z = (filled - med) / ((q3 - q1) / 1.349)
    np.testing.assert_allclose(
        ds.x_train[:, 0], z / np.sqrt(1 + (z / 3) ** 2), rtol=2e-5, atol=1e-6
    )
    assert np.abs(ds.x_train[:, 0]).max() < 3  # smoothly clipped: heavy tails stay below 3
    # robust scaling too leaves a category's inputs (levels and indicator, 2:6) 0 or 1
    np.testing.assert_array_equal(ds.preprocessing["mean"][2:6], 0)
    np.testing.assert_array_equal(ds.preprocessing["std"][2:6], 1)
    assert set(np.unique(ds.x_train[:, 2:6])) == {0.0, 1.0}


def test_missing_values_can_still_be_refused_or_dropped(tmp_path):
    text, *_ = frame()
    p = write(tmp_path, text)
    with pytest.raises(
        ValueError, match=r"data row 4 \(line 5\), column 'heavy': the value is missing"
    ):
        file_dataset.read_table(p, "y", missing="error")
    ds = file_dataset.read_table(p, "y", missing="drop", test_fraction=0)
    assert ds.n_train == sum(1 for i in range(60) if i % 7 != 3 and i % 11 != 5)
    assert "with a missing value" in ds.preprocessing["rows_left_out"]
    assert "heavy missing" not in ds.preprocessing["inputs"]


def test_consecutive_integers_that_are_not_row_numbers_stay(tmp_path):
    rows = "".join(f"{1990 + i},{i % 3},{i * 0.5}\n" for i in range(30))
    ds = file_dataset.read_table(write(tmp_path, "year,k,y\n" + rows), "y")
    assert ds.preprocessing["inputs"] == ["year", "k"] and ds.preprocessing["left_out"] == []


def test_ignore_leaves_columns_out_and_refuses_unknown_names_and_the_target(tmp_path):
    text, *_ = frame()
    p = write(tmp_path, text)
    ds = file_dataset.read_table(p, "y", ignore=["kind"], test_fraction=0)
    assert not any(i.startswith("kind") for i in ds.preprocessing["inputs"])
    assert {"name": "kind", "why": "--ignore"} in ds.preprocessing["left_out"]
    with pytest.raises(ValueError, match="no such column"):
        file_dataset.read_table(p, "y", ignore=["nope"])
    with pytest.raises(ValueError, match="that is the target"):
        file_dataset.read_table(p, "y", ignore=["y"])


def test_prediction_encodes_new_rows_as_training_did(tmp_path):
    text, *_ = frame()
    p = write(tmp_path, text)
    ds = file_dataset.read_table(p, "y", scaling="robust")
    net = MLP(
        sizes=(ds.n_features, 4, 1), activation="tanh", output_activation="identity", loss="mse"
    )
    params = net.init(jax.random.key(0))
    model = prediction.model_from_run(ds, net, params, {})
    again = modelfile.load(modelfile.save(tmp_path / "m.safetensors", model))
    x = prediction.inputs(again, tables.read(p), p)
    np.testing.assert_array_equal(x, ds.x_train)  # the same encoding, fill, scaling and clipping


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b,y\n1,,1\n2,,2\n3,,3\n", "column 'b' is missing in every row"),
        ("a,y\n1,5\n2,5\n3,5\n4,5.5\n".replace("4,5.5", "4,5"), "classification needs at least 2"),
        ("a,y\n1,5.5\n2,5.5\n3,5.5\n", "has one value"),
        ("".join(["id,y\n"] + [f"{i},{i % 3}\n" for i in range(30)]), "no feature column left"),
        ("a,y\n1,\n2,\n", "missing in every row"),
    ],
)
def test_bad_tables_are_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, text, message):
    p = write(tmp_path, text)
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--save", str(tmp_path / "m.st"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "m.st").exists()


def test_a_category_seen_only_in_the_test_file_is_refused(tmp_path, capsys):
    train = write(
        tmp_path, "".join(["c,x,y\n"] + [f"{'ab'[i % 2]},{i},{i % 2}\n" for i in range(20)])
    )
    test = write(tmp_path, "c,x,y\na,1,0\nz,2,1\n", "t.csv")
    code, _, err = run(capsys, "train", str(train), "--target", "y", "--test", str(test))
    assert_one_line_error(code, err, "category 'z' was not seen in training")


def test_rows_without_a_target_are_left_out_with_a_line(tmp_path, capsys):
    rows = "".join(f"{i},{'' if i % 5 == 0 else i % 2}\n" for i in range(40))
    p = write(tmp_path, "x,y\n" + rows)
    code, out, err = run(capsys, "train", str(p), "--target", "y", "--json", "--ensemble", "1")
    assert code == 0, err
    assert "left out 8 rows of d.csv whose target 'y' is missing" in err


def test_folding_the_target_scale_gives_the_network_on_the_targets_own_scale():
    net = MLP(sizes=(3, 5, 2), activation="tanh", output_activation="identity", loss="mse")
    with jax.enable_x64(True):
        params = net.init(jax.random.key(1), jnp.float64)
        y = np.random.default_rng(0).normal([100.0, -3.0], [20.0, 0.5], (50, 2))
        mu, sigma = target_scale(y, net)
        np.testing.assert_allclose(mu, y.mean(0)) and np.testing.assert_allclose(sigma, y.std(0))
        x = np.random.default_rng(1).normal(size=(7, 3))
        folded = fold_target_scale(jax.tree_util.tree_map(np.asarray, params), mu, sigma)
        want = np.asarray(net.apply(params, x)) * sigma + mu
        np.testing.assert_allclose(np.asarray(net.apply(folded, x)), want, rtol=1e-13)


def test_smoothed_labels_train_with_the_handwritten_gradient():
    from jaxmlp.backprop import backprop
    from jaxmlp.forward import loss_fn

    soft = smoothed_labels(np.array([0, 2, 1]), 3, 0.1, np.float64)
    np.testing.assert_allclose(soft.sum(1), 1) and np.testing.assert_allclose(
        soft[0], [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]
    )
    net = MLP(sizes=(2, 4, 3), activation="tanh", output_activation="softmax", loss="cross_entropy")
    with jax.enable_x64(True):
        params = net.init(jax.random.key(2), jnp.float64)
        x = np.random.default_rng(2).normal(size=(3, 2))
        auto = jax.grad(lambda p: loss_fn(net, p, x, soft))(params)
        hand = backprop(net, params, x, soft)
        for a, h in zip(jax.tree_util.tree_leaves(auto), jax.tree_util.tree_leaves(hand)):
            np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("output, loss", [("identity", "mse"), ("softmax", "cross_entropy")])
def test_an_ensemble_merges_into_one_network_of_the_members_mean(output, loss):
    net = MLP(sizes=(3, 4, 5, 2), activation="relu", output_activation=output, loss=loss)
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(3), 3)
        stacked = jax.vmap(lambda k: net.init(k, jnp.float64))(keys)
        wide, params = merge_members(net, stacked)
        assert wide.sizes == (3, 12, 15, 2)
        x = np.random.default_rng(3).normal(size=(6, 3))
        pre = [  # each member's output pre-activation, up to a constant per row for softmax
            np.asarray(net.apply(member_params(stacked, m), x))
            if output == "identity"
            else np.log(np.asarray(net.apply(member_params(stacked, m), x)))
            for m in range(3)
        ]
        mean = np.mean(pre, axis=0)
        got = np.asarray(wide.apply(params, x))
        if output == "identity":
            np.testing.assert_allclose(got, mean, rtol=1e-12)
        else:  # softmax of the mean logits (log-probabilities differ from logits by a constant)
            want = np.exp(mean - mean.max(1, keepdims=True))
            np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), rtol=1e-12)


def test_time_budget_arithmetic():
    assert time_budget.budgeted(1000, 10, per_step=0.01, seconds_left=5) == 450  # 0.9 * 500
    assert time_budget.budgeted(100, 10, per_step=0.01, seconds_left=50) == 100
    assert time_budget.budgeted(1000, 10, per_step=1.0, seconds_left=0.1) == 10  # one chunk
    assert time_budget.members(8, 100, per_step=0.01, seconds_left=5) == 4
    assert time_budget.members(8, 100, per_step=0.01, seconds_left=500) == 8
    assert time_budget.members(8, 100, per_step=1.0, seconds_left=5) == 1
    assert not time_budget.may_bind(10, 10, 100, 60.0)


def test_an_ensembles_budget_times_a_member_on_one_device(monkeypatch):
    """With --devices d, an ensemble's members split over the devices, so the budget's probe
    times one network on one device (its batch need not divide over them) and counts d members
    at a time; one network is timed on the devices it runs on."""
    from jaxmlp.cli.run_config import RunConfig
    from jaxmlp.training.arguments import FitOptions

    seen = []

    def probe(net, params, x, y, options):  # chunks that take no time at all
        seen.append(options.devices)
        for _ in range(options.steps // options.chunk_size):
            options.callback(None, None)

    monkeypatch.setattr(time_budget, "fit_with", probe)
    net = MLP((3, 4, 1), "relu", "identity", "mse")
    params = net.init(jax.random.key(0))
    x, y = np.zeros((64, 3), np.float32), np.zeros((64, 1), np.float32)
    options = FitOptions(steps=100, learning_rate=0.01, batch_size=32, devices=3)
    cfg = RunConfig(devices=3, time_budget=1e-9)  # binds: the probe runs
    for k, devices in ((6, None), (1, 3)):
        seen.clear()
        time_budget.within_budget(net, params, x, y, options, cfg, 0.0, k)
        assert seen == [devices]


def regression_file(tmp_path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = 5000 + 800 * x[:, 0] - 300 * np.tanh(x[:, 1]) + rng.normal(0, 20, n)
    lines = ["a,b,c,y"] + [f"{a:.5f},{b:.5f},{c:.5f},{t:.3f}" for (a, b, c), t in zip(x, y)]
    p = tmp_path / "r.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_a_regression_target_far_from_zero_is_learned_and_saved_on_its_scale(tmp_path, capsys):
    p = regression_file(tmp_path)
    m = tmp_path / "m.safetensors"
    s = run_json(
        capsys, "train", str(p), "--target", "y", "--save", str(m), "--ensemble", "2",
        "--test-fraction", "0.25", "--epochs", "100",
    )  # fmt: skip
    assert s["test_scores"]["r2"] > 0.95, s["test_scores"]
    assert s["target_scaling"]["mean"][0] == pytest.approx(5000, rel=0.1)
    assert s["ensemble"]["members"] == 2 and s["network"]["sizes"] == [3, 512, 1]
    code, out, err = run(capsys, "evaluate", str(m), str(p), "--target", "y", "--json")
    assert code == 0, err
    assert json.loads(out)["r2"] > 0.95


def test_with_no_flag_a_data_file_trains_the_recipe(tmp_path, capsys):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(150, 2))
    rows = "".join(f"{a:.4f},{b:.4f},{'ab'[int(a + b > 0)]}\n" for a, b in x)
    p = write(tmp_path, "a,b,c\n" + rows)
    s = run_json(capsys, "train", str(p), "--target", "c")
    k = RECIPE["ensemble"]
    assert s["ensemble"]["members"] == k and s["ensemble"]["member_sizes"] == [2, 256, 2]
    assert s["network"]["sizes"] == [2, k * 256, 2]
    assert s["schedule"] == "cosine" and s["weight_decay"] == 1e-4 and s["label_smoothing"] == 0.1
    assert s["validation_fraction"] == 0.1 and s["time_budget"]["seconds"] == 50
    assert s["train_accuracy"] > 0.9 and "test_scores" not in s  # every row trains


def test_explicit_flags_train_exactly_what_they_name(tmp_path, capsys):
    p = regression_file(tmp_path, n=120)
    s = run_json(
        capsys, "train", str(p), "--target", "y", "--sizes", "3,8,1", "--steps", "30",
        "--optimizer", "adam", "--learning-rate", "0.01",
    )  # fmt: skip
    assert s["network"]["sizes"] == [3, 8, 1] and s["steps"] == 30
    assert s["schedule"] == "constant" and s["weight_decay"] is None and s["warmup_steps"] == 0
    assert "time_budget" not in s and "ensemble" not in s


def test_a_time_budget_cuts_the_epochs(tmp_path, capsys):
    p = regression_file(tmp_path, n=2000)
    s = run_json(
        capsys, "train", str(p), "--target", "y", "--time-budget", "1", "--ensemble", "1",
        "--epochs", "400",
    )  # fmt: skip
    assert s["time_budget"]["planned_steps"] > s["steps"] > 0


def test_the_onnx_graph_imputes_clips_and_averages_as_predict_does(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    text, *_ = frame()
    text = text.replace("id,const,heavy,kind,y", "id,const,heavy,kind,t")
    lines = text.splitlines()
    lines = [lines[0]] + [
        ln.rsplit(",", 1)[0] + f",{'uv'[i % 2]}" for i, ln in enumerate(lines[1:])
    ]
    p = write(tmp_path, "\n".join(lines) + "\n")
    m, o = tmp_path / "m.safetensors", tmp_path / "m.onnx"
    run_json(
        capsys, "train", str(p), "--target", "t", "--save", str(m), "--ensemble", "2",
        "--scaling", "robust", "--epochs", "40",
    )  # fmt: skip
    code, _, err = run(capsys, "export", str(m), "--format", "onnx", "--output", str(o))
    assert code == 0, err
    model = modelfile.load(m)
    table = tables.read(p)
    want = prediction.outputs(model, prediction.inputs(model, table, p))
    feeds = {}
    for c in model.encoding().columns:
        col = table.column(c.name)
        if c.categories is None:
            feeds[c.name] = col.to_numpy(zero_copy_only=False).astype(np.float32)[:, None]
        else:
            feeds[c.name] = np.asarray([v or "" for v in col.to_pylist()], object)[:, None]
    got = ort.InferenceSession(str(o)).run(["output"], feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_each_member_trains_on_its_own_bag_of_the_training_rows(monkeypatch):
    """``--bag F``: every member its own draw of ``F`` of the training rows, without replacement,
    keyed by the seed (the validation rows stay every member's)."""
    from jaxmlp.cli import ensemble_run

    seen = {}

    def capture(net, members, x, y, **kw):
        seen.update(kw)
        raise StopIteration  # the rows are what this test reads

    monkeypatch.setattr(ensemble_run, "train_population", capture)
    net = MLP((3, 4, 1), "relu", "identity", "mse")
    x, y = np.zeros((200, 3), np.float32), np.zeros((200, 1), np.float32)
    draws = []
    options = FitOptions(steps=10, learning_rate=1e-3, optimizer="adam", batch_size=32,
                         key=jax.random.key(1), validation_fraction=0.1)  # fmt: skip
    for seed in (0, 0, 1):
        with pytest.raises(StopIteration):
            ensemble_run.train_members(
                net, x, y, options, k=4, bag=0.5, seed=seed, init_key=jax.random.key(0),
                dtype=jnp.float32,
            )  # fmt: skip
        rows, valid = np.asarray(seen["train_rows"]), np.asarray(seen["validation_rows"])
        assert rows.shape == (4, 90) and len(valid) == 20  # half of the 180 training rows
        assert all(len(np.unique(r)) == 90 and np.all(np.diff(r) > 0) for r in rows)
        assert not np.isin(rows, valid).any()  # drawn from the training rows alone
        assert len({r.tobytes() for r in rows}) == 4  # four different bags
        draws.append(rows)
    np.testing.assert_array_equal(draws[0], draws[1])  # keyed by the seed
    assert not np.array_equal(draws[0], draws[2])


def test_an_ensemble_clips_and_splits_over_devices_as_one_network_does(monkeypatch):
    """``--clip-norm`` and ``--devices`` reach the population engine, the clipping inside ``fit``'s
    own update (a population with it equals ``fit``: test_members.py; its split over devices:
    test_distributed.py)."""
    from jaxmlp.cli import ensemble_run

    seen = {}

    def capture(net, members, x, y, **kw):
        seen.update(kw)
        raise StopIteration

    monkeypatch.setattr(ensemble_run, "train_population", capture)
    net = MLP((3, 4, 1), "relu", "identity", "mse")
    x, y = np.zeros((64, 3), np.float32), np.zeros((64, 1), np.float32)
    options = FitOptions(steps=10, learning_rate=1e-3, optimizer="adam", batch_size=32,
                         key=jax.random.key(1), clip_norm=0.5, devices=2)  # fmt: skip
    with pytest.raises(StopIteration):
        ensemble_run.train_members(
            net, x, y, options, k=4, bag=None, seed=0, init_key=jax.random.key(0),
            dtype=jnp.float32,
        )  # fmt: skip
    assert seen["devices"] == 2
    # fit's own update, its clipping inside it
    assert seen["optimizer"] is training_update("adam", 1e-3, clip_norm=0.5)[0]
    assert "clip_norm" not in seen


@pytest.mark.parametrize(
    "option, value",
    [("monitor", object()), ("chunk_size", 10), ("callback", print), ("start_step", 5),
     ("validation_data", (np.zeros((4, 3)), np.zeros((4, 1))))],
)  # fmt: skip
def test_an_ensemble_refuses_what_one_compiled_call_cannot_do(option, value):
    """train_members names the fit option an ensemble does not take, before anything trains
    (the command line turns the ensemble off for its flags first)."""
    from jaxmlp.cli import ensemble_run

    options = FitOptions(steps=10, learning_rate=1e-3, optimizer="adam", **{option: value})
    net = MLP((3, 4, 1), "relu", "identity", "mse")
    with pytest.raises(ValueError, match="an ensemble does not take"):
        ensemble_run.train_members(
            net, np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32), options, k=2,
            bag=None, seed=0, init_key=jax.random.key(0), dtype=jnp.float32,
        )  # fmt: skip


def test_an_ensemble_takes_momentum_with_weight_decay_and_says_when_it_diverged(tmp_path, capsys):
    """The members train with fit's own update for the run's flags (test_members: it equals
    fit's), so momentum with an L2 weight decay, once refused for an ensemble, trains; a rate
    that overflows the loss is said in fit's one line (exit 1)."""
    p = regression_file(tmp_path, n=120)
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--ensemble", "2", "--epochs",
                       "20", "--optimizer", "momentum", "--weight-decay", "0.01",
                       "--learning-rate", "5")  # fmt: skip
    assert code == 1 and "training diverged at step" in err


def test_an_ensemble_that_does_not_split_over_the_devices_is_refused(tmp_path, capsys):
    # JAX started first: the command's request for two CPU devices must not change this process's
    jax.devices()
    p = regression_file(tmp_path, n=120)
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--ensemble", "3",
                       "--devices", "2")  # fmt: skip
    assert_one_line_error(code, err, "--ensemble 3 does not split over --devices 2")


def test_a_bag_needs_an_ensemble(tmp_path, capsys):
    p = regression_file(tmp_path, n=120)
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--bag", "0.5",
                       "--ensemble", "1")  # fmt: skip
    assert_one_line_error(code, err, "--bag 0.5 draws each ensemble member's rows")
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--bag", "0")
    assert_one_line_error(code, err, "--bag: expected a number in (0, 1], got '0'")


def test_an_ensemble_bags_each_members_rows_on_the_command_line(tmp_path, capsys):
    p = regression_file(tmp_path, n=120)
    s = run_json(capsys, "train", str(p), "--target", "y", "--bag", "0.5", "--ensemble", "2",
                 "--epochs", "3")  # fmt: skip
    assert s["ensemble"]["bag"] == 0.5 and s["ensemble"]["member_rows"] == 60


def test_patience_without_a_validation_split_is_refused_in_one_line(tmp_path, capsys):
    """--epochs trains with no validation split of the recipe's, so --patience has no loss to
    watch: refused before training, naming the flag that gives it one."""
    p = regression_file(tmp_path, n=120)
    code, _, err = run(capsys, "train", str(p), "--target", "y", "--epochs", "3",
                       "--patience", "2")  # fmt: skip
    assert_one_line_error(code, err, "--patience needs --validation-fraction")
    # (with --validation-fraction it trains: test_options_by_path.py's estimator column)
