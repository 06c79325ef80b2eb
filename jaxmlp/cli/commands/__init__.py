"""The ``jaxmlp`` commands, one module each: each takes the parsed arguments and returns the exit status.

Errors a user can cause are raised as ``ValueError``/``TypeError``/``OSError`` or
:class:`jaxmlp.cli.UsageError`; :func:`jaxmlp.cli.main` turns them into one line and
exit status 2. Heavy imports happen inside the command that needs them.
"""

from jaxmlp.cli.commands.bench import cmd_bench
from jaxmlp.cli.commands.model import cmd_evaluate, cmd_export, cmd_predict
from jaxmlp.cli.commands.seed import cmd_gradcheck, cmd_reproduce, cmd_trace
from jaxmlp.cli.commands.sweep import cmd_sweep
from jaxmlp.cli.commands.train import cmd_train

__all__ = [
    "cmd_gradcheck",
    "cmd_reproduce",
    "cmd_trace",
    "cmd_train",
    "cmd_evaluate",
    "cmd_export",
    "cmd_predict",
    "cmd_sweep",
    "cmd_bench",
]
