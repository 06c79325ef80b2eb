"""The ``jaxmlp`` command line.

Every user error (a bad option, a bad file, a value out of range) ends with
exit status 2 and one line on stderr, ``jaxmlp: error: ...``, never a
traceback. Heavy imports (rich, matplotlib, scikit-learn) happen inside the
commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys

import jaxmlp


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


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return v


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
) -> None:
    """The options that configure an :class:`jaxmlp.MLP` (defaults None: the data set's)."""
    p.add_argument("--sizes", type=sizes_arg, default=sizes, help="layer widths, e.g. 3,4,2")
    p.add_argument(
        "--activation",
        choices=jaxmlp.HIDDEN_ACTIVATIONS,
        default=activation,
        help="hidden activation (default %(default)s)",
    )
    p.add_argument(
        "--output-activation",
        choices=tuple(jaxmlp.ACTIVATIONS),
        default=output,
        help="output activation (default %(default)s)",
    )
    p.add_argument(
        "--loss",
        choices=tuple(jaxmlp.LOSSES),
        default=loss,
        help="per-example loss (default %(default)s)",
    )
    p.add_argument(
        "--bias", choices=jaxmlp.BIAS_MODES, default=bias, help="bias mode (default %(default)s)"
    )


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache, so a second run of a command skips XLA compilation.

    In ``$JAXMLP_CACHE_DIR`` (default ``~/.cache/jaxmlp/xla``); set it empty to turn the cache off.
    """
    path = os.environ.get(
        "JAXMLP_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "jaxmlp", "xla")
    )
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def enable_x64() -> None:
    """float64 for the commands that ask for it, before any array exists."""
    import jax

    jax.config.update("jax_enable_x64", True)


_RESULTS = None  # where results go when the process's stdout was handed to native libraries


def emit(text: str) -> None:
    """Print ``text`` to stdout with one trailing newline, flushed."""
    out = _RESULTS or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def keep_stdout_for_results() -> None:
    """Point file descriptor 1 at stderr, keeping the real stdout for :func:`emit` alone.

    gloo's C++ side prints "[Gloo] Rank k is connected ..." to stdout in
    multi-process runs; without this, ``--json`` output would not parse.
    """
    global _RESULTS
    if _RESULTS is None:
        sys.stdout.flush()
        _RESULTS = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)


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


def add_data_arguments(p, default: str | None = None) -> None:
    """The data set (with ``default``, optional), its CSV options, and the network overrides."""
    datasets = ("tutorial", "xor", "digits", "csv")
    if default is None:
        p.add_argument("dataset", choices=datasets, help="data set")
    else:
        p.add_argument(
            "dataset",
            nargs="?",
            default=default,
            choices=datasets,
            help="data set (default %(default)s)",
        )
    p.add_argument("path", nargs="?", help="the data file: CSV, Parquet or .npz (csv only)")
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
        "--drop-missing",
        action="store_true",
        help="drop rows with a missing value (default: a missing value is an error naming it)",
    )
    g.add_argument(
        "--test", metavar="FILE", help="a separate test file with the same columns (any order)"
    )
    g.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="share of the rows held out for testing without --test (default %(default)s)",
    )
    g.add_argument(
        "--split-seed", type=int, default=0, help="seed of the train/test split (default 0)"
    )
    add_network_options(p, activation=None, output=None, loss=None, bias=None)
    p.add_argument(
        "--train-bias",
        dest="train_bias",
        action="store_const",
        const=True,
        default=None,
        help="update the biases",
    )
    p.add_argument(
        "--no-train-bias",
        dest="train_bias",
        action="store_const",
        const=False,
        help="freeze the biases",
    )


def file_options(args) -> dict:
    """The data-file options of ``train`` and ``sweep`` as :func:`jaxmlp.data.read_table` takes them."""
    if args.dataset != "csv":
        given = [
            flag
            for flag, value in (
                ("--delimiter", args.delimiter),
                ("--drop-missing", args.drop_missing),
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
    return {
        "delimiter": args.delimiter,
        "drop_missing": args.drop_missing,
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


def build_parser() -> Parser:
    from jaxmlp import commands

    """The argument parser of every command."""
    parser = Parser(
        prog="jaxmlp",
        description="Multilayer perceptrons in JAX, with backpropagation by hand and by autodiff.",
    )
    parser.add_argument("--version", action="version", version=f"jaxmlp {jaxmlp.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    p = sub.add_parser(
        "reproduce",
        help="every number of the seed tutorial, checked, with its errata",
        description="Run the seed network in float64 and compare every figure the seed prints.",
        epilog="example: jaxmlp reproduce --plot seed.png",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--plot",
        metavar="PATH",
        help="write a PNG of E_total over 10,000 steps, both update orders",
    )
    p.set_defaults(func=commands.cmd_reproduce)

    p = sub.add_parser(
        "trace",
        help="the step-by-step derivation of one SGD step, for the seed or any network",
        description="Print every net input, output, error, chain-rule product, delta and updated weight.",
        epilog="example: jaxmlp trace --sizes 3,4,2 --activation tanh --output-activation logistic --loss half_sse --seed 0",
    )
    add_network_options(p, bias="shared")
    p.add_argument(
        "--train-bias",
        action="store_true",
        help="update the biases too (the seed keeps them fixed)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="PRNG seed for a random network (with --sizes)"
    )
    p.add_argument("--learning-rate", type=positive(float), default=None, help="eta (default 0.5)")
    p.add_argument(
        "--weights", metavar="FILE", help="JSON file with weights, biases, x, y (see the README)"
    )
    p.add_argument(
        "--example",
        type=int,
        default=0,
        help="which example of the weights file to trace (default 0)",
    )
    p.add_argument(
        "--format",
        choices=("text", "markdown", "html"),
        default="text",
        help="html: one self-contained interactive page (the network drawn, the steps, a training "
        "run); default text",
    )
    p.add_argument(
        "--output", metavar="PATH", help="write the trace here instead of standard output"
    )
    p.add_argument(
        "--steps",
        type=positive(int),
        default=10_000,
        help="steps of the html page's training panel (default 10000)",
    )
    p.add_argument(
        "--json", action="store_true", help="every quantity with its name and value, as JSON"
    )
    p.add_argument(
        "--second-order",
        action="store_true",
        help="the Hessian over every parameter (by the handwritten R-operator) and its eigenvalues",
    )
    p.set_defaults(func=commands.cmd_trace)

    p = sub.add_parser(
        "gradcheck",
        help="compare handwritten backprop with jax.grad (and finite differences)",
        description="Random network and batch; backprop vs autodiff leaf by leaf.",
        epilog="example: jaxmlp gradcheck --sizes 3,5,4,2 --activation tanh --output-activation softmax --loss cross_entropy --bias per_neuron --batch 8 --seed 0 --x64",
    )
    add_network_options(p, sizes=(3, 5, 4, 2))
    p.add_argument(
        "--no-train-bias", dest="train_bias", action="store_false", help="freeze the biases"
    )
    p.add_argument("--batch", type=positive(int), default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--x64", action="store_true", help="float64 (default float32)")
    p.add_argument(
        "--finite-differences", action="store_true", help="also compare with central differences"
    )
    p.add_argument(
        "--second-order",
        action="store_true",
        help="check the Hessian-vector product (R-operator vs jax.jvp(jax.grad)) along a random direction",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_gradcheck)

    p = sub.add_parser(
        "train",
        help="train a network on tutorial, xor, digits or your CSV file",
        description="Train with the whole loop compiled (lax.scan in chunks); progress, checkpoints and plots.",
        epilog="example: jaxmlp train digits --checkpoint runs/digits --plot runs/digits",
    )
    add_data_arguments(p)
    p.add_argument(
        "--optimizer",
        choices=("sgd", "momentum", "adam"),
        help="optax optimizer (sgd is plain gradient descent)",
    )
    p.add_argument("--learning-rate", type=positive(float))
    p.add_argument(
        "--batch-size",
        type=positive(int),
        help="examples per step (default: the data set's; full batch for tutorial, xor)",
    )
    p.add_argument(
        "--steps", type=positive(int), help="total steps (with --resume: until this many in all)"
    )
    p.add_argument(
        "--epochs", type=positive(float), help="passes over the training set, instead of --steps"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="PRNG seed for the initial weights and the batches"
    )
    p.add_argument("--x64", action="store_true", help="train in float64")
    p.add_argument(
        "--grad",
        choices=("autodiff", "backprop"),
        default="autodiff",
        help="jax.grad or the handwritten delta rule",
    )
    p.add_argument(
        "--clip-norm", type=positive(float), help="clip each gradient to this global norm"
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        help="L2 weight decay (decoupled, adamw, with adam); needs --optimizer",
    )
    p.add_argument(
        "--schedule",
        choices=jaxmlp.train.SCHEDULES,
        default="constant",
        help="learning-rate schedule over the run (default %(default)s)",
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=0,
        help="linear warm-up of the learning rate from 0 (default 0)",
    )
    p.add_argument(
        "--validation-fraction",
        type=fraction,
        metavar="F",
        help="hold out this fraction of the training set; its loss is evaluated after every chunk "
        "and the best parameters are kept",
    )
    p.add_argument(
        "--patience",
        type=positive(int),
        metavar="N",
        help="with --validation-fraction: stop after N evaluations without a lower validation loss",
    )
    p.add_argument(
        "--chunk-size",
        type=positive(int),
        help="steps per compiled call, with progress and checkpoints between "
        f"(default {jaxmlp.train.DEFAULT_CHUNK}; one epoch with --validation-fraction)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save a checkpoint here after every chunk and on Ctrl-C/SIGTERM",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --checkpoint DIR"
    )
    p.add_argument(
        "--plot", metavar="DIR", help="write loss.png (and decision_boundary.png or confusion.png)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--save",
        metavar="MODEL",
        help="write the trained model (network, weights, preprocessing, classes) as a safetensors file",
    )
    p.add_argument(
        "--report",
        metavar="HTML",
        help="write a self-contained page: configuration, loss curves, test metrics, confusion "
        "matrix, and for two inputs the decision surface and each hidden neuron's output",
    )
    add_parallel_options(p)
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser(
        "sweep",
        help="train a grid of learning rates x seeds at once (one compiled scan)",
        description="One network per (learning rate, seed), full-batch SGD, all in one compiled loop.",
        epilog="example: jaxmlp sweep --learning-rates 64 --seeds 64 --steps 10000 --plot sweep.png",
    )
    add_data_arguments(p, default="tutorial")
    p.add_argument(
        "--learning-rates", type=positive(int), default=64, help="how many, log-spaced (default 64)"
    )
    p.add_argument("--lr-min", type=positive(float), default=0.01)
    p.add_argument("--lr-max", type=positive(float), default=100.0)
    p.add_argument("--seeds", type=positive(int), default=64, help="how many seeds (default 64)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--steps", type=positive(int), default=10_000)
    p.add_argument("--grad", choices=("autodiff", "backprop"), default="backprop")
    p.add_argument(
        "--layout",
        choices=jaxmlp.population.LAYOUTS,
        default="auto",
        help="population on the leading axis (vmap) or last (lanes: tiny networks, "
        "up to 16 wide and 16 examples); auto picks lanes for backprop where it fits",
    )
    p.add_argument("--chunk-size", type=positive(int), default=1000)
    p.add_argument("--x64", action="store_true")
    p.add_argument(
        "--plot", metavar="PATH", help="heatmap PNG of final loss by learning rate and seed"
    )
    p.add_argument("--json", action="store_true")
    add_parallel_options(p)
    p.set_defaults(func=commands.cmd_sweep)

    # The options of the commands that apply a saved model, declared once.
    model_options = Parser(add_help=False)
    model_options.add_argument("model", help="a model file written by jaxmlp train --save")
    model_options.add_argument("path", help="a CSV, Parquet or .npz file with the feature columns")
    model_options.add_argument("--delimiter", help="the CSV field delimiter (default: detected)")
    model_options.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser(
        "predict",
        parents=[model_options],
        help="apply a saved model to the rows of a data file",
        description="Encode and standardise the file's feature columns as in training, apply the network.",
        epilog="example: jaxmlp predict model.safetensors new.csv --output predictions.csv --proba",
    )
    p.add_argument("--output", metavar="CSV", help="write the predictions here (default: stdout)")
    p.add_argument("--proba", action="store_true", help="also each class's probability")
    p.set_defaults(func=commands.cmd_predict)

    p = sub.add_parser(
        "evaluate",
        parents=[model_options],
        help="loss and metrics of a saved model on a labelled data file",
        description="Loss, accuracy and confusion matrix (classification) or R^2 and MAE (regression).",
        epilog="example: jaxmlp evaluate model.safetensors test.csv --target label",
    )
    p.add_argument("--target", help="the target column (default: the one the model was trained on)")
    p.set_defaults(func=commands.cmd_evaluate)

    p = sub.add_parser(
        "bench",
        help="jaxmlp against pure Python, NumPy, PyTorch and bare JAX on identical work",
        description="Four workloads (seed network, 784-512-512-10 MLP, population, start-up), timed in one process.",
        epilog="example: jaxmlp bench --quick",
    )
    p.add_argument("--quick", action="store_true", help="small workloads, under a minute")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_bench)
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
