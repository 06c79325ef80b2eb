"""MkDocs hook: the explainer page and a run report, made by jaxmlp's own commands while the site
builds, added to the site as live pages (``live/explainer.html``, ``live/report.html``)."""

import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

_MADE = tempfile.TemporaryDirectory()  # lives as long as the build


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
    return files
