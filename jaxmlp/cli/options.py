"""What the command line's parser and its commands share: argument types, option groups, the
one-line user error, and where results are printed. Imported by :mod:`jaxmlp.cli` (the parser)
and :mod:`jaxmlp.cli.commands` (the commands), which do not import each other's modules in a cycle.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jaxmlp

__all__ = [
    "UsageError",
    "Parser",
    "sizes_arg",
    "fraction",
    "fraction_or_zero",
    "bag_fraction",
    "non_negative_float",
    "positive",
    "add_network_options",
    "add_parallel_options",
    "DATASETS",
    "add_data_arguments",
    "file_options",
    "network_overrides",
    "shared",
]


class UsageError(ValueError):
    """A user error: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as :class:`UsageError` (one line, exit 2)."""

    def error(self, message):
        """Raise instead of printing the usage and exiting."""
        raise UsageError(f"{self.prog}: {message}")


def sizes_arg(text: str) -> tuple[int, ...]:
    """``"3,4,2"`` -> ``(3, 4, 2)``: at least two positive integers."""
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes must be comma-separated positive integers such as 3,4,2, got {text!r}"
        ) from None
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"sizes must be at least two positive integers such as 3,4,2, got {text!r}"
        )
    return sizes


def _number(text: str, ok, expected: str) -> float:
    """``float(text)`` when ``ok`` of it, else an argparse error saying what was ``expected``."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return v


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    return _number(text, lambda v: 0 < v < 1, "a number between 0 and 1")


def fraction_or_zero(text: str) -> float:
    """An argparse type: a number in [0, 1) (0: none)."""
    return _number(text, lambda v: 0 <= v < 1, "a number in [0, 1)")


