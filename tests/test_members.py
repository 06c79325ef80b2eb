"""jaxmlp.train_population: a population trained as fit trains each member, with any optax
optimizer, per-member hyperparameters, rows, batch orders and early stopping."""

import re

import jax
import numpy as np
import optax
import pytest

import jaxmlp
from jaxmlp.forward import loss_fn
from jaxmlp.training import member_loop
from jaxmlp.training.optimizers import named_optimizer
from jaxmlp.training.population import init_population
from tests.settings import thorough_only

N, STEPS, BATCH = 4, 23, 32


@pytest.fixture(scope="module")
def problem():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    net = jaxmlp.MLP(
        sizes=(64, 12, 10), activation="relu", output_activation="softmax", loss="cross_entropy"
    )
    rng = np.random.default_rng(0)
    rows = np.stack([rng.permutation(len(x))[:900] for _ in range(N)])  # four "folds" of 900
    return net, x / 16, y, rows


def leaf_gaps(one, population, m):
    return [
        float(np.max(np.abs(np.asarray(a) - np.asarray(b)[m])))
        for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(population))
    ]


OPTIMIZERS = [
    pytest.param(
        "adamw", {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2], "weight_decay": [0, 1e-4, 1e-3, 1e-2]},
        {}, id="adamw"),
    pytest.param(
        "sgd", {"learning_rate": [0.3, 0.1, 0.03, 0.01], "momentum": [0.0, 0.5, 0.9, 0.95]},
        {"nesterov": True}, marks=thorough_only, id="sgd"),
    pytest.param(
        "lion", {"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3], "b1": [0.8, 0.9, 0.95, 0.99]}, {},
        marks=thorough_only, id="lion"),
]  # fmt: skip


@pytest.mark.float64
@pytest.mark.parametrize("name, hyperparams, options", OPTIMIZERS)
def test_every_member_is_the_fit_of_its_rows_with_its_hyperparameters(
    problem, name, hyperparams, options
):
    """Member m equals fit(x[rows_m], key_m, optax.<name>(its hyperparameters)): float64 to 1e-12
    (the same operations; vmap may only reorder a sum)."""
    net, x, y, rows = problem
    params = init_population(net, np.arange(N), np.float64)
    keys = jax.random.split(jax.random.key(7), N)
    out = jaxmlp.train_population(
        net, params, x, y, steps=STEPS, optimizer=name, hyperparams=hyperparams,
        options=options, batch_size=BATCH, keys=keys, train_rows=rows, check_every=10,
    )  # fmt: skip
    assert out.steps_run.tolist() == [STEPS] * N and not out.stopped.any()
    assert out.train_loss.shape == (3, N) and out.validation_loss is None
    for m in range(N):
        mine = {k: v[m] for k, v in hyperparams.items()}
        one = jaxmlp.fit(
            net, jax.tree_util.tree_map(lambda a, m=m: a[m], params), x[rows[m]], y[rows[m]],
            steps=STEPS, optimizer=getattr(optax, name)(**mine, **options), batch_size=BATCH,
            key=keys[m],
        )  # fmt: skip
        assert max(leaf_gaps(one.params, out.params, m)) < 1e-12


def test_float32_members_match_their_fits_within_rounding(problem):
    """JAX's default precision: vmapped products may add in another order than one network's,
    a few float32 ulps (6e-8 relative) per step; after 23 adam steps of size <= 1e-2, within 1e-5."""
    net, x, y, rows = problem
    params = init_population(net, np.arange(N))
    keys = jax.random.split(jax.random.key(3), N)
    lrs = [1e-3, 3e-3, 1e-2, 3e-3]
    out = jaxmlp.train_population(
        net, params, x, y, steps=STEPS, hyperparams={"learning_rate": lrs}, batch_size=BATCH,
        keys=keys, train_rows=rows,
    )  # fmt: skip
    assert jax.tree_util.tree_leaves(out.params)[0].dtype == np.float32
    for m in range(N):
        one = jaxmlp.fit(
            net, jax.tree_util.tree_map(lambda a, m=m: a[m], params), x[rows[m]], y[rows[m]],
            steps=STEPS, optimizer="adam", learning_rate=lrs[m], batch_size=BATCH, key=keys[m],
        )  # fmt: skip
        assert max(leaf_gaps(one.params, out.params, m)) < 1e-5


