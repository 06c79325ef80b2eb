"""The README's Python examples run as written, and say what they claim."""

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    library = next(b for b in blocks if "jaxmlp.tutorial()" in b)
    scope: dict = {}
    exec(compile(library, "README.md", "exec"), scope)
    assert abs(float(scope["hidden"].net[0]) - 0.3775) < 1e-15
    assert abs(float(scope["E"]) - 0.298371109) < 5e-10
    assert abs(float(scope["params1"][1]["w"][0, 0]) - 0.35891648) < 5e-9
    assert scope["report"].passed
    assert float(scope["accuracy"]) > 0.95


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
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    block = next(b for b in blocks if "net.hvp(" in b)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["report"].passed
    assert abs(float(scope["lam"]) - 0.0365458975) < 1e-9
    assert scope["H"].shape == (10, 10)
    assert float(scope["dE_dlr"]) < 0  # a larger rate trains the seed faster here