def bag_fraction(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    return _number(text, lambda v: 0 < v <= 1, "a number in (0, 1]")


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    return _number(text, lambda v: 0 <= v < float("inf"), "a number >= 0")


def positive(kind):
    """An argparse type: a positive number of ``kind`` (finite, for floats)."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}"
            ) from None
        if not v > 0 or v != v or v == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return v

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def add_network_options(
    p: argparse.ArgumentParser,
    *,
    sizes=None,
    activation="logistic",
    output="logistic",
    loss="half_sse",
    bias="per_neuron",
    train_bias: bool | None = True,
) -> None:
    """The options that configure an :class:`jaxmlp.MLP` (defaults None: the data set's), with
    one spelling of the bias switch everywhere: ``--train-bias`` / ``--no-train-bias``."""

    def default(value) -> str:
        return "(default: the data set's)" if value is None else "(default %(default)s)"

    p.add_argument("--sizes", type=sizes_arg, default=sizes, help="layer widths, e.g. 3,4,2")
    p.add_argument(
        "--activation",
        choices=jaxmlp.HIDDEN_ACTIVATIONS,
        default=activation,
        help=f"hidden activation {default(activation)}",
    )
    p.add_argument(
        "--output-activation",
        choices=tuple(jaxmlp.ACTIVATIONS),
        default=output,
        help=f"output activation {default(output)}",
    )
    p.add_argument(
        "--loss",
        choices=tuple(jaxmlp.LOSSES),
        default=loss,
        help=f"per-example loss {default(loss)}",
    )
    p.add_argument(
        "--bias", choices=jaxmlp.BIAS_MODES, default=bias, help=f"bias mode {default(bias)}"
    )
    which = {True: "trained", False: "frozen", None: "as the data set says"}[train_bias]
    p.add_argument(
        "--train-bias",
        action=argparse.BooleanOptionalAction,
        default=train_bias,
        help=f"update the biases, or freeze them (default: {which})",
    )


def add_parallel_options(p) -> None:
    """``--devices`` and the multi-host options of ``train`` and ``sweep``."""
    g = p.add_argument_group("devices and hosts")
    g.add_argument(
        "--devices",
        type=positive(int),
        help="shard over this many devices (a 1-D mesh); the batch or population must divide by it",
    )
    g.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="multi-host: the coordinator (also JAXMLP_COORDINATOR)",
    )
    g.add_argument(
        "--num-processes",
        type=positive(int),
        help="multi-host: number of processes (also JAXMLP_NUM_PROCESSES)",
    )
    g.add_argument(
        "--process-id", type=int, help="multi-host: this process, 0..N-1 (also JAXMLP_PROCESS_ID)"
    )


DATASETS = ("tutorial", "xor", "digits", "csv")  # the names; anything else is a file


def add_data_arguments(p, default: str | None = None) -> None:
    """The data set (with ``default``, optional), its CSV options, and the network overrides."""
    names = ", ".join(DATASETS)
    if default is None:
        p.add_argument("dataset", help=f"data set ({names}) or a data file")
    else:
        p.add_argument(
            "dataset",
            nargs="?",
            default=default,
            help=f"data set ({names}; default %(default)s) or a data file",
        )
    p.add_argument(
        "path", nargs="?", help="the data file: CSV, Parquet or .npz (after csv; or in its place)"
    )
    p.add_argument("--target", help="the column to predict (csv only; y in an .npz file)")
    p.add_argument(
        "--task",
        choices=("classification", "regression"),
        help="override the task guessed from the target column",
    )
    g = p.add_argument_group("data files (csv)")
    g.add_argument(
        "--delimiter", help="the CSV field delimiter (default: detected among , ; tab |)"
    )
    g.add_argument(
        "--missing",
        choices=("impute", "drop", "error"),
        help="a missing feature value: impute it (numbers: the training median; every column "
        "with a missing value gets an indicator input), drop its row, or refuse it naming "
        "row and column (default impute; rows whose target is missing are always left out)",
    )
    g.add_argument(
        "--drop-missing",
        action="store_true",
        help="the same as --missing drop",
    )
    g.add_argument(
        "--ignore",
        metavar="COL,...",
        help="leave these columns out (besides those left out by themselves: one value in "
        "every row, row ids)",
    )
    g.add_argument(
        "--scaling",
        choices=("robust", "standard"),
        help="numeric inputs: mean and standard deviation (standard), or median and IQR then "
        "smooth clipping to about +-3 (robust); statistics of the training rows "
        "(default standard)",
    )
    g.add_argument(
        "--test", metavar="FILE", help="a separate test file with the same columns (any order)"
    )
    g.add_argument(
        "--test-fraction",
        type=float,
        default=0.0,
        help="share of the rows held out as a test part, scored after training, when there is "
        "no --test file (default 0: every row trains; the recipe holds out its own validation "
        "rows)",
    )
    g.add_argument(
        "--split-seed", type=int, default=0, help="seed of the train/test split (default 0)"
    )
    add_network_options(p, activation=None, output=None, loss=None, bias=None, train_bias=None)


def file_options(args) -> dict:
    """The data-file options of ``train`` and ``sweep`` as :func:`jaxmlp.io.file_dataset.read_table` takes them.

    A file in the data set's place is the ``csv`` data set (``jaxmlp train FILE`` is ``jaxmlp train
    csv FILE``): ``args`` is changed to say so."""
    if args.dataset not in DATASETS:
        if args.path is not None:
            raise UsageError(
                f"unknown data set {args.dataset!r}; expected one of {', '.join(DATASETS)}, "
                "or a data file in its place"
            )
        if not Path(args.dataset).exists():
            raise UsageError(
                f"{args.dataset!r} is neither a data set ({', '.join(DATASETS)}) nor a file"
            )
        args.dataset, args.path = "csv", args.dataset
    if args.dataset != "csv":
        given = [
            flag
            for flag, value in (
                ("--delimiter", args.delimiter),
                ("--drop-missing", args.drop_missing),
                ("--missing", args.missing),
                ("--ignore", args.ignore),
                ("--scaling", args.scaling),
                ("--test", args.test),
            )
            if value
        ]
        if given:
            raise UsageError(f"{', '.join(given)} apply to data files only (jaxmlp train csv FILE)")
        return {}
    if args.delimiter is not None and len(args.delimiter.encode()) != 1:
        raise UsageError(f"--delimiter must be one character, got {args.delimiter!r}")
    if not 0 <= args.test_fraction < 1:
        raise UsageError(f"--test-fraction must lie in [0, 1), got {args.test_fraction}")
    if args.drop_missing and args.missing not in (None, "drop"):
        raise UsageError(f"--drop-missing contradicts --missing {args.missing}")
    ignore = tuple(c.strip() for c in (args.ignore or "").split(",") if c.strip())
    if args.ignore is not None and not ignore:
        raise UsageError("--ignore needs column names, separated by commas")
    return {
        "delimiter": args.delimiter,
        "missing": "drop" if args.drop_missing else args.missing or "impute",
        "ignore": ignore,
        "scaling": args.scaling or "standard",
        "test": args.test,
        "test_fraction": args.test_fraction,
        "split_seed": args.split_seed,
        "dtype": "float64" if args.x64 else "float32",
    }


def network_overrides(args) -> dict:
    """The network options a ``train`` or ``sweep`` command was given (None: the data set's default)."""
    return {
        k: getattr(args, k)
        for k in ("sizes", "activation", "output_activation", "loss", "bias", "train_bias")
    }


# --- the parser -------------------------------------------------------------------


def shared(
    *,
    json: str | None = None,
    x64: str | None = None,
    seed: str | None = None,
    grad: bool = False,
    chunk_size: bool = False,
    plot: str | None = None,
) -> Parser:
    """A parent parser with the options several commands share, each declared here once: pass
    the ones a command takes (the text says what the option means there). One convention each:
    ``--grad`` defaults to the handwritten delta rule, ``--chunk-size`` to about 1,000 steps in
    equal chunks, ``--plot`` is a folder the command writes its figures into."""
    from jaxmlp.training.arguments import DEFAULT_CHUNK
    from jaxmlp.training.loop import GRADS

    p = Parser(add_help=False)
    if json is not None:
        p.add_argument("--json", action="store_true", help=json)
    if x64 is not None:
        p.add_argument("--x64", action="store_true", help=x64)
    if seed is not None:
        p.add_argument("--seed", type=int, default=0, help=f"{seed} (default %(default)s)")
    if grad:
        p.add_argument(
            "--grad",
            choices=GRADS,
            default="backprop",
            help="the gradient: jax.grad (autodiff) or the handwritten delta rule (backprop), "
            "checked against jax.grad before training (default %(default)s)",
        )
    if chunk_size:
        p.add_argument(
            "--chunk-size",
            type=positive(int),
            help="steps per compiled call, with progress and checkpoints between (default about "
            f"{DEFAULT_CHUNK}, in equal chunks; one epoch with train's --validation-fraction)",
        )
    if plot is not None:
        p.add_argument(
            "--plot",
            metavar="DIR",
            help=f"write {plot} into DIR (created if missing)",
        )
    return p
