"""``jaxmlp reproduce``, ``jaxmlp trace`` and ``jaxmlp gradcheck``: the seed and its derivation."""

from __future__ import annotations

import json
import sys

import jaxmlp
from jaxmlp.cli.process import emit, enable_x64

__all__ = ["cmd_reproduce", "cmd_trace", "trace_inputs", "cmd_gradcheck"]

# --- reproduce ---------------------------------------------------------------


def cmd_reproduce(args) -> int:
    """``jaxmlp reproduce``: the seed's figures against jaxmlp's, with the errata."""
    enable_x64()
    from jaxmlp.explain import reproduction

    figures, curves = reproduction.reproduce()
    notes = reproduction.errata(figures)
    figure = None
    if args.plot:
        from pathlib import Path

        from jaxmlp.cli import plots

        figure = Path(args.plot) / "seed_loss.png"
        plots.seed_loss_curves(curves, figure)
    if args.json:
        emit(
            json.dumps(
                {
                    "figures": [f.as_dict() for f in figures],
                    "errata": notes,
                    "note": reproduction.REPRODUCE_NOTE,
                },
                indent=2,
            )
        )
        return 0
    emit(reproduction.reproduction_table(figures, notes, markdown=False))
    emit(reproduction.REPRODUCE_NOTE)
    if figure is not None:
        emit(f"wrote {figure}")
    return 0


# --- trace ---------------------------------------------------------------------


def cmd_trace(args) -> int:
    """``jaxmlp trace``: the derivation of one SGD step, as text, Markdown or JSON."""
    enable_x64()
    from jaxmlp.explain import trace

    net, params, x, y, lr = trace_inputs(args)
    if args.second_order:
        c = trace.curvature(net, params, x, y)
        emit(json.dumps(c, indent=2) if args.json else trace.render_curvature(c))
        return 0
    if args.format == "html" and not args.json:
        text = trace.to_html(net, params, x, y, lr, steps=args.steps)
    else:
        d = trace.derive(net, params, x, y, lr)
        render = trace.render_markdown if args.format == "markdown" else trace.render_text
        text = trace.render_json(d) if args.json else render(d)
    if args.output:
        from jaxmlp.io.atomic import write_text

        write_text(args.output, text)
        print(f"jaxmlp: wrote {args.output}", file=sys.stderr)
    else:
        emit(text)
    return 0


def trace_inputs(args):
    """The network, parameters, example and learning rate a ``trace`` command asks for."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    if args.weights:
        from jaxmlp.io.weightsfile import load_trace_file

        rate = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
        net, params, x, y, lr = load_trace_file(
            args.weights, activation=args.activation, output_activation=args.output_activation,
            loss=args.loss, train_bias=args.train_bias, **rate,
        )  # fmt: skip
        if args.sizes is not None and tuple(args.sizes) != net.sizes:
            raise ValueError(
                f"weights file {args.weights} holds a {','.join(map(str, net.sizes))} network "
                f"but --sizes is {','.join(map(str, args.sizes))}"
            )
        examples = len(x) if x.ndim == 2 else 1
        if not 0 <= args.example < examples:
            raise ValueError(
                f"--example {args.example} is out of range: the file holds {examples} "
                + ("example" if examples == 1 else "examples")
            )
        return (
            (net, params, x[args.example], y[args.example], lr)
            if x.ndim == 2
            else (net, params, x, y, lr)
        )
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
    """``jaxmlp gradcheck``: backprop against autodiff on a random network; exit 1 on a mismatch."""
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
    if args.second_order:
        # A random direction, fixed by the seed, with the parameters' structure.
        v = jax.tree_util.tree_map(lambda a: rng.standard_normal(np.shape(a)).astype(dtype), params)
        report = jaxmlp.check_hvp(
            net,
            params,
            x,
            y,
            v,
            finite_differences=args.finite_differences,
            raise_on_mismatch=False,
        )
        what = "H v: R-operator vs jax.jvp(jax.grad)"
    else:
        report = jaxmlp.check_gradients(
            net, params, x, y, finite_differences=args.finite_differences, raise_on_mismatch=False
        )
        what = "gradient: backprop vs jax.grad"
    if args.json:
        emit(json.dumps({"check": what, **report.as_dict()}, indent=2))
    else:
        emit(what)
        emit(f"{'leaf':<16} {'max abs error':>14} {'max rel error':>14} {'fd max abs':>12}  status")
        for leaf in report.leaves:
            fd = "-" if leaf.fd_max_abs_error is None else f"{leaf.fd_max_abs_error:.3e}"
            emit(
                f"{leaf.path:<16} {leaf.max_abs_error:>14.3e} {leaf.max_rel_error:>14.3e} {fd:>12}  {'ok' if leaf.passed else 'FAIL: ' + leaf.message}"
            )
        emit(f"{'passed' if report.passed else 'FAILED'} ({report.dtype}, rtol={report.rtol:g})")
    return 0 if report.passed else 1
