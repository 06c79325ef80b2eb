"""Training from rows on disk (``jaxmlp.NpySource``): the same batches and parameters as the rows
in memory (to float32 rounding: the streamed loop is another program, which XLA may round
otherwise on some CPUs); resumable at any step; bounded memory; bad files refused naming the file."""

import json
import sys

import jax
import numpy as np
import pytest

import jaxmlp
from jaxmlp import NpySource  # also jaxmlp.io.source.NpySource
from tests.cli_helpers import child_json
from tests.settings import thorough_only


def assert_leaves_close(a, b, rtol=1e-5, atol=1e-5):
    """The same run by another program (streamed or in memory, other chunks): XLA promises no
    bit-identity across programs, and some CPUs round otherwise. float32, <= 120 steps: a real
    reordering of the batch sums moves parameters by <= 3e-7 (adam's moments by <= 1e-8), another
    batch order by ~0.1. Integer leaves (adam's count) must be equal."""
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    for name, part in (("a", slice(0, 313)), ("b", slice(313, 1000))):
        np.save(tmp_path / f"x_{name}.npy", x[part])
        np.save(tmp_path / f"y_{name}.npy", y[part])
    return tmp_path, x, y


NET = jaxmlp.MLP(
    sizes=(5, 8, 2), activation="tanh", output_activation="softmax", loss="cross_entropy"
)
RUN = dict(steps=120, learning_rate=0.01, optimizer="adam", batch_size=64)


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_a_streamed_run_equals_the_run_in_memory_bit_for_bit(files, chunk_size):
    d, x, y = files
    params = NET.init(jax.random.key(0))
    memory = jaxmlp.fit(NET, params, x, y, key=jax.random.key(1), **RUN)
    one = NpySource(d / "x.npy", d / "y.npy")
    two = NpySource([d / "x_a.npy", d / "x_b.npy"], [d / "y_a.npy", d / "y_b.npy"])
    for source in (one, two):
        streamed = jaxmlp.fit(
            NET, params, source, None, key=jax.random.key(1), chunk_size=chunk_size, **RUN
        )
        assert_leaves_close(streamed.params, memory.params)
        assert_leaves_close(streamed.opt_state, memory.opt_state, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(streamed.losses, memory.losses, rtol=1e-5)
        assert streamed.step == RUN["steps"]


def noisy_validation(seed=5, rows=200, flipped=0.1):
    """Rows of the training rule with a tenth of the labels flipped: the validation loss falls,
    then rises as the network grows confident (patience stops the run)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 5)).astype(np.float32)
    y = ((x[:, 0] + x[:, 1] > 0) ^ (rng.random(rows) < flipped)).astype(np.int32)
    return x, y


def assert_same_run(streamed, memory):
    """The same run: the same stop, best step and checks, and every recorded number to float32
    rounding (another program: see :func:`assert_leaves_close`)."""
    assert (streamed.step, streamed.best_step, streamed.stopped) == (
        memory.step, memory.best_step, memory.stopped,
    )  # fmt: skip
    np.testing.assert_array_equal(streamed.validation_steps, memory.validation_steps)
    np.testing.assert_allclose(streamed.validation_losses, memory.validation_losses, rtol=1e-5)
    np.testing.assert_allclose(streamed.losses, memory.losses, rtol=1e-5)
    assert_leaves_close(streamed.params, memory.params)
    assert_leaves_close(streamed.opt_state, memory.opt_state, rtol=1e-4, atol=1e-7)


def test_a_stream_validates_stops_on_patience_and_is_monitored_as_in_memory(files):
    """Validation data, patience, the best parameters restored and a monitor on its probe: the
    streamed run is ``fit``'s run on the rows in memory (with the same chunks)."""
    d, x, y = files
    params = NET.init(jax.random.key(0))
    run = dict(
        RUN, steps=600, key=jax.random.key(1), chunk_size=10, patience=2,
        validation_data=noisy_validation(), monitor=jaxmlp.Monitor(every=10, probe=(x[:100], y[:100])),
    )  # fmt: skip
    memory = jaxmlp.fit(NET, params, x, y, **run)
    assert memory.stopped and memory.validation_steps[-1] == memory.best_step + 20  # patience
    streamed = jaxmlp.fit(NET, params, NpySource(d / "x.npy", d / "y.npy"), None, **run)
    assert_same_run(streamed, memory)
    assert len(memory.monitor.step) >= 5
    for a, b in zip(memory.monitor, streamed.monitor, strict=True):
        np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float), rtol=1e-4, atol=1e-6)


