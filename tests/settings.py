"""How hard the property tests try: a few examples by default, many with ``JAXMLP_THOROUGH=1``.

The README's ``pytest`` runs the quick version (a few minutes on two cores);
``.ci/run`` sets ``JAXMLP_THOROUGH=1`` for the full one (more hypothesis
examples, every parametrisation, the two-process run).
"""

import os

import pytest

THOROUGH = os.environ.get("JAXMLP_THOROUGH", "") not in ("", "0")


def examples(n: int) -> int:
    """``n`` hypothesis examples when thorough, else a sixteenth of them (at least 2)."""
    return n if THOROUGH else max(2, n // 16)


thorough_only = pytest.mark.skipif(
    not THOROUGH, reason="thorough run only (JAXMLP_THOROUGH=1, as .ci/run sets it)"
)