def _two_members(seed: int, key: int):
    """``(net, x, y, rows, params, keys)``: two float64 members of 4-8-3, each its own 80 of 96
    rows, their initial parameters and batch keys."""
    net = jaxmlp.MLP((4, 8, 3), activation="tanh", output_activation="softmax",
                     loss="cross_entropy")  # fmt: skip
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((96, 4)), rng.integers(0, 3, 96)
    rows = np.stack([rng.permutation(96)[:80] for _ in range(2)])
    params = init_population(net, np.arange(2), np.float64)
    keys = jax.random.split(jax.random.key(key), 2)
    return net, x, y, rows, params, keys


@pytest.mark.float64
def test_clipping_clips_every_members_gradient_as_fit_clips():
    """clip_norm c: member m equals fit(..., clip_norm=c) of its rows (float64 to 1e-12, the same
    operations). c = 0.05 is below the first gradient's norm, and each of the 12 SGD steps of 0.5
    moves a member by at most 0.5 c: 0.3 in all, which the clip alone keeps."""
    net, x, y, rows, params, keys = _two_members(0, 11)
    run = dict(steps=12, hyperparams={"learning_rate": 0.5}, optimizer="sgd", batch_size=16,
               keys=keys, train_rows=rows)  # fmt: skip
    out = jaxmlp.train_population(net, params, x, y, clip_norm=0.05, **run)
    for m in range(2):
        start = jax.tree_util.tree_map(lambda a, m=m: a[m], params)
        grads = jax.grad(loss_fn, argnums=1)(net, start, x[rows[m]], y[rows[m]])
        assert optax.global_norm(grads) > 0.05
        moved = [np.asarray(a)[m] - np.asarray(b)[m] for a, b in zip(
            jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(params))]  # fmt: skip
        assert float(optax.global_norm(moved)) <= 12 * 0.5 * 0.05 + 1e-12
        one = jaxmlp.fit(
            net, jax.tree_util.tree_map(lambda a, m=m: a[m], params), x[rows[m]], y[rows[m]],
            steps=12, learning_rate=0.5, clip_norm=0.05, batch_size=16, key=keys[m],
        )  # fmt: skip
        assert max(leaf_gaps(one.params, out.params, m)) < 1e-12


@pytest.mark.float64
def test_fits_own_update_trains_every_member_as_fit_does():
    """``optimizer=named_optimizer(...)``, the update ``fit`` builds from its name, clipping,
    weight decay, schedule and warm-up (an ensemble's): member m, its own learning rate, equals
    ``fit`` with those keywords, float64 to 1e-12 (the same operations)."""
    net, x, y, rows, params, keys = _two_members(1, 9)
    lrs = [1e-2, 3e-2]
    shape = dict(clip_norm=0.5, weight_decay=1e-2, schedule="cosine", warmup_steps=3)
    update = named_optimizer("adam", 0.5, 1e-2, "cosine", 3)
    out = jaxmlp.train_population(
        net, params, x, y, steps=12, optimizer=update, hyperparams={"learning_rate": lrs},
        batch_size=16, keys=keys, train_rows=rows,
    )  # fmt: skip
    for m in range(2):
        one = jaxmlp.fit(
            net, jax.tree_util.tree_map(lambda a, m=m: a[m], params), x[rows[m]], y[rows[m]],
            steps=12, optimizer="adam", learning_rate=lrs[m], batch_size=16, key=keys[m], **shape,
        )  # fmt: skip
        assert max(leaf_gaps(one.params, out.params, m)) < 1e-12


