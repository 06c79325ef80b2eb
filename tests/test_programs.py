"""Compiled programs are a bounded resource (jaxmlp.programs): the table keeps at most the limit,
releases the least recently used, and a released program compiles again to the same numbers; the
guard releases everything near the process's limit, with one line; bad limits are refused."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmlp
from jaxmlp import mlp, programs
from tests.settings import thorough_only

ROOT = Path(__file__).parent.parent


@pytest.fixture
def limit():
    """Sets the program limit for one test; the previous limit and an empty table after."""
    previous = programs.program_limit()
    yield programs.set_program_limit
    programs.set_program_limit(previous)
    programs.release_programs()


def networks(n):
    """``n`` networks of distinct widths, their parameters and one batch of inputs."""
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    nets = [jaxmlp.MLP((3, 4 + i, 2), activation="tanh") for i in range(n)]
    return [(net, net.init(jax.random.key(i))) for i, net in enumerate(nets)], x


def test_the_table_keeps_the_limit_and_a_released_program_gives_the_same_numbers(
    limit, compilations
):
    programs.release_programs()
    limit(2)
    pairs, x = networks(4)
    compilations.clear()
    first = [np.asarray(net.apply(p, x)) for net, p in pairs]  # one program per width
    assert len(compilations) == 4
    assert programs.live_programs() <= 2 and mlp._apply._cache_size() <= 2
    again = [np.asarray(net.apply(p, x)) for net, p in pairs]
    # the first two widths were released (least recently used) and compiled again: the same
    # program on the same shapes on this machine, so the same bits
    assert len(compilations) == 8
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    net, p = pairs[-1]
    net.apply(p, x)  # the most recent is kept: nothing compiles
    assert len(compilations) == 8


def test_a_raised_limit_keeps_every_program(limit, compilations):
    programs.release_programs()
    limit(64)
    pairs, x = networks(4)
    compilations.clear()
    for _ in range(2):
        for net, p in pairs:
            net.apply(p, x)
    assert len(compilations) == 4 and programs.live_programs() >= 4


def test_a_smaller_limit_releases_at_once(limit):
    limit(64)
    pairs, x = networks(5)
    for net, p in pairs:
        net.apply(p, x)
    assert programs.live_programs() >= 5
    assert limit(1) == 64
    assert programs.live_programs() <= 1


def test_fit_trains_the_same_after_its_programs_were_released(limit):
    limit(1)  # fit's two programs (init, training chunk) cannot both stay
    net = jaxmlp.MLP((3, 5, 2), output_activation="softmax", loss="cross_entropy")
    x = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    runs = [
        jaxmlp.fit(net, net.init(jax.random.key(0)), x, y, steps=30, learning_rate=0.1)
        for _ in range(2)
    ]
    assert programs.live_programs() <= 1
    jax.tree.map(np.testing.assert_array_equal, runs[0].params, runs[1].params)
    np.testing.assert_array_equal(runs[0].losses, runs[1].losses)


def test_a_limit_of_one_inside_a_users_jit_and_grad(limit):
    """jaxmlp's functions traced inside the user's transformations: nothing is released while
    they trace, and the results are those of the pure functions."""
    limit(1)
    pairs, x = networks(3)

    @jax.jit
    def total(params_list, x):
        return sum(jnp.sum(net.apply(p, x)) for (net, _), p in zip(pairs, params_list))

    params_list = [p for _, p in pairs]
    expected = sum(float(jnp.sum(jaxmlp.forward.apply(net, p, x))) for net, p in pairs)
    assert float(total(params_list, x)) == pytest.approx(expected, rel=1e-6)
    grads = jax.grad(lambda ps: total(ps, x))(params_list)
    assert all(np.isfinite(g["w"]).all() for gs in grads for g in gs)


def test_the_guard_releases_everything_near_the_process_limit_with_one_line(
    limit, monkeypatch, capsys
):
    limit(64)
    pairs, x = networks(3)
    before = [np.asarray(net.apply(p, x)) for net, p in pairs]
    assert programs.live_programs() >= 3
    net = jaxmlp.MLP((3, 50, 2))
    params = net.init(jax.random.key(9))
    monkeypatch.setattr(programs, "_MAPS_CHECK_EVERY", 1)
    monkeypatch.setattr(programs, "_map_usage", lambda: (40_000, 65_530))
    capsys.readouterr()
    net.apply(params, x)  # compiles: the guard looks
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmlp: released "), err
    assert "40,000 of its 65,530 memory maps" in err[0]
    assert programs.live_programs() == 0
    net.apply(params, x)  # compiles again, but the maps have not grown since: no release
    assert programs.live_programs() == 1 and capsys.readouterr().err == ""
    monkeypatch.setattr(programs, "_map_usage", lambda: (1_000, 65_530))
    after = [np.asarray(net.apply(p, x)) for net, p in pairs]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert capsys.readouterr().err == ""  # far from the limit: nothing more is said


def test_the_guard_counts_programs_where_there_are_no_maps(limit, monkeypatch, capsys):
    limit(64)
    monkeypatch.setattr(programs, "_MAPS_CHECK_EVERY", 1)
    monkeypatch.setattr(programs, "_PROGRAMS_ELSEWHERE", 3)
    monkeypatch.setattr(programs, "_map_usage", lambda: None)
    programs.release_programs()
    capsys.readouterr()
    pairs, x = networks(4)
    for net, p in pairs:
        net.apply(p, x)
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(
        e.startswith("jaxmlp: released ") and "programs compiled since the last release" in e
        for e in err
    ), err


@pytest.mark.parametrize("bad", [0, -3])
def test_a_limit_below_one_is_refused_naming_it(bad):
    with pytest.raises(
        ValueError, match=f"program limit must be a whole number of programs >= 1, got {bad}"
    ):
        programs.set_program_limit(bad)


@pytest.mark.parametrize("bad", [True, 2.5, "8"])
def test_a_limit_that_is_not_an_int_is_refused(bad):
    with pytest.raises(TypeError, match="the program limit must be an int >= 1"):
        programs.set_program_limit(bad)


def run(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip


@pytest.mark.parametrize(
    "bad", ["0", pytest.param("-1", marks=thorough_only), pytest.param("many", marks=thorough_only)]
)
def test_a_bad_limit_in_the_environment_is_one_line_from_the_command_line(bad):
    out = subprocess.run(
        [sys.executable, "-m", "jaxmlp", "reproduce"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "JAXMLP_MAX_PROGRAMS": bad},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"jaxmlp: error: JAXMLP_MAX_PROGRAMS must be a whole number of programs >= 1, got {bad!r}"
        if bad == "many"
        else f"jaxmlp: error: JAXMLP_MAX_PROGRAMS must be a whole number of programs >= 1, got {bad}"
    ]


def test_the_limit_comes_from_the_environment():
    out = run(
        "from jaxmlp import programs; print(programs.program_limit())", JAXMLP_MAX_PROGRAMS="7"
    )
    assert out.returncode == 0 and out.stdout.strip() == "7", out.stderr


@thorough_only
def test_many_distinct_fits_keep_the_process_within_bounds():
    """A notebook's loop over widths (estimator fits, then fit calls) in one process: the maps it
    gains level off at the limit's worth of programs instead of growing with every fit (about 70
    maps for each estimator program, measured), and the loop runs to the end."""
    out = subprocess.run(
        [sys.executable, "experiments/long_process.py", "--estimators", "60", "--fits", "20",
         "--limit", "4"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("80 fits ran to the end"), out.stdout
    gained = int(last.split("at most ")[1].split(" maps")[0].replace(",", "").replace("+", ""))
    assert gained < 1_500, out.stdout  # unbounded: about 70 x 80 = 5,600
    rows = [r for r in out.stdout.splitlines() if r.startswith("| 50 ") or r.startswith("| 80 ")]
    assert all(int(r.split("|")[5]) <= 4 for r in rows), out.stdout
