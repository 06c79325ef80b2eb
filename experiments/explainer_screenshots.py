"""The screenshots in the README and the documentation of the explainer and the training report, taken by the browser tests.

    python experiments/explainer_screenshots.py

Runs ``tests/test_browser.py`` (headless Chromium: ``apt-get install chromium chromium-driver``)
with ``JAXMLP_SCREENSHOTS`` set, so the pictures are those of pages the tests walked through.
Writes ``results/screenshots/*.png``.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    env = {
        **os.environ,
        "JAXMLP_SCREENSHOTS": str(ROOT / "experiments" / "results" / "screenshots"),
        "JAXMLP_THOROUGH": "1",
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", "0", "tests/test_browser.py"]
    sys.exit(subprocess.run(cmd, cwd=ROOT, env=env).returncode)
