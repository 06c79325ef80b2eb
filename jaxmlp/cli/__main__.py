"""``python -m jaxmlp.cli``: the same as the ``jaxmlp`` command."""

import sys

from jaxmlp.cli import main

__all__ = []

sys.exit(main())
