"""The ``jaxmlp`` command line.

Every user error (a bad option, a bad file, a value out of range) ends with
exit status 2 and one line on stderr, ``jaxmlp: error: ...``, never a
traceback. Heavy imports (rich, matplotlib, scikit-learn) happen inside the
commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys

import jaxmlp


class UsageError(Exception):
    """A user error: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as :class:`UsageError` (one line, exit 2)."""

    def error(self, message):
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


def positive(kind):
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


def enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)


def emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


# --- reproduce ---------------------------------------------------------------

REPRODUCE_NOTE = (
    "match: within one unit of the seed's last printed digit. The seed multiplies already-rounded "
    "intermediates, so a few of its last digits differ from the exact values "
    "(dE_o2/dout_h1: seed -0.019049119, exact -0.0190491183)."
)


def cmd_reproduce(args) -> int:
    enable_x64()
    from jaxmlp import seed

    figures, curves = seed.reproduce()
    notes = seed.errata(figures)
    if args.plot:
        from jaxmlp import plots

        plots.seed_loss_curves(curves, args.plot)
    if args.json:
        emit(
            json.dumps(
                {
                    "figures": [f.as_dict() for f in figures],
                    "errata": notes,
                    "note": REPRODUCE_NOTE,
                },
                indent=2,
            )
        )
        return 0
    emit(seed.reproduction_table(figures, notes, markdown=False))
    emit(REPRODUCE_NOTE)
    if args.plot:
        emit(f"wrote {args.plot}")
    return 0


# --- trace ---------------------------------------------------------------------


def cmd_trace(args) -> int:
    enable_x64()
    from jaxmlp import trace

    net, params, x, y, lr = trace_inputs(args)
    d = trace.derive(net, params, x, y, lr)
    if args.json:
        emit(trace.render_json(d))
    elif args.format == "markdown":
        emit(trace.render_markdown(d))
    else:
        emit(trace.render_text(d))
    return 0


def trace_inputs(args):
    """The network, parameters, example and learning rate a ``trace`` command asks for."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    if args.weights:
        from jaxmlp.weightsfile import load_trace_file

        return load_trace_file(args.weights, args)
    if args.sizes is None:
        net, params, x, y = jaxmlp.tutorial(jnp.float64)
        return net, params, x, y, args.learning_rate if args.learning_rate is not None else 0.5
    net = jaxmlp.MLP(
        args.sizes, args.activation, args.output_activation, args.loss, args.bias, args.train_bias
    )
    # Weights by net.init, rounded to two decimals so the derivation reads like the seed's.
    params = net.init(jax.random.key(args.seed), jnp.float64)
    rng = np.random.default_rng(args.seed)
    params = tuple(
        {
            k: jnp.round(v if k == "w" else v + rng.uniform(0.1, 0.6, v.shape), 2)
            for k, v in layer.items()
        }
        for layer in params
    )
    x = jnp.asarray(np.round(rng.uniform(0, 1, net.sizes[0]), 2))
    if net.loss == "cross_entropy":
        y = jnp.asarray(int(rng.integers(net.sizes[-1])))
    else:
        y = jnp.asarray(np.round(rng.uniform(0, 1, net.sizes[-1]), 2))
    return net, params, x, y, args.learning_rate if args.learning_rate is not None else 0.5


# --- gradcheck -------------------------------------------------------------------


def cmd_gradcheck(args) -> int:
    if args.x64:
        enable_x64()
    import jax
    import numpy as np

    net = jaxmlp.MLP(
        args.sizes, args.activation, args.output_activation, args.loss, args.bias, args.train_bias
    )
    dtype = "float64" if args.x64 else "float32"
    params = net.init(jax.random.key(args.seed), dtype)
    rng = np.random.default_rng(args.seed)
    params = tuple(
        {
            k: v + (rng.normal(0, 0.3, v.shape).astype(dtype) if k == "b" else 0)
            for k, v in layer.items()
        }
        for layer in params
    )
    x = rng.standard_normal((args.batch, net.sizes[0])).astype(dtype)
    if net.loss == "cross_entropy":
        y = rng.integers(0, net.sizes[-1], args.batch)
    elif net.loss == "binary_cross_entropy":
        y = rng.uniform(size=(args.batch, net.sizes[-1])).astype(dtype)
    else:
        y = rng.standard_normal((args.batch, net.sizes[-1])).astype(dtype)
    report = jaxmlp.check_gradients(
        net, params, x, y, finite_differences=args.finite_differences, raise_on_mismatch=False
    )
    if args.json:
        emit(json.dumps(report.as_dict(), indent=2))
    else:
        emit(f"{'leaf':<16} {'max abs error':>14} {'max rel error':>14} {'fd max abs':>12}  status")
        for leaf in report.leaves:
            fd = "-" if leaf.fd_max_abs_error is None else f"{leaf.fd_max_abs_error:.3e}"
            emit(
                f"{leaf.path:<16} {leaf.max_abs_error:>14.3e} {leaf.max_rel_error:>14.3e} {fd:>12}  {'ok' if leaf.passed else 'FAIL: ' + leaf.message}"
            )
        emit(f"{'passed' if report.passed else 'FAILED'} ({report.dtype}, rtol={report.rtol:g})")
    return 0 if report.passed else 1


# --- the parser -------------------------------------------------------------------


def build_parser() -> Parser:
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
    p.set_defaults(func=cmd_reproduce)

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
    p.add_argument("--format", choices=("text", "markdown"), default="text")
    p.add_argument(
        "--json", action="store_true", help="every quantity with its name and value, as JSON"
    )
    p.set_defaults(func=cmd_trace)

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
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gradcheck)
    return parser


USER_ERRORS = (UsageError, ValueError, TypeError, OSError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
