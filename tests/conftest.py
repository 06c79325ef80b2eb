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

from tests.settings import THOROUGH

# The CLI's persistent compilation cache stays off in tests (in-process and in subprocesses).
os.environ["JAXMLP_CACHE_DIR"] = ""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "float64: run in JAX's 64-bit mode, scoped to the test (jax.enable_x64)"
    )
    # The thorough run shuffles the tests (no test may depend on another's order); the workers
    # inherit the seed from the environment, so they collect the same order.
    if THOROUGH and not os.environ.get("JAXMLP_TEST_ORDER"):
        os.environ["JAXMLP_TEST_ORDER"] = str(random.SystemRandom().randrange(2**32))


def pytest_report_header(config):
    if THOROUGH:
        seed = os.environ["JAXMLP_TEST_ORDER"]
        return f"tests in random order: JAXMLP_TEST_ORDER={seed} repeats this order"


def pytest_collection_modifyitems(session, config, items):
    if THOROUGH:
        random.Random(int(os.environ["JAXMLP_TEST_ORDER"])).shuffle(items)


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


@pytest.fixture
def compilations():
    """A list that receives one entry per XLA compilation while the test runs (a jax.monitoring
    listener, removed when the test ends)."""
    seen: list[str] = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