@pytest.mark.float64
@pytest.mark.parametrize(
    "every, checked",
    [
        (3, False),
        *(pytest.param(*p, marks=thorough_only) for p in [(4, False), (1, False), (3, True)]),
    ],
)
def test_a_diverging_member_stops_with_fits_last_finite_state(every, checked):
    """Member 0's rate makes its loss overflow at step 6 (fit's diverged_at): inside a check
    (every 4 steps), at a check's first step (every 3: back into the check before) or checked
    every step, it stops where fit stops, with fit's last state whose loss was finite (step 5,
    float64 to 1e-12 relative: the weights are large), while member 1 trains on as fit does;
    the same with a callback (one compiled call per check)."""
    net = jaxmlp.MLP((3, 16, 1), "relu", "identity", "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = 3 * (x @ [1.0, 2.0, -1.0])[:, None]
    params = init_population(net, np.arange(2), np.float64)
    lrs = [0.5, 1e-3]
    callback = (lambda state, losses: False) if checked else None
    out = jaxmlp.train_population(net, params, x, y, steps=40, optimizer="sgd", check_every=every,
                                  hyperparams={"learning_rate": lrs}, callback=callback)  # fmt: skip
    assert out.diverged.tolist() == [True, False] and out.stopped.tolist() == [True, False]
    start = [jax.tree_util.tree_map(lambda a, m=m: a[m], params) for m in range(2)]
    one = jaxmlp.fit(net, start[0], x, y, steps=40, learning_rate=lrs[0], optimizer="sgd")
    assert (one.diverged_at, one.step) == (6, 5) and out.steps_run.tolist() == [5, 40]
    for a, b in zip(jax.tree_util.tree_leaves(one.params), jax.tree_util.tree_leaves(out.params)):
        np.testing.assert_allclose(np.asarray(b)[0], a, rtol=1e-12)
    other = jaxmlp.fit(net, start[1], x, y, steps=40, learning_rate=lrs[1], optimizer="sgd")
    assert max(leaf_gaps(other.params, out.params, 1)) < 1e-12


@thorough_only
@pytest.mark.float64
def test_schedules_take_a_warmup_and_a_length_per_member_as_fits_named_optimizer(problem):
    """Member m, its schedule of ``total_steps`` T_m warmed up over its own steps, after 23 steps
    equals fit's run of T_m steps (the same schedule) after its first 23. The schedule's factor is
    float32 in both (as optax's schedules); XLA may turn fit's division by its constant warm-up
    into a product with the reciprocal, a float32 ulp (6e-8 relative) of a factor: at most 23
    steps x 1e-2 x 6e-8 = 1.4e-8 apart."""
    net, x, y, rows = problem
    params = init_population(net, np.arange(N), np.float64)
    keys = jax.random.split(jax.random.key(5), N)
    warmup, total = [0, 3, 7, 15], [STEPS, 2 * STEPS, 3 * STEPS, 4 * STEPS]
    out = jaxmlp.train_population(
        net, params, x, y, steps=STEPS, optimizer="adam", schedule="cosine",
        hyperparams={"learning_rate": 1e-2, "warmup_steps": warmup, "total_steps": total},
        batch_size=BATCH, keys=keys, train_rows=rows,
    )  # fmt: skip
    for m in range(N):
        first = []  # the parameters after fit's first chunk of 23 steps

        def stop(state, _, first=first):
            first.append(state.params)
            return True

        jaxmlp.fit(
            net, jax.tree_util.tree_map(lambda a, m=m: a[m], params), x[rows[m]], y[rows[m]],
            steps=total[m], optimizer="adam", learning_rate=1e-2, schedule="cosine",
            warmup_steps=warmup[m], batch_size=BATCH, key=keys[m], chunk_size=STEPS,
            callback=stop,
        )  # fmt: skip
        assert len(first) == 1 and max(leaf_gaps(first[0], out.params, m)) < 2e-8


@pytest.mark.float64
def test_members_stop_on_their_own_keeping_their_best_parameters(problem):
    """Patience 2, a check every 10 steps: the large learning rates stop early and are frozen;
    each member's kept parameters are those fit reaches after its best step, its last those after
    the steps it ran."""
    net, x, y, _ = problem
    params = init_population(net, np.arange(N), np.float64)
    keys = jax.random.split(jax.random.key(1), N)
    perm = np.random.default_rng(0).permutation(len(x))
    train, valid = perm[:1400], perm[1400:]
    out = jaxmlp.train_population(
        net, params, x, y, steps=200, hyperparams={"learning_rate": [1e-3, 1e-2, 0.1, 1.0]},
        batch_size=64, keys=keys, train_rows=train, validation_rows=valid, patience=2,
        check_every=10,
    )  # fmt: skip
    assert out.stopped.tolist() == [False, False, True, True]
    assert out.steps_run[0] == out.steps_run[1] == 200 and max(out.steps_run[2:]) < 200
    assert np.isnan(out.validation_loss[-1, 2:]).all()  # frozen: no checks after the stop
    for m in range(N):
        seen = {}  # fit's parameters after every 10 steps (one compiled chunk for all members)

        def keep(state, _, seen=seen):
            seen[int(state.step)] = jax.tree_util.tree_map(np.asarray, state.params)

        jaxmlp.fit(
            net, jax.tree_util.tree_map(lambda a, m=m: a[m], params), x[train], y[train],
            steps=int(out.steps_run[m]), optimizer="adam", learning_rate=[1e-3, 1e-2, 0.1, 1.0][m],
            batch_size=64, key=keys[m], chunk_size=10, callback=keep,
        )  # fmt: skip
        assert max(leaf_gaps(seen[out.best_step[m]], out.params, m)) < 1e-12
        assert max(leaf_gaps(seen[out.steps_run[m]], out.last_params, m)) < 1e-12
        best = jaxmlp.forward.loss_fn(net, seen[out.best_step[m]], x[valid], y[valid])
        assert float(best) == pytest.approx(out.best_validation_loss[m], rel=1e-12)
        assert out.best_validation_loss[m] == np.nanmin(out.validation_loss[:, m])


def stopping_run(problem, **extra):
    """test_members_stop_on_their_own's run: patience 2, two members stop early."""
    net, x, y, _ = problem
    perm = np.random.default_rng(0).permutation(len(x))
    return jaxmlp.train_population(
        net, init_population(net, np.arange(N), np.float64), x, y, steps=200,
        hyperparams={"learning_rate": [1e-3, 1e-2, 0.1, 1.0]}, batch_size=64,
        keys=jax.random.split(jax.random.key(1), N), train_rows=perm[:1400],
        validation_rows=perm[1400:], patience=2, check_every=10, **extra,
    )  # fmt: skip


@pytest.mark.float64
def test_a_callback_sees_every_check_and_changes_no_number(problem):
    """With a callback the members run one check per compiled call: every number is the one
    call's (float64 to 1e-12: the same operations in another program), and the callback sees
    each check's steps, parameters and mean batch losses, NaN for the members that stopped."""
    seen = []

    def watch(state, losses):
        seen.append((np.asarray(state.step), losses, state.params[0]["w"].copy()))

    out, plain = stopping_run(problem, callback=watch), stopping_run(problem)
    assert out.stopped.tolist() == plain.stopped.tolist() == [False, False, True, True]
    assert out.steps_run.tolist() == plain.steps_run.tolist()
    assert out.best_step.tolist() == plain.best_step.tolist()
    for a, b in [(out.params, plain.params), (out.last_params, plain.last_params)]:
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    for a, b in [(out.train_loss, plain.train_loss), (out.validation_loss, plain.validation_loss)]:
        np.testing.assert_allclose(a, b, rtol=1e-12)  # NaN where the other has NaN
    assert len(seen) == 20 and [s[0][0] for s in seen] == list(range(10, 201, 10))
    for k, (step, losses, _) in enumerate(seen):
        np.testing.assert_array_equal(losses, out.train_loss[k])
        assert (step <= out.steps_run).all()
    np.testing.assert_array_equal(seen[-1][2], np.asarray(out.last_params[0]["w"]))


def test_a_callback_that_returns_true_stops_every_member():
    """As fit's: True after the third check stops the members still training (a small network:
    the callback's run, compiled once); the run returns what each had then and says it stopped."""
    net = jaxmlp.MLP((4, 8, 2), "tanh", "softmax", "cross_entropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    calls = []

    def stop_at_30(state, losses):
        calls.append(np.asarray(state.step))
        return int(state.step[0]) >= 30

    out = jaxmlp.train_population(
        net, init_population(net, np.arange(2)), x, y, steps=100,
        hyperparams={"learning_rate": [1e-3, 1e-2]}, batch_size=20,
        keys=jax.random.split(jax.random.key(1), 2), check_every=10, callback=stop_at_30,
    )  # fmt: skip
    assert [c.tolist() for c in calls] == [[10, 10], [20, 20], [30, 30]]
    assert out.steps_run.tolist() == [30, 30] and out.stopped.all()
    assert np.isnan(out.train_loss[3:]).all() and not np.isnan(out.train_loss[:3]).any()


@pytest.mark.float64
@pytest.mark.parametrize("patience", [1, 2, 3])
def test_a_member_stops_at_the_check_fit_stops_at(problem, patience):
    """One rule of patience (``patience`` checks in a row without a new best): fit with
    validation data and checks every 20 steps stops after the same step as a population of one."""
    net, x, y, _ = problem
    params = init_population(net, np.arange(1), np.float64)
    perm = np.random.default_rng(0).permutation(len(x))
    train, valid = perm[:1400], perm[1400:]
    key = jax.random.key(3)
    out = jaxmlp.train_population(
        net, params, x, y, steps=2000, hyperparams={"learning_rate": 0.05}, batch_size=64,
        keys=key[None], train_rows=train, validation_rows=valid, patience=patience,
        check_every=20,
    )  # fmt: skip
    one = jaxmlp.fit(
        net, jax.tree_util.tree_map(lambda a: a[0], params), x[train], y[train], steps=2000,
        optimizer="adam", learning_rate=0.05, batch_size=64, key=key, chunk_size=20,
        validation_data=(x[valid], y[valid]), patience=patience,
    )  # fmt: skip
    assert bool(out.stopped[0]) and int(out.steps_run[0]) < 2000
    assert one.stopped and int(out.steps_run[0]) == int(one.validation_steps[-1])
    assert int(out.best_step[0]) == int(one.best_step)


def test_new_hyperparameters_never_recompile(problem):
    net, x, y, rows = problem
    params = init_population(net, np.arange(N))
    keys = jax.random.split(jax.random.key(0), N)
    run = dict(steps=5, optimizer="adamw", batch_size=BATCH, keys=keys, train_rows=rows)
    first = {"learning_rate": 1e-3, "weight_decay": 1e-4}
    # counted from none: the bounded table may release an earlier test's programs of _run meanwhile
    member_loop.run.clear_cache()
    jaxmlp.train_population(net, params, x, y, hyperparams=first, **run)
    compiled = member_loop.run._cache_size()
    assert compiled == 1
    again = {"learning_rate": [1e-3, 2e-3, 3e-3, 4e-3], "weight_decay": 0.1}
    jaxmlp.train_population(net, params, x, y, hyperparams=again, **run)
    assert member_loop.run._cache_size() == compiled
    jaxmlp.train_population(net, params, x, y, hyperparams={"learning_rate": 1e-3}, **run)
    assert member_loop.run._cache_size() == compiled + 1  # other names: another optimizer state


@thorough_only
def test_the_handwritten_gradient_is_checked_first(problem):
    net, x, y, rows = problem
    out = jaxmlp.train_population(
        net, init_population(net, np.arange(N)), x, y, steps=3, hyperparams={"learning_rate": 1e-3},
        batch_size=BATCH, keys=jax.random.split(jax.random.key(0), N), train_rows=rows,
        grad="backprop",
    )  # fmt: skip
    assert out.gradient_check is not None and out.gradient_check.passed
    auto = jaxmlp.train_population(
        net, init_population(net, np.arange(N)), x, y, steps=3, hyperparams={"learning_rate": 1e-3},
        batch_size=BATCH, keys=jax.random.split(jax.random.key(0), N), train_rows=rows,
    )  # fmt: skip
    assert auto.gradient_check is None
    assert max(max(leaf_gaps(jax.tree_util.tree_map(lambda a: a[m], auto.params), out.params, m))
               for m in range(N)) < 1e-5  # fmt: skip


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimizer": "adamx"}, "must name an optax optimizer"),
        ({"optimizer": "clip"}, "must name an optax optimizer"),
        ({"hyperparams": {"learning_rate": 1e-3, "beta": 0.9}}, "has no hyperparameter 'beta'"),
        ({"hyperparams": {"learning_rate": [1e-3, 1e-2]}}, "one per member (4)"),
        ({"hyperparams": {"momentum": 0.9}}, "with a 'learning_rate'"),
        ({"hyperparams": {"learning_rate": [1e-3, 0, 1e-3, 1e-3]}}, "learning_rate must be > 0"),
        ({"hyperparams": {"learning_rate": [1e-3, np.nan, 1e-3, 1e-3]}}, "with a non-finite one"),
        ({"hyperparams": {"learning_rate": 1e-3, "warmup_steps": 3}}, "needs a schedule"),
        ({"keys": None}, "batch_size needs keys"),
        ({"keys": jax.random.split(jax.random.key(0), 3)}, "keys must be 4 typed PRNG keys"),
        ({"train_rows": np.arange(5000)}, "must lie in [0, 1797)"),
        ({"train_rows": np.zeros((3, 10), int)}, "one index set per member"),
        ({"patience": 2}, "patience needs validation_rows"),
        ({"schedule": "linear"}, "unknown schedule"),
        ({"steps": 0}, "steps"),
        ({"callback": "print"}, "callback must be callable as callback(state, losses)"),
        ({"clip_norm": True}, "clip_norm must be a finite number > 0, got True"),
        ({"optimizer": named_optimizer("adam"), "schedule": "cosine"}, "schedule would be ignored"),
        ({"optimizer": named_optimizer("adam"), "clip_norm": 1.0}, "clip_norm would be ignored"),
    ],
)
def test_bad_arguments_are_refused_before_training(problem, change, message):
    net, x, y, rows = problem
    run = dict(
        steps=3, optimizer="adam", hyperparams={"learning_rate": 1e-3}, batch_size=BATCH,
        keys=jax.random.split(jax.random.key(0), N), train_rows=rows,
    )  # fmt: skip
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        jaxmlp.train_population(net, init_population(net, np.arange(N)), x, y, **(run | change))


