"""The command line on data larger than memory: ``jaxmlp train PATH --stream`` (or over
``--memory-budget``) from a Parquet file or directory, resumed bit for bit from its checkpoint;
``predict`` and ``evaluate`` read and write a batch of rows at a time, in bounded memory."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from jaxmlp.cli.progress import Progress
from jaxmlp.io import modelfile, prediction
from tests.cli_helpers import assert_one_line_error, run, run_json
from tests.settings import thorough_only

ROWS = 12_000


def write(path, rows=ROWS, seed=0, features=5, **options):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    table = pa.table(
        {f"f{j}": x[:, j] for j in range(features)}
        | {"colour": np.array(["red", "green"])[rng.integers(0, 2, rows)]}
        | {"label": (x[:, 0] + x[:, 1] > 0).astype(np.int64)}
    )
    pq.write_table(table, path, **options)
    return table


@pytest.fixture
def directory(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for i in range(3):
        write(d / f"part-{i}.parquet", ROWS // 3, seed=i, row_group_size=1500)
    return d


def params_of(path):
    return [np.asarray(v) for layer in modelfile.load(path).params for v in layer.values()]


def test_a_directory_trains_streamed_and_its_model_predicts(directory, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    out = run_json(capsys, "train", str(directory), "--target", "label", "--stream",
                   "--steps", "120", "--save", str(model), "--test-fraction", "0.2")  # fmt: skip
    s = out["streamed"]
    assert s["rows"] + s["test_rows"] == ROWS and 0.15 < s["test_rows"] / ROWS < 0.25
    assert s["row_groups"] == 3 * 3 and out["batch_size"] == 256 and out["steps"] == 120
    assert out["train_accuracy"] > 0.95 and out["test_accuracy"] > 0.95
    assert out["gradient_check"]["passed"]
    # predict: the network on the model's encoding of the rows, batch by batch
    pred = run_json(capsys, "predict", str(model), str(directory), "--proba")
    assert len(pred["rows"]) == ROWS
    m = modelfile.load(model)
    x = np.concatenate([prediction.inputs(m, pq.read_table(p), p)
                        for p in sorted(directory.iterdir())])  # fmt: skip
    direct = np.asarray(m.net.apply(m.params, x))
    np.testing.assert_allclose(
        np.asarray([r[1:] for r in pred["rows"]]), direct, rtol=1e-5, atol=1e-6
    )  # fmt: skip  (float32; padded batches of other sizes)
    ev = run_json(capsys, "evaluate", str(model), str(directory))
    assert ev["rows"] == ROWS
    assert ev["accuracy"] == pytest.approx(np.mean(direct.argmax(1) == _labels(directory)))


def _labels(directory):
    return np.concatenate([pq.read_table(p).column("label").to_numpy()
                           for p in sorted(directory.iterdir())])  # fmt: skip


def test_a_resumed_streamed_run_equals_an_uninterrupted_one(directory, tmp_path, capsys):
    args = ("train", str(directory), "--target", "label", "--stream", "--chunk-size", "10",
            "--schedule", "constant", "--warmup-steps", "0")  # the same schedule whatever --steps  # fmt: skip
    whole, part = tmp_path / "whole.safetensors", tmp_path / "part.safetensors"
    run_json(capsys, *args, "--steps", "80", "--save", str(whole))
    ck = str(tmp_path / "ck")
    run_json(capsys, *args, "--steps", "40", "--checkpoint", ck)
    out = run_json(capsys, *args, "--steps", "80", "--checkpoint", ck, "--resume",
                   "--save", str(part))  # fmt: skip
    assert out["steps"] == 80
    for a, b in zip(params_of(whole), params_of(part), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_stream_validates_stops_on_patience_and_is_monitored(directory, capsys):
    """``--validation-fraction``, ``--patience`` and ``--monitor`` on a stream: the validation rows
    are held out of each row group (as the test rows are), the run keeps its best step, and the
    monitor's records come on the stream's first training rows."""
    out = run_json(capsys, "train", str(directory), "--target", "label", "--stream",
                   "--steps", "300", "--chunk-size", "20", "--validation-fraction", "0.1",
                   "--patience", "2", "--monitor", "20", "--test-fraction", "0.2")  # fmt: skip
    s = out["streamed"]
    assert s["rows"] + s["test_rows"] + s["validation_rows"] == ROWS
    assert 0.07 < s["validation_rows"] / ROWS < 0.13
    steps = [step for step, _ in out["validation_losses"]]
    assert steps[:3] == [20, 40, 60] and out["best_step"] in steps
    assert out["steps"] == out["best_step"]  # restored (the run may end by patience or steps)
    assert out["monitor"]["step"][:2] == [0, 20] and out["test_accuracy"] > 0.9


def test_data_over_the_memory_budget_stream_and_say_so(tmp_path, capsys):
    path = tmp_path / "big.parquet"
    write(path, row_group_size=3000)
    code, out, err = run(capsys, "train", str(path), "--target", "label", "--steps", "20",
                         "--memory-budget", "100K", "--json")  # fmt: skip
    streamed = json.loads(out)["streamed"]
    assert code == 0 and streamed["row_groups"] == 4
    assert streamed["window_bytes"] == 1 << 20  # a quarter of the budget, at least 1 MB
    lines = err.strip().splitlines()
    assert (
        len(lines) == 1 and "over --memory-budget (0.1 MB): streaming it by row groups" in lines[0]
    )
    code, out, err = run(capsys, "train", str(path), "--target", "label", "--steps", "20",
                         "--memory-budget", "1G", "--json")  # fmt: skip
    assert code == 0 and "streamed" not in json.loads(out) and not err


@pytest.mark.parametrize(
    "extra, needles",
    [
        (
            ("--stream", "--ignore", "f0"),
            ("--ignore cannot be used when the data are streamed (--stream)",),
        ),
        (
            ("--memory-budget", "1K", "--drop-missing"),
            ("--drop-missing cannot", "exceed the memory budget"),
        ),
        (
            ("--stream", "--validation-fraction", "0.001"),
            ("--validation-fraction 0.001 held out none of the",),
        ),
        (
            ("--stream", "--bag", "0.5", "--batch-size", "32"),
            ("--bag 0.5 draws ensemble members' rows: a stream",),
        ),
        (("--memory-budget", "lots"), ("expected a size such as 8G or 512M, got 'lots'",)),
    ],
)
def test_what_a_stream_cannot_do_is_refused_in_one_line(tmp_path, capsys, extra, needles):
    path = tmp_path / "d.parquet"
    write(path, rows=200)
    code, _, err = run(capsys, "train", str(path), "--target", "label", *extra)
    assert_one_line_error(code, err, *needles)


def test_only_parquet_streams(tmp_path, capsys):
    path = tmp_path / "d.csv"
    write(tmp_path / "d.parquet", rows=50)
    pa.csv.write_csv(pq.read_table(tmp_path / "d.parquet"), path)
    code, _, err = run(capsys, "train", str(path), "--target", "label", "--stream")
    assert_one_line_error(code, err, "--stream reads Parquet files or a directory of them")
    code, _, err = run(capsys, "train", "digits", "--stream")
    assert_one_line_error(code, err, "--stream applies to data files; digits is built in")


def test_the_progress_bar_shows_rows_per_second_and_the_epoch():
    bar = Progress(100, batch=256, rows=1024)
    bar.update(6, 0.5)
    fields = bar._bar.tasks[0].fields
    assert fields["epoch"] == "1.50" and fields["row_rate"].replace(",", "").isdigit()
    assert float(fields["row_rate"].replace(",", "")) == pytest.approx(
        256 * float(fields["rate"].replace(",", "")), rel=0.01
    )


def peak_rss_kb(*argv) -> int:
    """The peak resident memory (kB) of ``jaxmlp argv`` run alone in a fresh process."""
    code = (
        "import resource, subprocess, sys; "
        "subprocess.run([sys.executable, '-m', 'jaxmlp.cli', *sys.argv[1:]], check=True, "
        "stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return int(out.stdout.split()[-1])


@thorough_only  # 13 s: four whole processes over 2,600,000 rows
def test_predict_and_evaluate_hold_a_row_group_not_the_file(tmp_path, capsys):
    """2,000,000 rows of 19 inputs (152 MB; 36 MB of CSV predictions) peak within a quarter of
    the inputs' size of 600,000 rows (the same batches, fewer of them; the allocators' pools settle
    within 10-20 MB of each other, and reading the 1,400,000 more rows whole would add 106 MB of
    inputs alone)."""
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    write(small, rows=600_000, features=17, row_group_size=65_536)
    write(big, rows=2_000_000, features=17, row_group_size=65_536)
    model = tmp_path / "m.safetensors"
    run_json(capsys, "train", str(small), "--target", "label", "--steps", "5",
             "--save", str(model))  # fmt: skip
    inputs = 2_000_000 * 19 * 4
    for command in (("predict", "--output", str(tmp_path / "p.csv")), ("evaluate",)):
        base = peak_rss_kb(command[0], str(model), str(small), *command[1:]) * 1024
        peak = peak_rss_kb(command[0], str(model), str(big), *command[1:]) * 1024
        assert peak - base < 0.25 * inputs, (command[0], base, peak)
    assert sum(1 for _ in open(tmp_path / "p.csv")) == 2_000_001
