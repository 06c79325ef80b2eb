"""The README's Python examples run as written, as a user runs them (each in a fresh Python: they
switch JAX to 64 bits at start-up, which must not leak into other tests), and say what they claim."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.settings import thorough_only

README = Path(__file__).parent.parent / "README.md"


def run_blocks() -> dict:
    """Run the README's Python examples (the library tour, second order, the scikit-learn
    estimators), each in a fresh
    namespace of one fresh interpreter, and report what they claim as JSON."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    tour = next(b for b in blocks if "jaxmlp.tutorial()" in b)
    second = next(b for b in blocks if "net.hvp(" in b)
    estimators = next(b for b in blocks if "from jaxmlp.sklearn import" in b)
    watch = next(b for b in blocks if "monitor=jaxmlp.Monitor" in b)
    script = f"""
import json
tour, second, sk, watch = {{}}, {{}}, {{}}, {{}}
exec(compile({watch!r}, "README.md", "exec"), watch)
exec(compile({tour!r}, "README.md", "exec"), tour)
exec(compile({second!r}, "README.md", "exec"), second)
exec(compile({estimators!r}, "README.md", "exec"), sk)
m = watch["m"]
scaled = sk["search"].best_estimator_[0].transform(sk["X"])
print(json.dumps({{
    "net_h1": float(tour["hidden"].net[0]), "E": float(tour["E"]),
    "w5": float(tour["params1"][1]["w"][0, 0]), "passed": tour["report"].passed,
    "accuracy": float(tour["accuracy"]),
    "hvp_passed": second["report"].passed, "lam": float(second["lam"]),
    "H": list(second["H"].shape), "dE_dlr": float(second["dE_dlr"]),
    "scores": sk["scores"].tolist(), "theirs": sk["theirs"].tolist(),
    "net": list(sk["net"].sizes), "twin": type(sk["twin"]).__module__,
    "twin_agrees": bool((sk["twin"].predict(scaled) == sk["fitted"].predict(scaled)).all()),
    "monitor_steps": m.step.tolist(), "sharpness": m.sharpness.tolist(),
    "grad_norm_shape": list(m.grad_norm.shape), "dead_shape": list(m.dead.shape),
}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=README.parent,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@thorough_only
def test_python_examples_run():
    got = run_blocks()
    assert abs(got["net_h1"] - 0.3775) < 1e-15
    assert abs(got["E"] - 0.298371109) < 5e-10
    assert abs(got["w5"] - 0.35891648) < 5e-9
    assert got["passed"]
    assert got["accuracy"] > 0.95
    # second order
    assert got["hvp_passed"]
    assert abs(got["lam"] - 0.0365458975) < 1e-9
    assert got["H"] == [10, 10]
    assert got["dE_dlr"] < 0  # a larger rate trains the seed faster here
    # scikit-learn's estimator swapped for jaxmlp's: the same cross-validation scores
    assert got["scores"] == pytest.approx(got["theirs"], abs=1e-12) and min(got["scores"]) > 0.9
    assert got["net"] == [64, 100, 10] and got["twin"].startswith("sklearn.neural_network")
    assert got["twin_agrees"]
    # the monitor: a record every 50 steps, a positive sharpness, per layer and per hidden layer
    assert got["monitor_steps"] == list(range(0, 500, 50))
    assert all(v > 0 for v in got["sharpness"])
    assert got["grad_norm_shape"] == [10, 2] and got["dead_shape"] == [10, 1]


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