@thorough_only
def test_two_devices_split_the_members_and_give_one_devices_results():
    from tests.test_distributed import python

    out = python(
        """
        import json, jax, numpy as np, jaxmlp
        jax.config.update("jax_enable_x64", True)
        from jaxmlp.training.population import init_population
        from sklearn.datasets import load_digits
        x, y = load_digits(return_X_y=True)
        net = jaxmlp.MLP(sizes=(64, 12, 10), activation="relu", output_activation="softmax",
                         loss="cross_entropy")
        perm = np.random.default_rng(0).permutation(len(x))
        run = dict(steps=60, hyperparams={"learning_rate": [1e-3, 1e-2, 0.1, 1.0]},
                   batch_size=64, keys=jax.random.split(jax.random.key(1), 4),
                   train_rows=perm[:1400], validation_rows=perm[1400:], patience=1, check_every=10)
        p = init_population(net, np.arange(4), np.float64)
        one = jaxmlp.train_population(net, p, x / 16, y, **run)
        two = jaxmlp.train_population(net, p, x / 16, y, devices=2, **run)
        gap = max(float(np.abs(a - b).max()) for a, b in zip(jax.tree_util.tree_leaves(one.params),
                                                             jax.tree_util.tree_leaves(two.params)))
        print(json.dumps([gap, one.steps_run.tolist(), two.steps_run.tolist()]))
        """,
        devices=2,
    )
    assert out[0] < 1e-12 and out[1] == out[2]  # float64: sums perhaps in another order


