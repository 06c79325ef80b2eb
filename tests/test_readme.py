"""The README is the front door: short, public names only, its examples run as written (thorough
run); the manual's larger examples (the library tour, second order, the scikit-learn estimators, the
monitor) run and say what they claim; every table the experiments write is on the site."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jaxmlp
from tests.settings import thorough_only

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def test_the_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        assert (ROOT / target).exists(), target


def test_the_readme_example_uses_public_names_only():
    (block,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    tree = ast.parse(block)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))
    assert "jaxmlp" in imported and not any(name.startswith("jaxmlp.") for name in imported)
    used = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "jaxmlp"
    }
    assert used and used <= set(jaxmlp.__all__), used - set(jaxmlp.__all__)


@thorough_only
def test_the_readme_examples_run(tmp_path):
    text = README.read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    script = block + "\nprint(bool(report.passed), float(accuracy))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    passed, accuracy = done.stdout.split()
    assert passed == "True" and float(accuracy) > 0.95
    (shell,) = re.findall(r"```bash\n(.*?)\n```\n", text, flags=re.S)
    env_path = str(Path(sys.executable).parent)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"PATH": env_path + ":/usr/bin:/bin", "HOME": str(tmp_path), "JAXMLP_CACHE_DIR": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "predictions.csv").read_text().splitlines()) == 151
    assert "accuracy" in done.stdout


def manual_blocks() -> list[str]:
    return [
        block
        for page in sorted(DOCS.rglob("*.md"))
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    ]


def run_blocks() -> dict:
    """Run the manual's larger Python examples (the library tour, second order, the scikit-learn
    estimators, the monitor), each in a fresh namespace of one fresh interpreter, and report what
    they claim as JSON."""
    blocks = manual_blocks()
    tour = next(b for b in blocks if "jaxmlp.tutorial()" in b)
    second = next(b for b in blocks if "net.hvp(" in b)
    estimators = next(b for b in blocks if "from jaxmlp.sklearn import" in b)
    watch = next(b for b in blocks if "monitor=jaxmlp.Monitor" in b)
    script = f"""
import json
tour, second, sk, watch = {{}}, {{}}, {{}}, {{}}
exec(compile({watch!r}, "monitor.md", "exec"), watch)
exec(compile({tour!r}, "library.md", "exec"), tour)
exec(compile({second!r}, "second-order-by-hand.md", "exec"), second)
exec(compile({estimators!r}, "sklearn.md", "exec"), sk)
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
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@thorough_only
def test_the_manuals_examples_run_and_say_what_they_claim():
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


def test_every_table_the_experiments_write_is_on_the_site():
    """Pages include the tables by reference (``--8<--``), so the site shows exactly their output."""
    included = {
        name
        for page in DOCS.rglob("*.md")
        for name in re.findall(r'--8<-- "(experiments/results/[\w.]+)"', page.read_text())
    }
    results = {
        f"experiments/results/{p.name}" for p in (ROOT / "experiments" / "results").glob("*.md")
    }
    assert included == results
