"""The README's Python examples run as written, as a user runs them (each in a fresh Python: they
switch JAX to 64 bits at start-up, which must not leak into other tests), and say what they claim."""

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def run_block(marker: str, report: str) -> dict:
    """Run the README's Python block containing ``marker`` in a fresh interpreter, then ``report``
    (an expression over its names, giving a dict of numbers and flags); the dict."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    block = next(b for b in blocks if marker in b)
    script = block + f"\nimport json as _json\nprint(_json.dumps({report}))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=README.parent,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_python_examples_run():
    got = run_block(
        "jaxmlp.tutorial()",
        '{"net_h1": float(hidden.net[0]), "E": float(E), "w5": float(params1[1]["w"][0, 0]),'
        ' "passed": report.passed, "accuracy": float(accuracy)}',
    )
    assert abs(got["net_h1"] - 0.3775) < 1e-15
    assert abs(got["E"] - 0.298371109) < 5e-10
    assert abs(got["w5"] - 0.35891648) < 5e-9
    assert got["passed"]
    assert got["accuracy"] > 0.95


def test_readme_tables_are_the_experiments_output():
    text = README.read_text()
    marked = re.findall(
        r"<!-- (experiments/results/[\w.]+) -->\n(.*?)\n<!-- end -->", text, flags=re.S
    )
    results = sorted(p.name for p in (README.parent / "experiments" / "results").glob("*.md"))
    # Every table the experiments write is in the README once, and no block swallowed another.
    assert sorted(Path(name).name for name, _ in marked) == results
    assert all("<!-- " not in body for _, body in marked)
    for name, body in marked:
        assert body == (README.parent / name).read_text().strip(), (
            f"{name} differs: run python experiments/update_readme.py"
        )


def test_second_order_example_runs():
    got = run_block(
        "net.hvp(",
        '{"passed": report.passed, "lam": float(lam), "H": list(H.shape), "dE_dlr": float(dE_dlr)}',
    )
    assert got["passed"]
    assert abs(got["lam"] - 0.0365458975) < 1e-9
    assert got["H"] == [10, 10]
    assert got["dE_dlr"] < 0  # a larger rate trains the seed faster here