def test_a_stream_holds_out_the_rows_fit_holds_out(files):
    """``validation_fraction`` on a stream: the held-out rows are read into memory, the batches
    drawn over the rest; the run equals ``fit``'s on the arrays."""
    d, x, y = files
    params = NET.init(jax.random.key(0))
    run = dict(RUN, steps=600, key=jax.random.key(1), chunk_size=10, patience=2,
               validation_fraction=0.2)  # fmt: skip
    memory = jaxmlp.fit(NET, params, x, y, **run)
    assert memory.stopped
    parts = NpySource([d / "x_a.npy", d / "x_b.npy"], [d / "y_a.npy", d / "y_b.npy"])
    assert_same_run(jaxmlp.fit(NET, params, parts, None, **run), memory)


@thorough_only
def test_regression_targets_manual_sgd_and_the_delta_rule(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 3)).astype(np.float32)
    y = np.tanh(x @ np.array([[0.5], [-1.0], [0.25]], np.float32))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    net = jaxmlp.MLP(sizes=(3, 6, 1), activation="tanh", output_activation="identity", loss="mse")
    params = net.init(jax.random.key(2))
    run = dict(steps=50, learning_rate=0.1, batch_size=32, key=jax.random.key(3), grad="backprop")
    memory = jaxmlp.fit(net, params, x, y, **run)
    streamed = jaxmlp.fit(
        net, params, NpySource(tmp_path / "x.npy", tmp_path / "y.npy"), None, **run
    )
    assert_leaves_close(streamed.params, memory.params)
    assert streamed.gradient_check.passed


def test_a_resumed_stream_continues_where_it_stopped(files):
    d, _, _ = files
    source = NpySource(d / "x.npy", d / "y.npy")
    params, key = NET.init(jax.random.key(0)), jax.random.key(1)
    whole = jaxmlp.fit(NET, params, source, None, key=key, **RUN)
    half = dict(RUN, steps=53)
    first = jaxmlp.fit(NET, params, source, None, key=key, **half)
    rest = dict(RUN, steps=RUN["steps"] - 53)
    second = jaxmlp.fit(
        NET, first.params, source, None, key=key, start_step=53, opt_state=first.opt_state, **rest
    )
    assert_leaves_close(second.params, whole.params)  # 53 + 67 steps against 120: other chunks
    np.testing.assert_allclose(
        np.concatenate([first.losses, second.losses]), whole.losses, rtol=1e-5
    )


def test_a_diverging_stream_stops_with_the_parameters_before_the_chunk(files):
    """Chunks as long as the in-memory run's finite stretch: the stream stops at the same step,
    with finite parameters from before the first non-finite loss."""
    d, x, y = files
    params = NET.init(jax.random.key(0))
    run = dict(steps=60, learning_rate=3e38, batch_size=64, key=jax.random.key(1))
    memory = jaxmlp.fit(NET, params, x, y, **run)
    assert memory.diverged_at is not None and memory.diverged_at > 0
    source = NpySource(d / "x.npy", d / "y.npy")
    streamed = jaxmlp.fit(NET, params, source, None, chunk_size=memory.diverged_at, **run)
    assert streamed.diverged_at == memory.diverged_at
    assert all(np.isfinite(a).all() for a in jax.tree_util.tree_leaves(streamed.params))
    assert streamed.step <= streamed.diverged_at


def test_a_callback_sees_each_chunk_and_may_stop(files):
    d, _, _ = files
    seen = []
    result = jaxmlp.fit(
        NET, NET.init(jax.random.key(0)), NpySource(d / "x.npy", d / "y.npy"), None,
        key=jax.random.key(1), chunk_size=30, callback=lambda s, l: seen.append(int(s.step)) or len(seen) == 2,
        **RUN,
    )  # fmt: skip
    assert seen == [30, 60] and result.stopped and result.step == 60


def child():
    """Stream 300 steps from ``sys.argv[1]``; print the largest resident memory seen after each
    chunk above the start (all of it, and the anonymous part alone: a memory-mapped file's pages
    count as resident while they are mapped) and the file's size."""
    import os

    import jax

    import jaxmlp
    from jaxmlp import NpySource

    def resident(kind="RssAnon"):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(kind))

    def anonymous():
        return resident("RssAnon"), resident("VmRSS")

    source = NpySource(sys.argv[1], sys.argv[2])
    net = jaxmlp.MLP(sizes=(source.n_features, 16, 2), output_activation="softmax",
                     loss="cross_entropy")  # fmt: skip
    params = net.init(jax.random.key(0))
    run = dict(learning_rate=0.01, optimizer="adam", batch_size=256, key=jax.random.key(1))
    jaxmlp.fit(net, params, source, None, steps=20, chunk_size=10, **run)  # compiled: start-up
    start, seen = anonymous(), []
    jaxmlp.fit(net, params, source, None, steps=300, chunk_size=10,
               callback=lambda s, l: seen.append(anonymous()), **run)  # fmt: skip
    grown = np.max(seen, 0) - start
    print(json.dumps({"anonymous": int(grown[0]), "resident": int(grown[1]),
                      "file": os.path.getsize(sys.argv[1])}))  # fmt: skip


