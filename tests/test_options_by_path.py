"""Every option of ``fit`` on every path its rows come by: in memory, a ``.npy`` stream and a Parquet
stream. One loop runs them all (``jaxmlp.training.run.FitRun``), so an option either works the same
way on each path or is refused in one line that says why; this table says which, and the tests
hold it.

On the ``.npy`` stream the batches are the in-memory run's own, so the run must equal ``fit`` on the
arrays (the same stop, steps and checks; the numbers to float32 rounding: another program). A
Parquet source orders its own rows (a two-level shuffle), so no in-memory run shares its batches:
there the option must take effect (the run differs from the same run without it, as the option
says it should).
"""

import jax
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import jaxmlp
from jaxmlp import NpySource, ParquetSource
from jaxmlp.training import early_stopping
from tests.settings import thorough_only
from tests.test_streamed import assert_leaves_close

NET = jaxmlp.MLP((4, 8, 2), activation="tanh", output_activation="softmax", loss="cross_entropy")
BASE = dict(steps=60, learning_rate=0.01, optimizer="adam", batch_size=32, chunk_size=10)
ROWS = 600


def rows(seed=0, n=ROWS):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = ((x[:, 0] + x[:, 1] > 0) ^ (rng.random(n) < 0.1)).astype(np.int32)
    return x, y


X_VAL, Y_VAL = rows(seed=9, n=150)
PROBE = rows(seed=8, n=64)

# option -> fit's keywords
OPTIONS = {
    "validation_data": dict(validation_data=(X_VAL, Y_VAL)),
    "validation_fraction": dict(validation_fraction=0.2),
    "patience": dict(validation_data=(X_VAL, Y_VAL), patience=1, steps=600),
    "restore_best=False": dict(validation_data=(X_VAL, Y_VAL), restore_best=False),
    "schedule": dict(schedule="cosine", warmup_steps=10),
    "weight_decay": dict(weight_decay=0.5),
    "clip_norm": dict(clip_norm=0.01),
    "monitor": dict(monitor=jaxmlp.Monitor(every=20, probe=PROBE)),
    "resume": dict(),  # 25 steps, then the rest from the returned state
    "devices": dict(devices=1),
    "history=False": dict(history=False),
    "callback": dict(callback=lambda state, losses: int(state.step) >= 30),
}
# (path, option) -> why it is refused; every other pair works
REFUSED = {
    ("parquet", "validation_fraction"): "orders its own rows",
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("rows")
    x, y = rows()
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    columns = {f"f{j}": x[:, j] for j in range(4)} | {"label": y.astype(np.int64)}
    pq.write_table(pa.table(columns), d / "rows.parquet", row_group_size=150)
    return {
        "memory": (x, y),
        "npy": (NpySource(d / "x.npy", d / "y.npy"), None),
        "parquet": (ParquetSource(d / "rows.parquet", "label", window_bytes=1), None),
    }


def train(data, option, **extra):
    params = NET.init(jax.random.key(0))
    run = BASE | OPTIONS[option] | dict(key=jax.random.key(1)) | extra
    if option != "resume":
        return jaxmlp.fit(NET, params, *data, **run)
    first = jaxmlp.fit(NET, params, *data, **(run | dict(steps=25)))
    return jaxmlp.fit(NET, first.params, *data, **(run | dict(steps=35)),
                      start_step=25, opt_state=first.opt_state)  # fmt: skip


def assert_same(a, b):
    assert (a.step, a.best_step, a.stopped, a.diverged_at) == (
        b.step, b.best_step, b.stopped, b.diverged_at,
    )  # fmt: skip
    for u, v in ((a.losses, b.losses), (a.validation_losses, b.validation_losses)):
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_allclose(u, v, rtol=1e-5)
    np.testing.assert_allclose(a.chunk_end_losses, b.chunk_end_losses, rtol=1e-5)
    assert_leaves_close(a.params, b.params)
    assert_leaves_close(a.opt_state, b.opt_state, rtol=1e-4, atol=1e-7)
    assert (a.monitor is None) == (b.monitor is None)
    if a.monitor is not None:
        for u, v in zip(a.monitor, b.monitor, strict=True):
            np.testing.assert_allclose(np.asarray(u, float), np.asarray(v, float), rtol=1e-4,
                                       atol=1e-6)  # fmt: skip


def took_effect(option, with_it, without):
    """What the option says it does, seen on a run whose batches no in-memory run shares."""
    # Another program (monitored, resumed in other chunks, on a mesh, without history): the
    # same run to float32 rounding (as assert_leaves_close), where an option that acts moves
    # the parameters by ~0.1.
    moved = not all(
        np.allclose(u, v, rtol=1e-5, atol=1e-5)
        for u, v in zip(
            jax.tree_util.tree_leaves(with_it.params), jax.tree_util.tree_leaves(without.params)
        )  # fmt: skip
    )
    if option in ("validation_data", "restore_best=False"):
        assert len(with_it.validation_losses) == 6 and with_it.best_step in with_it.validation_steps
        return with_it.step == (60 if option == "restore_best=False" else with_it.best_step)
    if option == "patience":
        return with_it.stopped and with_it.validation_steps[-1] == with_it.best_step + 10
    if option == "monitor":
        return list(with_it.monitor.step) == [0, 20, 40] and not moved
    if option == "resume":
        return with_it.step == 60 and not moved  # the uninterrupted run's parameters
    if option == "devices":
        return not moved
    if option == "history=False":
        return with_it.losses is None and not moved
    if option == "callback":
        return with_it.stopped and with_it.step == 30
    return moved  # schedule, weight decay, clipping change every step


# The quick run keeps the refusal; test_streamed.py, test_stream_cli.py and test_parquet_source.py
# keep validation, patience and the monitor on both streams.
CASES = [
    pytest.param(path, option, marks=[] if (path, option) in REFUSED else thorough_only)
    for path in ("npy", "parquet")
    for option in OPTIONS
]


@pytest.mark.parametrize("path, option", CASES)
def test_every_option_works_on_every_path_or_is_refused_in_one_line(sources, path, option):
    if (path, option) in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[path, option]) as refusal:
            train(sources[path], option)
        assert "\n" not in str(refusal.value)
        return
    got = train(sources[path], option)
    if path == "npy":
        assert_same(got, train(sources["memory"], option))
    else:
        without = jaxmlp.fit(NET, NET.init(jax.random.key(0)), *sources[path],
                             **(BASE | dict(key=jax.random.key(1))))  # fmt: skip
        if option == "resume":
            without = train(sources[path], "devices", devices=None)
        assert took_effect(option, got, without), option


