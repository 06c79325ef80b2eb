"""The ``jaxmlp`` command line.

Every user error (a bad option, a bad file, a value out of range) ends with
exit status 2 and one line on stderr, ``jaxmlp: error: ...``, never a
traceback. Heavy imports (rich, matplotlib, scikit-learn) happen inside the
commands that need them. The parser is :mod:`jaxmlp.cli.parser`, the commands
:mod:`jaxmlp.cli.commands`.
"""

from __future__ import annotations

import sys

from jaxmlp.cli.options import UsageError, enable_compilation_cache
from jaxmlp.cli.parser import build_parser

__all__ = ["USER_ERRORS", "UsageError", "build_parser", "main"]

USER_ERRORS = (UsageError, ValueError, TypeError, OSError)


def main(argv: list[str] | None = None) -> int:
    """The ``jaxmlp`` entry point: returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        enable_compilation_cache()
        return args.func(args)
    except USER_ERRORS as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"jaxmlp: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxmlp: interrupted", file=sys.stderr)
        return 130
