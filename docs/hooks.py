"""MkDocs hooks: the explainer page and a run report, made by jaxmlp's own commands while the site
builds, added to the site as live pages (``live/explainer.html``, ``live/report.html``); the
experiments' figures (``experiments/results/**/*.png``) added as ``results/...``; and the
command-line reference, generated from the parser where a page says ``<!-- cli-reference -->``."""

import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

_MADE = tempfile.TemporaryDirectory()  # lives as long as the build
_ROOT = Path(__file__).parent.parent


def on_files(files, config, **kwargs):
    live = Path(_MADE.name) / "live"
    live.mkdir(exist_ok=True)
    commands = {
        "explainer.html": ["trace", "--format", "html", "--output"],
        "report.html": ["train", "xor", "--steps", "500", "--json", "--report"],
    }
    for name, args in commands.items():
        subprocess.run(
            [sys.executable, "-m", "jaxmlp", *args, str(live / name)],
            cwd=_MADE.name,
            check=True,
            capture_output=True,
        )
        files.append(
            File(f"live/{name}", _MADE.name, config["site_dir"], config["use_directory_urls"])
        )
    results = _ROOT / "experiments" / "results"
    for png in sorted(results.rglob("*.png")):
        name = f"results/{png.relative_to(results).as_posix()}"
        files.append(
            File(name, str(_ROOT / "experiments"), config["site_dir"], config["use_directory_urls"])
        )
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    if "<!-- cli-reference -->" in markdown:
        from jaxmlp.cli.reference import markdown as cli_markdown

        markdown = markdown.replace("<!-- cli-reference -->", cli_markdown())
    return markdown