# A population of one (train_population, the engine of an ensemble): fit's options as its keywords
# take them (validation as row indices into the shared data, a check every chunk of 10 steps), or
# why it does not offer one. The member must equal fit's run of the same option.
NOT_OFFERED = {
    "monitor": "the monitor records one network, not each member",
    "resume": "every member's optimizer state starts afresh (no opt_state, start_step)",
    "history=False": "it keeps a mean loss per check, not a loss per step",
}
VALIDATION_ROWS = np.arange(ROWS, ROWS + len(X_VAL))


def population_run(option):
    """``(fit's run, the member's (params, best step, validation losses))`` of ``option``."""
    x, y = rows()
    key = jax.random.key(1)
    data = (np.concatenate([x, X_VAL]), np.concatenate([y, Y_VAL]))
    run = dict(steps=60, optimizer="adam", hyperparams={"learning_rate": 0.01}, batch_size=32,
               keys=key[None], check_every=10, train_rows=np.arange(ROWS))  # fmt: skip
    if option in ("validation_data", "restore_best=False", "patience"):
        run |= dict(validation_rows=VALIDATION_ROWS)
    if option == "validation_fraction":
        # fit's split: held_out with the second half of its key (its first draws the batches)
        train, valid = early_stopping.held_out(ROWS, 0.2, jax.random.split(key)[1])
        run |= dict(train_rows=train, validation_rows=valid)
    if option == "patience":
        run |= dict(patience=1, steps=600)
    if option == "schedule":
        run |= dict(schedule="cosine", hyperparams={"learning_rate": 0.01, "warmup_steps": 10})
    if option == "weight_decay":
        run |= dict(optimizer="adamw", hyperparams={"learning_rate": 0.01, "weight_decay": 0.5})
    if option == "clip_norm":
        run |= dict(clip_norm=0.01)
    if option == "devices":
        run |= dict(devices=1)
    if option == "callback":  # fit's: stop once step 30 is reached
        run |= dict(callback=lambda state, losses: int(state.step[0]) >= 30)
    params = jax.tree_util.tree_map(lambda a: a[None], NET.init(jax.random.key(0)))
    out = jaxmlp.train_population(NET, params, *data, **run)
    member = jax.tree_util.tree_map(
        lambda a: np.asarray(a)[0],
        out.last_params if option == "restore_best=False" else out.params,
    )
    return member, out


