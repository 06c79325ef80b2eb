"""`jaxmlp train` and `jaxmlp sweep` end to end on small step counts; checkpoints, resume, interrupts."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxmlp.io import checkpoint as ckpt
from jaxmlp.training import population
from tests.cli_helpers import assert_one_line_error, run, run_json
from tests.settings import thorough_only

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.float64
def test_train_tutorial_reaches_the_seed_network_result(capsys):
    d = run_json(capsys, "train", "tutorial", "--x64")
    assert d["steps"] == 10_000 and d["dtype"] == "float64"
    assert d["final_loss"] == pytest.approx(3.5101877829788e-05, rel=1e-12)
    for key in ("final_loss", "steps", "seconds"):
        assert key in d


def test_train_xor_gets_all_four_cases_and_plots(tmp_path, capsys):
    d = run_json(capsys, "train", "xor", "--plot", str(tmp_path))
    assert d["train_accuracy"] == 1.0
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
    assert (tmp_path / "decision_boundary.png").read_bytes()[:8] == PNG


def test_train_digits_small_run_with_backprop(tmp_path, capsys):
    d = run_json(
        capsys, "train", "digits", "--steps", "60", "--grad", "backprop", "--plot", str(tmp_path)
    )
    assert d["steps"] == 60 and 0.5 < d["test_accuracy"] <= 1.0 and 0.5 < d["train_accuracy"] <= 1.0
    assert {"final_loss", "test_loss", "seconds"} <= set(d)
    assert (tmp_path / "confusion.png").read_bytes()[:8] == PNG


def test_train_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    rows = "\n".join(f"{a:.3f},{b:.3f},{'pos' if a + b > 0 else 'neg'}" for a, b in x)
    path = tmp_path / "d.csv"
    path.write_text("a,b,sign\n" + rows + "\n")
    argv = ("--target", "sign", "--steps", "300", "--test-fraction", "0.2")
    d = run_json(capsys, "train", "csv", str(path), *argv)
    assert d["train_accuracy"] > 0.9 and "test_accuracy" in d
    direct = run_json(capsys, "train", str(path), *argv)
    assert direct.pop("seconds") >= 0 and d.pop("seconds") >= 0
    assert direct == d  # a file in the data set's place is the csv data set
    assert_one_line_error(
        *run(capsys, "train", "csv", str(path), "--target", "missing")[::2],
        "no target column 'missing'",
    )


def test_train_csv_file_options(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    colour = rng.choice(["red", "blue"], 60)
    lines = [
        f'{a:.3f};"{c}";{"pos" if a + b > 0 else "neg"};{b:.3f}' for (a, b), c in zip(x, colour)
    ]
    train = tmp_path / "train.csv"
    train.write_text("\ufeffa;colour;sign;b\n" + "\n".join(lines[:50]) + "\n", encoding="utf-8")
    test = tmp_path / "test.csv"
    test.write_text(
        "sign,b,colour,a\n"
        + "\n".join(
            f"{s},{b},{c},{a}"
            for a, c, s, b in (ln.replace('"', "").split(";") for ln in lines[50:])
        )
        + "\n"
    )
    d = run_json(
        capsys,
        "train",
        "csv",
        str(train),
        "--target",
        "sign",
        "--test",
        str(test),
        "--steps",
        "200",
    )
    assert d["network"]["sizes"][0] == 4 and d["test_accuracy"] is not None  # a, b, colour=blue/red
    no_test = (
        "train",
        "csv",
        str(train),
        "--target",
        "sign",
        "--test-fraction",
        "0.001",
        "--steps",
        "5",
    )
    d = run_json(capsys, *no_test)
    assert d["test_loss"] is None and d["test_accuracy"] is None and "no test set" in d["test_note"]
    code, out, err = run(capsys, *no_test)
    assert code == 0 and "no test set" in out
    for argv, needle in [
        (["--delimiter", ";;"], "--delimiter must be one character"),
        (["--test-fraction", "1.5"], "--test-fraction must lie in [0, 1)"),
    ]:
        assert_one_line_error(
            *run(capsys, "train", "csv", str(train), "--target", "sign", *argv)[::2], needle
        )
    assert_one_line_error(
        *run(capsys, "train", "xor", "--drop-missing")[::2],
        "--drop-missing apply to data files only",
    )


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["train", "mnist"],
            "'mnist' is neither a data set (tutorial, xor, digits, csv) nor a file",
        ),
        (["train", "mnist", "x.csv"], "unknown data set 'mnist'; expected one of tutorial, xor"),
        (
            ["train", "digits", "--batch-size", "5000"],
            "--batch-size 5000 is larger than the digits training set (1347 examples)",
        ),
        (["train", "digits", "--sizes", "4,10"], "sizes 4,10 do not fit the digits data"),
        (["train", "xor", "--learning-rate", "-1"], "expected a positive float"),
        (["train", "xor", "--steps", "0"], "expected a positive int"),
        (["train", "xor", "--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["train", "xor", "--steps", "5", "--epochs", "2"], "give --steps or --epochs, not both"),
        (["train", "xor", "--resume"], "--resume needs --checkpoint DIR"),
        (["train", "csv"], "needs a file"),
        (["train", "xor", "somefile.csv"], "takes no file argument"),
    ],
)
def test_train_user_errors(capsys, argv, needle):
    assert_one_line_error(*run(capsys, *argv)[::2], needle)


def checkpoint_arrays(directory):
    with np.load(os.path.join(directory, ckpt.FILENAME), allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith(("params/", "opt_state/", "key"))}


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, capsys):
    common = [
        "train",
        "digits",
        "--sizes",
        "64,16,10",
        "--batch-size",
        "32",
        "--chunk-size",
        "20",
        "--json",
    ]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert run(capsys, *common, "--steps", "100", "--checkpoint", a)[0] == 0
    assert run(capsys, *common, "--steps", "40", "--checkpoint", b)[0] == 0
    code, out, _ = run(capsys, *common, "--steps", "100", "--checkpoint", b, "--resume")
    assert code == 0 and json.loads(out)["steps"] == 100
    ca, cb = checkpoint_arrays(a), checkpoint_arrays(b)
    assert ca.keys() == cb.keys()
    for k in ca:
        np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)


def test_resume_refuses_another_architecture_and_a_truncated_file(tmp_path, capsys):
    d = str(tmp_path / "c")
    assert run(capsys, "train", "xor", "--steps", "10", "--checkpoint", d, "--json")[0] == 0
    assert_one_line_error(
        *run(
            capsys,
            "train",
            "xor",
            "--sizes",
            "2,7,1",
            "--steps",
            "20",
            "--checkpoint",
            d,
            "--resume",
        )[::2],
        "different network",
    )
    assert_one_line_error(
        *run(
            capsys,
            "train",
            "xor",
            "--optimizer",
            "adam",
            "--steps",
            "20",
            "--checkpoint",
            d,
            "--resume",
        )[::2],
        "optimizer-state arrays",
    )
    before = (tmp_path / "c" / ckpt.FILENAME).read_bytes()
    assert_one_line_error(  # a new run never overwrites a checkpoint it was not asked to resume
        *run(capsys, "train", "xor", "--steps", "20", "--checkpoint", d)[::2],
        "already holds a checkpoint: pass --resume to continue it",
    )
    assert (tmp_path / "c" / ckpt.FILENAME).read_bytes() == before
    path = tmp_path / "c" / ckpt.FILENAME
    path.write_bytes(path.read_bytes()[:100])
    assert_one_line_error(
        *run(capsys, "train", "xor", "--steps", "20", "--checkpoint", d, "--resume")[::2],
        "is damaged",
    )


@pytest.mark.parametrize(
    "sig", [pytest.param(s, marks=thorough_only) for s in (signal.SIGINT, signal.SIGTERM)]
)
def test_a_signal_saves_a_checkpoint_and_resuming_matches_an_uninterrupted_run(
    tmp_path, capsys, sig
):
    common = [
        "train",
        "digits",
        "--sizes",
        "64,32,10",
        "--batch-size",
        "16",
        "--chunk-size",
        "50",
        "--json",
    ]
    interrupted, whole = str(tmp_path / "i"), str(tmp_path / "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxmlp.cli",
            *common,
            "--steps",
            "100000",
            "--checkpoint",
            interrupted,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(interrupted, ckpt.FILENAME)) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    step = json.loads(out)["steps"]
    assert 0 < step < 100000 and step % 50 == 0
    # Resume to step + 100 and compare with a run that goes there in one go.
    target = str(step + 100)
    # Both in this process (the interruption above needed a process of its own).
    code, _, err = run(capsys, *common, "--steps", target, "--checkpoint", interrupted, "--resume")
    assert code == 0, err
    code, _, err = run(capsys, *common, "--steps", target, "--checkpoint", whole)
    assert code == 0, err
    a, b = checkpoint_arrays(interrupted), checkpoint_arrays(whole)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# A network whose output is unbounded (relu, identity output, mse): a large learning rate diverges.
UNBOUNDED_XOR = [
    "train",
    "xor",
    "--sizes",
    "2,50,1",
    "--activation",
    "relu",
    "--output-activation",
    "identity",
    "--loss",
    "mse",
]


def test_divergence_stops_saves_the_last_finite_parameters_and_says_so(tmp_path, capsys):
    d = str(tmp_path / "div")
    code, out, err = run(
        capsys,
        *UNBOUNDED_XOR,
        "--learning-rate",
        "1e6",
        "--steps",
        "1000",
        "--checkpoint",
        d,
        "--json",
    )
    assert code == 1
    summary = json.loads(out)
    assert summary["diverged_at"] is not None and np.isfinite(summary["final_loss"])
    assert f"diverged at step {summary['diverged_at']}" in err and "last finite loss" in err
    assert ckpt.load(d).step == summary["diverged_at"] - 1 == summary["steps"]
    assert summary["final_loss"] == pytest.approx(summary["last_finite_loss"], rel=1e-6)


def test_clip_norm_keeps_the_same_run_finite(capsys):
    d = run_json(
        capsys,
        *UNBOUNDED_XOR,
        "--learning-rate",
        "0.5",
        "--clip-norm",
        "1",
        "--steps",
        "500",
    )
    assert d["diverged_at"] is None and np.isfinite(d["final_loss"])


def test_sweep_small_grid(tmp_path, capsys):
    plot = tmp_path / "figures" / "sweep.png"
    d = run_json(
        capsys,
        "sweep",
        "--learning-rates",
        "4",
        "--seeds",
        "3",
        "--steps",
        "200",
        "--plot",
        str(plot.parent),
    )
    assert d["nets"] == 12 and d["steps"] == 200
    assert {"nets", "steps", "seconds", "net_steps_per_second"} <= set(d)
    assert d["best"]["final_loss"] <= d["median_final_loss"] and d["diverged"] == 0
    assert d["best"]["learning_rate"] in [pytest.approx(v) for v in np.geomspace(0.01, 100, 4)]
    assert plot.read_bytes()[:8] == PNG


def test_sweep_xor_reports_the_success_rate(capsys):
    d = run_json(
        capsys,
        "sweep",
        "xor",
        "--learning-rates",
        "1",
        "--lr-min",
        "2",
        "--lr-max",
        "2",
        "--seeds",
        "20",
        "--steps",
        "20000",
    )
    assert d["nets"] == 20 and d["all_correct_rate"] == 1.0


@thorough_only
def test_sweep_layout_option(capsys):
    argv = ("sweep", "--learning-rates", "3", "--seeds", "4", "--steps", "300")
    auto = run_json(capsys, *argv)
    vmap = run_json(capsys, *argv, "--layout", "vmap")
    assert (auto["layout"], vmap["layout"]) == ("lanes", "vmap")
    # float32, 300 steps: the two layouts sum in different orders (a few ulp per step).
    assert auto["median_final_loss"] == pytest.approx(vmap["median_final_loss"], rel=1e-4)
    code, _, err = run(capsys, "sweep", "digits", "--layout", "lanes", "--steps", "1")
    assert_one_line_error(code, err, "layout='lanes' takes layers at most 16 wide")


@pytest.mark.parametrize("layout", ["vmap", "lanes"])
def test_sweep_learning_rates_are_data_not_constants(layout):
    import jaxmlp
    from jaxmlp.kernels import lanes

    jitted = lanes.compiled_chunk() if layout == "lanes" else population.run_population_chunk
    net = jaxmlp.MLP((2, 2, 2))
    x, y = np.array([[0.05, 0.1]], np.float32), np.array([[0.01, 0.99]], np.float32)
    population.sweep(net, x, y, learning_rates=[0.1, 0.2], seeds=[0, 1], steps=10, layout=layout)
    before = jitted._cache_size()
    r = population.sweep(
        net, x, y, learning_rates=[0.3, 5.0], seeds=[2, 3], steps=10, layout=layout
    )
    assert before >= 1 and jitted._cache_size() == before  # this layout's loop, compiled once
    assert r.final_loss.shape == (2, 2)


@pytest.mark.float64
@pytest.mark.parametrize("layout", ["vmap", pytest.param("lanes", marks=thorough_only)])
def test_sweep_members_equal_fit_runs(layout):
    import jax

    import jaxmlp

    net = jaxmlp.MLP((2, 3, 2), activation="tanh")
    x = np.array([[0.05, 0.1], [0.5, -0.2]], np.float64)
    y = np.array([[0.01, 0.99], [0.5, 0.5]], np.float64)
    r = population.sweep(
        net,
        x,
        y,
        learning_rates=[0.1, 0.7],
        seeds=[4, 9],
        steps=50,
        dtype="float64",
        layout=layout,
    )
    for i, lr in enumerate([0.1, 0.7]):
        for j, seed in enumerate([4, 9]):
            f = jaxmlp.fit(
                net,
                net.init(jax.random.key(seed), "float64"),
                x,
                y,
                steps=50,
                learning_rate=lr,
                grad="backprop",
            )
            assert r.final_loss[i, j] == pytest.approx(
                float(net.loss_fn(f.params, x, y)), rel=1e-12
            )


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from jaxmlp.cli import progress

    assert isinstance(progress.progress(10), progress.NoProgress) and not isinstance(
        progress.progress(10), progress.Progress
    )
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert isinstance(progress.progress(10), progress.Progress)
    assert not isinstance(progress.progress(10, enabled=False), progress.Progress)


@thorough_only
def test_class_labels_become_one_hot_targets_for_a_squared_error_loss(capsys):
    d = run_json(
        capsys,
        "train",
        "digits",
        "--output-activation",
        "logistic",
        "--loss",
        "half_sse",
        "--steps",
        "300",
    )
    assert d["network"]["loss"] == "half_sse" and d["test_accuracy"] > 0.8
    s = run_json(
        capsys,
        "sweep",
        "digits",
        "--output-activation",
        "logistic",
        "--loss",
        "mse",
        "--learning-rates",
        "2",
        "--seeds",
        "2",
        "--steps",
        "20",
    )
    assert s["nets"] == 4 and 0 <= s["mean_train_accuracy"] <= 1


def test_sweep_refuses_params_not_stacked_per_seed():
    import jaxmlp

    net = jaxmlp.MLP((2, 2, 2))
    stacked = population.init_population(net, [0, 1, 2])
    x, y = np.array([[0.05, 0.1]], np.float32), np.array([[0.01, 0.99]], np.float32)
    with pytest.raises(ValueError, match=r"a leading axis of 2, got leading axes \[3\]"):
        population.sweep(net, x, y, learning_rates=[0.1], seeds=[0, 1], params=stacked, steps=1)


@thorough_only
@pytest.mark.parametrize("data_set", ["csv", "digits", "recipe"])
def test_a_run_imports_only_what_it_uses(tmp_path, data_set):
    """No scikit-learn for a CSV run, nor for digits (its file is read directly), no matplotlib
    without --plot, never torch. And start-up is mostly compiling: a digits run compiles the run's
    keys, the initial draw, the optimizer's state, the training loop with its gradient check, the
    final loss and one evaluation per data part; a conversion or a key split done op by op would
    add programs (17 before). The data-file recipe's ensemble compiles the members' draw, the
    first member, its first batch and its gradient check, the optimizer states and the run (the
    steps before the run op by op were 85 programs more)."""
    path = tmp_path / "d.csv"
    rows = 400 if data_set == "recipe" else 20
    path.write_text("a,b,t\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(rows)) + "\n")
    args = ["csv", str(path), "--target", "t"] if data_set != "digits" else ["digits"]
    steps = [] if data_set == "recipe" else ["--steps", "20"]
    code = (
        "import sys; from jaxmlp.cli import main; "
        f"rc = main(['train', *{args!r}, *{steps!r}, '--json']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'matplotlib', 'torch'}))"
    )
    env = {**os.environ, "JAX_LOG_COMPILES": "1", "JAXMLP_CACHE_DIR": ""}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"
    compiled = sorted(
        line.split("Compiling ")[1].split()[0]
        for line in r.stderr.splitlines()
        if "Compiling " in line
    )
    if data_set == "digits":
        assert compiled == [
            "jit(_evaluate)",
            "jit(_evaluate)",
            "jit(_init)",
            "jit(_run_keys)",
            "jit(init_fn)",
            "jit(loss_fn)",
            "jit(run_chunk)",
        ], compiled
    if data_set == "recipe":
        assert compiled == [
            "jit(_evaluate)",
            "jit(_first_batch)",
            "jit(_first_member)",
            "jit(_init)",
            "jit(_init_stacked)",
            "jit(_run_keys)",
            "jit(_start_state)",
            "jit(_threefry_split)",
            "jit(init_fn)",
            "jit(kernel_errors)",
            "jit(run)",
        ], compiled


def test_weight_decay_and_schedules_from_the_command_line(capsys):
    d = run_json(
        capsys,
        "train",
        "xor",
        "--optimizer",
        "sgd",
        "--steps",
        "40",
        "--weight-decay",
        "0.01",
        "--schedule",
        "cosine",
        "--warmup-steps",
        "5",
    )
    assert (d["weight_decay"], d["schedule"], d["warmup_steps"]) == (0.01, "cosine", 5)
    assert_one_line_error(
        *run(capsys, "train", "xor", "--schedule", "cosine", "--steps", "5")[::2],
        "--weight-decay, --schedule and --warmup-steps need --optimizer",
    )
    assert_one_line_error(
        *run(capsys, "train", "xor", "--optimizer", "adam", "--warmup-steps", "-2")[::2],
        "warmup_steps must be an integer >= 0",
    )


def test_run_keys_are_the_split_of_the_seed_key():
    from jaxmlp.cli.run import run_keys

    for seed in (0, 7, -3, 2**31 + 5, 2**40, -(2**45)):
        want = jax.random.split(jax.random.key(seed))
        got = run_keys(seed)
        for a, b in zip(want, got):
            assert np.array_equal(jax.random.key_data(a), jax.random.key_data(b)), seed
