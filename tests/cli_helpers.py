"""Running the CLI in-process (fast) and as a real process (exit codes, stderr)."""

import json
import subprocess
import sys

from jaxmlp.cli import main


def run(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``jaxmlp argv`` in this process."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def run_process(*argv, timeout=120, **kw):
    """``jaxmlp argv`` as a separate Python process."""
    return subprocess.run(
        [sys.executable, "-m", "jaxmlp.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def assert_one_line_error(code, err, *needles):
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxmlp: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def child_json(module: str, *args) -> dict:
    """``module.child()`` run in a fresh Python process with ``args`` (its ``sys.argv[1:]``): the
    JSON of its last output line."""
    out = subprocess.run(
        [sys.executable, "-c", f"from {module} import child; child()", *map(str, args)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])
