"""The test runner's policy (``[tool.pytest.ini_options]`` in pyproject.toml): a test whose worker
process dies runs once more on a fresh worker; a test that fails fails, and is not rerun."""

import subprocess
import sys
from pathlib import Path

from tests.settings import thorough_only

ROOT = Path(__file__).parent.parent

CASES = """
import os, signal
from pathlib import Path

def test_dies_once():
    mark = Path(__file__).with_name("died")
    if not mark.exists():
        mark.write_text("")
        os.kill(os.getpid(), signal.SIGSEGV)

def test_fails():
    assert 1 == 2, "a real failure"
"""


@thorough_only
def test_a_dead_worker_reruns_its_test_once_and_a_failure_is_not_rerun(tmp_path):
    (tmp_path / "test_cases.py").write_text(CASES)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(tmp_path), "-p", "no:cacheprovider", "-q", str(tmp_path / "test_cases.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    last = run.stdout.strip().splitlines()[-1]
    assert (tmp_path / "died").exists(), run.stdout
    assert "1 failed, 1 passed, 1 rerun" in last, run.stdout
    assert "FAILED test_cases.py::test_fails - AssertionError: a real failure" in run.stdout
