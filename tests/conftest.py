"""Test-session settings: tests run in JAX's default precision, float32, as users run it, and in
random order in the thorough run.

A test that needs float64 (the seed's nine digits, pins of long runs, float64 variants of the
property tests) is marked ``float64`` (or its module is) and runs inside ``jax.enable_x64(True)``,
a scope that ends with the test: nothing leaks into the next one. Every test also runs with strict
dtype promotion and rank promotion errors, in the same scope: a silent broadcast or an accidental
upcast fails loudly (as in equinox's tests); neither changes a result that does not raise.
"""

import os
import random

import jax
import pytest

from jaxmlp import programs
from tests.settings import CI_TIER, THOROUGH, THOROUGH_ONLY

# The CLI's persistent compilation cache stays off in tests (in-process and in subprocesses).
os.environ["JAXMLP_CACHE_DIR"] = ""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "float64: run in JAX's 64-bit mode, scoped to the test (jax.enable_x64)"
    )
    config.addinivalue_line("markers", "ci: a thorough-only test CI runs (tests/settings.py)")
    # The thorough run shuffles the tests (no test may depend on another's order); the workers
    # inherit the seed from the environment, so they collect the same order.
    if THOROUGH and not os.environ.get("JAXMLP_TEST_ORDER"):
        os.environ["JAXMLP_TEST_ORDER"] = str(random.SystemRandom().randrange(2**32))


def pytest_report_header(config):
    if THOROUGH:
        seed = os.environ["JAXMLP_TEST_ORDER"]
        return f"tests in random order: JAXMLP_TEST_ORDER={seed} repeats this order"


def pytest_collection_modifyitems(session, config, items):
    ids = {item.nodeid for item in items}
    if config.args == ["tests"] or config.args == []:  # the whole suite: no stale entry
        stale = sorted(set(THOROUGH_ONLY) - ids)
        assert not stale, f"tests/settings.py THOROUGH_ONLY names tests that do not exist: {stale}"
        modules = {i.split("::")[0] for i in ids}
        stale = sorted(set(CI_TIER) - ids - modules)
        assert not stale, f"tests/settings.py CI_TIER names tests that do not exist: {stale}"
    for item in items:
        if item.nodeid in CI_TIER or item.nodeid.split("::")[0] in CI_TIER:
            item.add_marker(pytest.mark.ci)
    if THOROUGH:
        random.Random(int(os.environ["JAXMLP_TEST_ORDER"])).shuffle(items)
        return
    for item in items:
        if item.nodeid in THOROUGH_ONLY:
            covered = THOROUGH_ONLY[item.nodeid]
            item.add_marker(pytest.mark.skip(reason=f"thorough run only (quick run: {covered})"))


@pytest.fixture(autouse=True)
def precision(request):
    """float32 (JAX's default) or, for a test marked ``float64``, 64-bit mode; strict promotion."""
    x64 = request.node.get_closest_marker("float64") is not None
    with (
        jax.enable_x64(x64),
        jax.numpy_dtype_promotion("strict"),
        jax.numpy_rank_promotion("raise"),
    ):
        yield x64


RELEASE_AT_MAPS = 16_000  # a quarter of Linux's default vm.max_map_count (65,530)


@pytest.fixture(autouse=True, scope="module")
def release_compiled_programs():
    """A worker runs hundreds of tests, and JAX keeps what they compile (its per-operation
    programs, the tests' own jits) for the life of the process: after a module, when the worker
    holds more than :data:`RELEASE_AT_MAPS` memory maps, every compiled program is released (the
    next module recompiles what it needs; releasing after every module costs the quick run a
    minute). ``$JAXMLP_MAPS_LOG``, when set, names a file that receives the worker's memory maps
    after each module, before any release (how far from ``vm.max_map_count``)."""
    yield
    try:
        with open("/proc/self/maps", "rb") as f:
            maps = f.read().count(b"\n")
    except OSError:  # not Linux: no maps to count, release every time
        maps = RELEASE_AT_MAPS + 1
    log = os.environ.get("JAXMLP_MAPS_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {maps} {programs.live_programs()}\n")
    if maps > RELEASE_AT_MAPS:
        programs.release_programs()


_COMPILATIONS: list[list[str]] = []  # the lists of the tests now counting


def _count(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        for seen in _COMPILATIONS:
            seen.append(event)


# one listener for the session (JAX before 0.9 cannot unregister one)
jax.monitoring.register_event_duration_secs_listener(_count)


@pytest.fixture
def compilations():
    """A list that receives one entry per XLA compilation while the test runs."""
    seen: list[str] = []
    _COMPILATIONS.append(seen)
    try:
        yield seen
    finally:
        _COMPILATIONS.remove(seen)