@pytest.mark.parametrize(
    "option", [pytest.param(o, marks=[] if o in NOT_OFFERED else thorough_only) for o in OPTIONS]
)
def test_a_population_of_one_runs_every_option_as_fit_or_says_why_not(sources, option):
    import inspect

    keywords = inspect.signature(jaxmlp.train_population).parameters
    if option in NOT_OFFERED:  # the table changes when the population offers it
        name = {"resume": "opt_state", "history=False": "history"}.get(option, option)
        assert name not in keywords, f"train_population offers {option}: move it into the table"
        return
    member, out = population_run(option)
    one = train(sources["memory"], option)
    assert_leaves_close(member, one.params)
    validating = one.validation_losses is not None
    assert (out.validation_loss is not None) == validating
    if validating:
        np.testing.assert_allclose(out.validation_loss[: len(one.validation_losses), 0],
                                   one.validation_losses, rtol=1e-5)  # fmt: skip
        assert int(out.best_step[0]) == one.best_step
    assert bool(out.stopped[0]) == one.stopped
    assert int(out.steps_run[0]) == (one.validation_steps[-1] if validating else one.step)


# An estimator (TabularClassifier: the data-file recipe on a DataFrame): fit's options as its
# keywords, which are `jaxmlp train`'s options; every run here an ensemble of two for 10 epochs.
ESTIMATOR = {
    "validation_fraction": dict(validation_fraction=0.2),
    "patience": dict(validation_fraction=0.2, patience=1, epochs=200),
    "schedule": dict(schedule="cosine", warmup_steps=10),
    "weight_decay": dict(weight_decay=0.5),
    "clip_norm": dict(clip_norm=0.01),
    "devices": dict(devices=1),
}
ESTIMATOR_NOT_OFFERED = {
    "validation_data": "fit(X, y) holds out validation_fraction of its own rows",
    "restore_best=False": "the recipe keeps each member's best check",
    "monitor": "the monitor records one network, not each member",
    "resume": "fit starts afresh, as scikit-learn's estimators do without warm_start",
    "history=False": "the summary keeps a mean loss per check, not a loss per step",
    "callback": "fit(X, y) takes no callback, as scikit-learn's estimators; train_population does",
}


def estimator_fit(**options):
    import pandas as pd

    from jaxmlp.sklearn import TabularClassifier

    x, y = rows()
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    run = dict(ensemble=2, epochs=10, learning_rate=0.01, batch_size=32) | options
    return TabularClassifier(**run).fit(frame, y)


@pytest.mark.parametrize(
    "option",
    [pytest.param(o, marks=[] if o in ESTIMATOR_NOT_OFFERED else thorough_only) for o in OPTIONS],
)
def test_an_estimator_takes_every_option_or_says_why_not(option):
    """Each option takes effect as it says (the run differs from the run without it, or for
    devices=1 does not), or the table says why the estimator has no such keyword."""
    import inspect

    from jaxmlp.sklearn import TabularClassifier

    keywords = inspect.signature(TabularClassifier).parameters
    if option in ESTIMATOR_NOT_OFFERED:
        name = {
            "resume": "warm_start", "history=False": "history", "restore_best=False": "restore_best"
        }.get(option, option)  # fmt: skip
        assert name not in keywords, f"TabularClassifier offers {option}: move it into the table"
        return
    got = estimator_fit(**ESTIMATOR[option]).summary_
    without = estimator_fit().summary_
    if option == "validation_fraction":
        assert got["validation_fraction"] == 0.2 and got["ensemble"]["member_rows"] == 480
        assert "validation_fraction" not in without or not without["validation_fraction"]
    elif option == "patience":
        assert max(got["ensemble"]["steps_run"]) < 200 * 15  # stopped before its 200 epochs
    elif option == "devices":
        assert got["final_loss"] == pytest.approx(without["final_loss"], rel=1e-5)
    else:
        assert got["final_loss"] != pytest.approx(without["final_loss"], rel=1e-3), option
