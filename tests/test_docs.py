"""The documentation site's examples run as written: each page's ```python and ```bash blocks, in
order, in one fresh interpreter per page (python blocks share a namespace) and a fresh directory.
```console and ```py blocks (commands and fragments) are shown, not run. The site itself is built
by .ci/run (mkdocs build --strict); its command-line reference, generated from the parser, names
every option of every subcommand."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .settings import THOROUGH

DOCS = Path(__file__).parent.parent / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.S)
DRIVER = """
import subprocess, sys
namespace = {"__name__": "__main__"}
for kind, source in BLOCKS:
    if kind == "python":
        exec(compile(source, PAGE, "exec"), namespace)
    else:
        subprocess.run(["bash", "-euo", "pipefail", "-c", source], check=True)
"""


def test_the_command_line_reference_names_every_option_of_every_subcommand():
    import argparse

    from jaxmlp.cli import reference

    assert "<!-- cli-reference -->" in (DOCS / "reference" / "cli.md").read_text()
    text = reference.markdown()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    by_command = {s.split("`")[1]: s for s in sections}
    commands = reference.commands()
    assert set(by_command) == set(commands) and len(commands) >= 10
    for name, parser in commands.items():
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            for flag in action.option_strings or [action.dest]:
                assert f"`{flag}`" in by_command[name], (name, flag)


def test_every_page_is_in_the_site():
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    assert all(page in nav for page in PAGES)


@pytest.mark.skipif(not THOROUGH, reason="thorough run only (JAXMLP_THOROUGH=1)")
@pytest.mark.parametrize("page", PAGES)
def test_the_examples_on_a_page_run(page, tmp_path):
    blocks = BLOCK.findall((DOCS / page).read_text())
    script = f"BLOCKS = {blocks!r}\nPAGE = {page!r}\n" + DRIVER
    env_path = str(Path(sys.executable).parent)
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": env_path + ":/usr/bin:/bin", "HOME": str(tmp_path), "JAXMLP_CACHE_DIR": ""},
    )
    assert run.returncode == 0, run.stderr[-3000:]
