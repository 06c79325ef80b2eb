"""The JAX version policy (pyproject.toml): the versions with known XLA:CPU faults are excluded,
and the JAX installed computes upstream's reproducers and jaxmlp's own vmapped products followed
by reductions correctly, each in a fresh process (tests/jax_faults.py; a fault may crash it)."""

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests import jax_faults
from tests.settings import THOROUGH

ROOT = Path(__file__).parent.parent
EXCLUDED = {"0.10.2", "0.11.0"}  # jax-ml/jax#39103, #40412 (0.10.2); #39257 (0.10.2, 0.11.0)
MINIMUM = "0.8.0"  # jax.enable_x64 as a context manager


def requirement(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if re.match(rf"{name}\b", d) and not d.startswith(f"{name}-")]
    return spec


@pytest.mark.parametrize("name", ["jax", "jaxlib"])
def test_pyproject_excludes_the_faulty_versions_and_names_the_minimum(name):
    spec = requirement(name)
    assert f">={MINIMUM}" in spec, spec
    for version in EXCLUDED:
        assert f"!={version}" in spec, spec


@pytest.mark.parametrize("name", ["jax", "jaxlib"])
def test_the_installed_jax_is_not_an_excluded_version(name):
    assert metadata.version(name) not in EXCLUDED


UPSTREAM = ["matvec-reduction", "rank7-reduce"]
OWN = ["per-example-gradients", "population", "hessian", "lanczos"]


@pytest.mark.parametrize(
    "case",
    UPSTREAM
    + [
        pytest.param(c, marks=pytest.mark.skipif(not THOROUGH, reason="thorough run only"))
        for c in OWN
    ],
)
def test_the_installed_jax_computes_the_reproducers_correctly(case):
    assert case in jax_faults.CASES
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "jax_faults.py"), case],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, f"{case} crashed (exit {run.returncode}): {run.stderr[-2000:]}"
    assert run.stdout.strip() == "ok", run.stdout


@pytest.mark.skipif(not THOROUGH, reason="thorough run only")
def test_a_command_run_again_from_the_compilation_cache_says_nothing_on_stderr(tmp_path):
    """jaxlib 0.10.1's loader of cached programs logs errors for each one on some CPUs: jaxmlp
    leaves the persistent cache off there (jaxmlp.compilation_cache.NOISY_LOADERS)."""
    env = {**os.environ, "JAXMLP_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-m", "jaxmlp", "reproduce", "--json"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert run.returncode == 0 and run.stderr == "", run.stderr[-2000:]
