"""Copy the tables the experiments wrote (experiments/results/*.md) into the README, between its
``<!-- experiments/results/NAME.md -->`` and ``<!-- end -->`` markers.

    python experiments/update_readme.py

Run it after the experiments; the README's tables are then exactly their output.
"""

import re
from pathlib import Path

from jaxmlp.io.atomic import write_text

ROOT = Path(__file__).parent.parent
# The body may be empty and never holds another marker, so one block cannot swallow the next.
MARKED = re.compile(
    r"<!-- (experiments/results/[\w.]+) -->\n(?:(?:(?!<!-- ).)*?\n)?<!-- end -->", re.S
)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    names = MARKED.findall(text)
    text = MARKED.sub(
        lambda m: f"<!-- {m.group(1)} -->\n{(ROOT / m.group(1)).read_text().strip()}\n<!-- end -->",
        text,
    )
    write_text(readme, text)
    print("updated:", ", ".join(names))


if __name__ == "__main__":
    main()
