"""The ``jaxmlp`` command line.

Every user error (a bad option, a bad file, a value out of range, a run larger
than the machine's memory) ends with exit status 2 and one line on stderr,
``jaxmlp: error: ...``, never a traceback. Heavy imports (rich, matplotlib, scikit-learn) happen inside the
commands that need them. The parser is :mod:`jaxmlp.cli.parser`, the commands
:mod:`jaxmlp.cli.commands`.
"""

from __future__ import annotations

import sys

from jaxmlp import programs
from jaxmlp.cli.options import UsageError
from jaxmlp.cli.parser import build_parser
from jaxmlp.compilation_cache import enable_compilation_cache

__all__ = ["USER_ERRORS", "UsageError", "build_parser", "main"]

USER_ERRORS = (UsageError, ValueError, TypeError, OSError)


def main(argv: list[str] | None = None) -> int:
    """The ``jaxmlp`` entry point: returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        programs.program_limit()  # a bad $JAXMLP_MAX_PROGRAMS is refused before any work
        enable_compilation_cache()
        return args.func(args)
    except USER_ERRORS as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"jaxmlp: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxmlp: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # XLA's out-of-memory error: asked for more than the machine has
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        detail = str(e).split("RESOURCE_EXHAUSTED:", 1)[1].strip().splitlines()[0]
        print(
            f"jaxmlp: error: the device ran out of memory ({detail.rstrip('.')}): ask for a smaller "
            "population, batch, data set or network",
            file=sys.stderr,
        )
        return 2