@thorough_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_stream_holds_its_chunks_not_the_file(tmp_path):
    """200 MB of rows, 300 steps read in chunks of 10 batches: the process's own memory grows by
    far less than the file (its pages are the kernel's page cache, unmapped after each read)."""
    rows = 1_000_000
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float32, (rows, 50))
    for i in range(0, rows, 100_000):
        x[i : i + 100_000] = np.random.default_rng(i).standard_normal((100_000, 50))
    x.flush()
    del x
    np.save(tmp_path / "y.npy", np.arange(rows, dtype=np.int32) % 2)
    seen = child_json("tests.test_streamed", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"))
    assert seen["anonymous"] < 0.1 * seen["file"], seen
    assert seen["resident"] < 0.1 * seen["file"], seen


def test_bad_files_are_refused_naming_the_file(tmp_path):
    x = np.zeros((10, 3), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.zeros(10, np.int32))
    np.save(tmp_path / "objects.npy", np.array([[1, "a"]], dtype=object))
    with pytest.raises(ValueError, match=r"objects.npy: x must hold numbers, got an object array"):
        NpySource(tmp_path / "objects.npy", tmp_path / "y.npy")
    whole = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[: len(whole) - 17])
    with pytest.raises(ValueError, match=r"cut.npy is truncated or not an .npy file"):
        NpySource(tmp_path / "cut.npy", tmp_path / "y.npy")
    np.save(tmp_path / "wide.npy", np.zeros((10, 4), np.float32))
    with pytest.raises(ValueError, match=r"wide.npy: 4 columns of float32, but .*x.npy has 3"):
        NpySource([tmp_path / "x.npy", tmp_path / "wide.npy"], [tmp_path / "y.npy"] * 2)
    np.save(tmp_path / "short.npy", np.zeros(9, np.int32))
    with pytest.raises(ValueError, match=r"x.npy: 10 rows, but its y file holds shape \(9,\)"):
        NpySource(tmp_path / "x.npy", tmp_path / "short.npy")
    with pytest.raises(ValueError, match=r"missing.npy: no such file"):
        NpySource(tmp_path / "missing.npy", tmp_path / "y.npy")
    x[7, 1] = np.inf
    np.save(tmp_path / "inf.npy", x)
    net = jaxmlp.MLP(sizes=(3, 2), output_activation="softmax", loss="cross_entropy")
    np.save(tmp_path / "labels.npy", np.array([0, 1, 0, 1, 0, 1, 0, 2, 0, 1], np.int32))
    with pytest.raises(ValueError, match=r"labels.npy, row 7: class label 2 is outside \[0, 2\)"):
        jaxmlp.fit(net, net.init(jax.random.key(0)), NpySource(tmp_path / "x.npy", tmp_path / "labels.npy"),
                   None, steps=5, learning_rate=0.1, batch_size=4, key=jax.random.key(1))  # fmt: skip
    with pytest.raises(ValueError, match=r"inf.npy, row 7: x holds inf, not a finite number"):
        jaxmlp.fit(net, net.init(jax.random.key(0)), NpySource(tmp_path / "inf.npy", tmp_path / "y.npy"),
                   None, steps=5, learning_rate=0.1, batch_size=10, key=jax.random.key(1))  # fmt: skip


@pytest.mark.parametrize(
    "options, message",
    [
        ({"monitor": jaxmlp.Monitor(every=10)}, r"needs its probe, Monitor\(probe=\(x, y\)\)"),
        ({"validation_fraction": 0.7}, r"batch_size must be at most 3 \(the source's rows \(after"),
        ({"batch_size": None}, "needs a batch_size"),
        ({"key": None}, "needs a PRNG key"),
        ({"batch_size": 11}, "batch_size must be at most 10"),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number"),
    ],
)
def test_bad_stream_options_are_refused_in_one_line(tmp_path, options, message):
    np.save(tmp_path / "x.npy", np.zeros((10, 3), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(10, np.int32))
    net = jaxmlp.MLP(sizes=(3, 2), output_activation="softmax", loss="cross_entropy")
    run = dict(steps=5, learning_rate=0.1, batch_size=4, key=jax.random.key(1)) | options
    with pytest.raises(ValueError, match=message):
        jaxmlp.fit(
            net,
            net.init(jax.random.key(0)),
            NpySource(tmp_path / "x.npy", tmp_path / "y.npy"),
            None,
            **run,
        )
