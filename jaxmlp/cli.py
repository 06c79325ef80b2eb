"""The ``jaxmlp`` command line.

Every user error (a bad option, a bad file, a value out of range) ends with
exit status 2 and one line on stderr, ``jaxmlp: error: ...``, never a
traceback. Heavy imports (rich, matplotlib, scikit-learn) happen inside the
commands that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jaxmlp


class UsageError(Exception):
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


# --- reproduce ---------------------------------------------------------------

REPRODUCE_NOTE = (
    "match: within one unit of the seed's last printed digit. The seed multiplies already-rounded "
    "intermediates, so a few of its last digits differ from the exact values "
    "(dE_o2/dout_h1: seed -0.019049119, exact -0.0190491183)."
)


def cmd_reproduce(args) -> int:
    """``jaxmlp reproduce``: the seed's figures against jaxmlp's, with the errata."""
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
    """``jaxmlp trace``: the derivation of one SGD step, as text, Markdown or JSON."""
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


# --- train ------------------------------------------------------------------------


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


def start_processes(args) -> bool:
    """Join the other processes first, if a coordinator is given; return True on process 0."""
    from jaxmlp import distributed

    if distributed.initialize(args.coordinator, args.num_processes, args.process_id):
        keep_stdout_for_results()
    import jax

    return jax.process_index() == 0


def cmd_train(args) -> int:
    """``jaxmlp train``: one training run; exit 130 when interrupted, 1 when it diverged."""
    leader = start_processes(args)
    if args.x64:
        enable_x64()
    from jaxmlp import data, run
    from jaxmlp.progress import progress

    ds = data.load(args.dataset, args.path, args.target, args.task)
    cfg = run.RunConfig(
        **network_overrides(args),
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        steps=args.steps,
        epochs=args.epochs,
        seed=args.seed,
        dtype="float64" if args.x64 else "float32",
        grad=args.grad,
        clip_norm=args.clip_norm,
        chunk_size=args.chunk_size,
        devices=args.devices,
    )
    interrupt = run.Interrupt()
    run.build_network(ds, cfg)  # refuse a bad network before a bar appears
    total = run.resolve_steps(
        ds, cfg, cfg.batch_size if cfg.batch_size is not None else ds.defaults.get("batch_size")
    )
    with (
        interrupt.installed(),
        progress(total, enabled=not args.json, description=f"train {ds.name}") as bar,
    ):
        out = run.train(
            ds,
            cfg,
            checkpoint_dir=args.checkpoint,
            resume=args.resume,
            bar=bar,
            interrupt=interrupt,
        )
    if args.plot and leader:
        write_train_plots(args.plot, ds, out)
    summary = out.summary
    if args.json:
        emit(json.dumps(summary, indent=2))
    else:
        emit(train_table(summary))
    if out.interrupted is not None:
        where = (
            f"; checkpoint saved in {args.checkpoint}, continue with --resume"
            if args.checkpoint
            else ""
        )
        print(f"jaxmlp: interrupted at step {out.result.step}{where}", file=sys.stderr)
        return 130
    if out.result.diverged_at is not None:
        saved = (
            f"; the last finite parameters are saved in {args.checkpoint}"
            if args.checkpoint
            else ""
        )
        print(
            f"jaxmlp: training diverged at step {out.result.diverged_at} (non-finite loss); "
            f"last finite loss {out.result.last_finite_loss:.6g}{saved}; try a smaller --learning-rate or --clip-norm",
            file=sys.stderr,
        )
        return 1
    return 0


def train_table(summary: dict) -> str:
    """The summary of a run as aligned ``key value`` lines."""
    keys = [
        "dataset",
        "steps",
        "seconds",
        "final_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
    ]
    rows = [(k, summary[k]) for k in keys if summary.get(k) is not None]
    return "\n".join(
        f"{k:<16} {v:.6g}" if isinstance(v, float) else f"{k:<16} {v}" for k, v in rows
    )


def write_train_plots(directory: str, ds, out) -> None:
    """loss.png, and decision_boundary.png (xor) or confusion.png (multi-class test sets)."""
    from pathlib import Path

    from jaxmlp import plots, run

    d = Path(directory)
    plots.loss_curves(out.result.losses, d / "loss.png", out.test_curve, title=f"{ds.name}: loss")
    params = out.result.params
    if ds.name == "xor":
        plots.decision_boundary(
            lambda g: run.predictions(out.net, params, g)[:, 0],
            ds.x_train,
            ds.y_train,
            d / "decision_boundary.png",
            "XOR: network output and the 0.5 boundary",
        )
    if ds.task == "classification" and ds.x_test is not None and ds.n_outputs > 1:
        m = run.confusion(out.net, params, ds.x_test, ds.y_test, ds.n_outputs)
        plots.confusion_matrix(m, d / "confusion.png", f"{ds.name}: test set confusion matrix")


# --- sweep ------------------------------------------------------------------------


def cmd_sweep(args) -> int:
    """``jaxmlp sweep``: a grid of learning rates x seeds, trained at once."""
    leader = start_processes(args)
    if args.x64:
        enable_x64()
    import numpy as np

    from jaxmlp import data, population, run
    from jaxmlp.progress import progress

    ds = data.load(args.dataset, args.path, args.target, args.task)
    net = run.build_network(ds, run.RunConfig(**network_overrides(args)))
    if args.lr_min > args.lr_max:
        raise UsageError(f"--lr-min {args.lr_min} is larger than --lr-max {args.lr_max}")
    lrs = np.geomspace(args.lr_min, args.lr_max, args.learning_rates)
    seeds = np.arange(args.seed, args.seed + args.seeds)
    dtype = "float64" if args.x64 else "float32"
    x = ds.x_train.astype(dtype)
    y = run.targets(net, ds.y_train, dtype)
    with progress(
        args.steps, enabled=not args.json, description=f"sweep {lrs.size * seeds.size} nets"
    ) as bar:
        r = population.sweep(
            net,
            x,
            y,
            learning_rates=lrs,
            seeds=seeds,
            steps=args.steps,
            grad=args.grad,
            dtype=dtype,
            chunk_size=args.chunk_size,
            callback=lambda step, losses: bar.update(step, float(np.nanmedian(losses))),
            devices=args.devices,
        )
    final = r.final_loss
    finite = np.isfinite(final)
    best = (
        np.unravel_index(np.nanargmin(np.where(finite, final, np.nan)), final.shape)
        if finite.any()
        else None
    )
    summary = {
        "dataset": ds.name,
        "network": __import__("dataclasses").asdict(net),
        "nets": r.nets,
        "learning_rates": r.learning_rates.size,
        "seeds": r.seeds.size,
        "steps": r.steps,
        "seconds": r.seconds,
        "net_steps_per_second": r.net_steps_per_second,
        "diverged": int((~finite).sum()),
        "median_final_loss": float(np.nanmedian(np.where(finite, final, np.nan)))
        if finite.any()
        else None,
        "best": None
        if best is None
        else {
            "learning_rate": float(r.learning_rates[best[0]]),
            "seed": int(r.seeds[best[1]]),
            "final_loss": float(final[best]),
        },
    }
    if ds.task == "classification":
        import jax

        from jaxmlp.distributed import gather, to_host

        acc = population_accuracy(
            net,
            jax.tree_util.tree_map(lambda a: to_host(gather(a)), r.params),
            ds.x_train,
            ds.y_train,
        )
        summary["all_correct_rate"] = float((acc == 1.0).mean())
        summary["mean_train_accuracy"] = float(acc.mean())
    if args.plot and leader:
        from jaxmlp import plots

        plots.sweep_heatmap(
            final,
            r.learning_rates,
            args.plot,
            f"{ds.name}: final loss after {r.steps} steps, {r.nets} networks",
        )
    if args.json:
        emit(json.dumps(summary, indent=2))
    else:
        emit(
            "\n".join(
                f"{k:<22} {v:.6g}" if isinstance(v, float) else f"{k:<22} {v}"
                for k, v in summary.items()
                if k != "network"
            )
        )
    return 0


def population_accuracy(net, stacked, x, y):
    """Training accuracy of every member of a stacked population: ``(N,)``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    dtype = jax.tree_util.tree_leaves(stacked)[0].dtype
    out = np.asarray(
        jax.jit(jax.vmap(lambda p: jaxmlp.forward.apply(net, p, jnp.asarray(x, dtype))))(stacked)
    )
    true = np.asarray(y).reshape(-1)
    pred = (out[..., 0] > 0.5).astype(int) if out.shape[-1] == 1 else out.argmax(-1)
    return (pred == true[None]).mean(-1)


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
    p.add_argument("path", nargs="?", help="the CSV file (csv only)")
    p.add_argument("--target", help="the CSV column to predict (csv only)")
    p.add_argument(
        "--task",
        choices=("classification", "regression"),
        help="override the task guessed from the CSV target",
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


def network_overrides(args) -> dict:
    """The network options a ``train`` or ``sweep`` command was given (None: the data set's default)."""
    return {
        k: getattr(args, k)
        for k in ("sizes", "activation", "output_activation", "loss", "bias", "train_bias")
    }


# --- bench ---------------------------------------------------------------------------


def cmd_bench(args) -> int:
    """``jaxmlp bench``: jaxmlp against its peers (see :mod:`jaxmlp.bench`)."""
    from jaxmlp import bench

    report = bench.run(args.quick, args.device)
    emit(json.dumps(report, indent=2) if args.json else bench.markdown(report))
    return 0


# --- the parser -------------------------------------------------------------------


def build_parser() -> Parser:
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
        "--chunk-size",
        type=positive(int),
        default=500,
        help="steps per compiled call (progress, checkpoints between)",
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
    add_parallel_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "sweep",
        help="train a grid of learning rates x seeds at once (vmap inside one compiled scan)",
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
    p.add_argument("--chunk-size", type=positive(int), default=1000)
    p.add_argument("--x64", action="store_true")
    p.add_argument(
        "--plot", metavar="PATH", help="heatmap PNG of final loss by learning rate and seed"
    )
    p.add_argument("--json", action="store_true")
    add_parallel_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "bench",
        help="jaxmlp against pure Python, NumPy, PyTorch and bare JAX on identical work",
        description="Four workloads (seed network, 784-512-512-10 MLP, population, start-up), timed in one process.",
        epilog="example: jaxmlp bench --quick",
    )
    p.add_argument("--quick", action="store_true", help="small workloads, under a minute")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
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
