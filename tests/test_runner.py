"""The test runner's policy (``[tool.pytest.ini_options]`` in pyproject.toml): a test whose worker
process dies fails, as a test that fails does; nothing is rerun."""

import subprocess
import sys
from pathlib import Path

from tests.settings import thorough_only

ROOT = Path(__file__).parent.parent

CASES = """
import os, signal

def test_dies():
    os.kill(os.getpid(), signal.SIGSEGV)

def test_fails():
    assert 1 == 2, "a real failure"

def test_passes():
    pass
"""


@thorough_only
def test_a_dead_worker_fails_its_test_and_nothing_is_rerun(tmp_path):
    (tmp_path / "test_cases.py").write_text(CASES)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(tmp_path), "-p", "no:cacheprovider", "-q", str(tmp_path / "test_cases.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    last = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 1, run.stdout
    assert "2 failed, 1 passed" in last and "rerun" not in run.stdout, run.stdout
    assert "FAILED test_cases.py::test_fails - AssertionError: a real failure" in run.stdout
    assert "crashed while running 'test_cases.py::test_dies'" in run.stdout