MEMBERS_CHILD = """
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
from jaxmlp.training import parallel
if sys.argv[2] != "single":
    parallel.initialize(f"127.0.0.1:{sys.argv[1]}", 2, int(sys.argv[2]))
import jax, numpy as np, jaxmlp
from jaxmlp.training.population import init_population
from sklearn.datasets import load_digits
x, y = load_digits(return_X_y=True)
net = jaxmlp.MLP(sizes=(64, 12, 10), activation="relu", output_activation="softmax",
                 loss="cross_entropy")
perm = np.random.default_rng(0).permutation(len(x))
out = jaxmlp.train_population(
    net, init_population(net, np.arange(4), np.float64), x / 16, y, steps=60,
    hyperparams={"learning_rate": [1e-3, 1e-2, 0.1, 1.0]}, batch_size=64,
    keys=jax.random.split(jax.random.key(1), 4), train_rows=perm[:1400],
    validation_rows=perm[1400:], patience=1, check_every=10,
    devices=None if sys.argv[2] == "single" else 2)
print(json.dumps({"params": [np.asarray(a).tolist() for a in jax.tree_util.tree_leaves(out.params)],
                  "ran": out.steps_run.tolist(), "devices": jax.device_count()}))
"""


@thorough_only
def test_two_processes_split_the_members_and_both_end_with_all_of_them():
    import json
    import os
    import subprocess
    import sys

    from tests.test_distributed import ROOT, two_processes

    two = two_processes(MEMBERS_CHILD)
    one = subprocess.run(
        [sys.executable, "-c", MEMBERS_CHILD, "0", "single"], capture_output=True, text=True,
        check=True, env={**os.environ, "PYTHONPATH": ROOT},
    )  # fmt: skip
    one = json.loads(one.stdout.strip().splitlines()[-1])
    assert [p.pop("devices") for p in two] == [2, 2] and one.pop("devices") == 1
    assert two[0] == two[1]  # every process ends with every member
    assert two[0]["ran"] == one["ran"]  # the same stops
    # a device's share is a smaller vmap than one device's whole: the same sums, perhaps in
    # another order (float64)
    for a, b in zip(two[0]["params"], one["params"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
