"""The ``jaxmlp`` commands: each takes the parsed arguments and returns the exit status.

Errors a user can cause are raised as ``ValueError``/``TypeError``/``OSError`` or
:class:`jaxmlp.cli.UsageError`; :func:`jaxmlp.cli.main` turns them into one line and
exit status 2. Heavy imports happen inside the command that needs them.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import jaxmlp
from jaxmlp.options import (
    UsageError,
    emit,
    enable_x64,
    file_options,
    keep_stdout_for_results,
    network_overrides,
)

# --- reproduce ---------------------------------------------------------------


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
                    "note": seed.REPRODUCE_NOTE,
                },
                indent=2,
            )
        )
        return 0
    emit(seed.reproduction_table(figures, notes, markdown=False))
    emit(seed.REPRODUCE_NOTE)
    if args.plot:
        emit(f"wrote {args.plot}")
    return 0


# --- trace ---------------------------------------------------------------------


def cmd_trace(args) -> int:
    """``jaxmlp trace``: the derivation of one SGD step, as text, Markdown or JSON."""
    enable_x64()
    from jaxmlp import trace

    net, params, x, y, lr = trace_inputs(args)
    if args.second_order:
        c = trace.curvature(net, params, x, y)
        emit(json.dumps(c, indent=2) if args.json else trace.render_curvature(c))
        return 0
    if args.format == "html" and not args.json:
        text = trace.to_html(net, params, x, y, lr, steps=args.steps)
    else:
        d = trace.derive(net, params, x, y, lr)
        render = {"markdown": trace.render_markdown, "text": trace.render_text}.get(args.format)
        text = trace.render_json(d) if args.json else render(d)
    if args.output:
        from jaxmlp.atomic import write_text

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


# --- train ------------------------------------------------------------------------


def start_processes(args) -> bool:
    """Join the other processes first, if a coordinator is given (else split the CPU into
    ``--devices`` devices, for the CPU backend); return True on process 0."""
    from jaxmlp import distributed

    if distributed.initialize(args.coordinator, args.num_processes, args.process_id):
        keep_stdout_for_results()
    elif args.devices is not None:
        distributed.request_cpu_devices(args.devices)
    import jax

    return jax.process_index() == 0


def cmd_train(args) -> int:
    """``jaxmlp train``: one training run; exit 130 when interrupted, 1 when it diverged."""
    leader = start_processes(args)
    if args.x64:
        enable_x64()
    from jaxmlp import data, run
    from jaxmlp.progress import progress

    ds = data.load(args.dataset, args.path, args.target, args.task, **file_options(args))
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
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        validation_fraction=args.validation_fraction,
        patience=args.patience,
    )
    if args.patience is not None and args.validation_fraction is None:
        raise UsageError("--patience needs --validation-fraction (the loss it watches)")
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
    if args.report and leader:
        from jaxmlp import report
        from jaxmlp.atomic import write_text

        write_text(args.report, report.to_html(ds, out))
    if args.save and leader:
        from jaxmlp import inference, modelfile

        model = inference.model_from_run(ds, out.net, out.result.params, summary)
        summary["model"] = str(modelfile.save(args.save, model))
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
        "test_note",
    ]
    keys[4:4] = ["validation_loss", "best_step"]
    rows = [(k, summary[k]) for k in keys if summary.get(k) is not None]
    lines = [f"{k:<16} {v:.6g}" if isinstance(v, float) else f"{k:<16} {v}" for k, v in rows]
    check = check_line(summary.get("gradient_check"), "backprop = jax.grad on the first batch", 16)
    return "\n".join(lines + check)


def check_line(check: dict | None, what: str, width: int) -> list[str]:
    """The one line that reports a passed gradient check (none when there was no check)."""
    if check is None:
        return []
    return [
        f"{'gradient_check':<{width}} passed: {what}, max rel error {check['max_rel_error']:.2e} "
        f"(rtol {check['rtol']:g})"
    ]


def write_train_plots(directory: str, ds, out) -> None:
    """loss.png, and decision_boundary.png (xor) or confusion.png (multi-class test sets)."""
    from pathlib import Path

    from jaxmlp import plots, run

    d = Path(directory)
    r = out.result
    validation = (
        None
        if r.validation_losses is None
        else dict(zip(r.validation_steps.tolist(), r.validation_losses))
    )
    plots.loss_curves(r.losses, d / "loss.png", out.test_curve, f"{ds.name}: loss", validation)
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


# --- predict and evaluate -----------------------------------------------------------


def cmd_predict(args) -> int:
    """``jaxmlp predict``: a saved model's predictions for a data file."""
    from jaxmlp import inference, modelfile

    model = modelfile.load(args.model)
    if args.proba and model.task != "classification":
        raise UsageError("--proba applies to classification models; this one is regression")
    enable_dtype(model)
    result = inference.predict(model, args.path, proba=args.proba, delimiter=args.delimiter)
    if args.json:
        emit(json.dumps(result, indent=2))
        return 0
    text = csv_text(result["columns"], result["rows"])
    if args.output:
        from jaxmlp.atomic import write_text

        write_text(args.output, text)
        emit(f"wrote {len(result['rows'])} predictions to {args.output}")
    else:
        emit(text)
    return 0


def csv_text(columns: list[str], rows: list[list]) -> str:
    """A header and rows as CSV text (quoted where needed)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def enable_dtype(model) -> None:
    """float64 models need x64 mode, turned on before any array exists."""
    if model.mean.dtype.itemsize == 8:
        enable_x64()


def cmd_evaluate(args) -> int:
    """``jaxmlp evaluate``: a saved model's loss and metrics on a labelled data file."""
    from jaxmlp import inference, modelfile

    model = modelfile.load(args.model)
    target = args.target or model.target
    if not target:
        raise UsageError("this model does not name its target column: pass --target COLUMN")
    enable_dtype(model)
    result = inference.evaluate(model, args.path, target, delimiter=args.delimiter)
    if args.json:
        emit(json.dumps(result, indent=2))
        return 0
    lines = [
        f"{k:<10} {v:.6g}" if isinstance(v, float) else f"{k:<10} {v}"
        for k, v in result.items()
        if k not in ("confusion_matrix", "class_names")
    ]
    if "confusion_matrix" in result:
        names = result["class_names"]
        width = max(6, *(len(n) for n in names))
        lines += [
            "",
            "confusion matrix (true by row, predicted by column):",
            " " * width + "".join(f"{n:>{width + 1}}" for n in names),
        ]
        lines += [
            f"{n:<{width}}" + "".join(f"{v:>{width + 1}}" for v in row)
            for n, row in zip(names, result["confusion_matrix"])
        ]
    emit("\n".join(lines))
    return 0


# --- sweep ------------------------------------------------------------------------


def cmd_sweep(args) -> int:
    """``jaxmlp sweep``: a grid of learning rates x seeds, trained at once."""
    leader = start_processes(args)
    if args.x64:
        enable_x64()
    import numpy as np

    from jaxmlp import data, population, run
    from jaxmlp.progress import progress

    ds = data.load(args.dataset, args.path, args.target, args.task, **file_options(args))
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
            layout=args.layout,
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
        "network": dataclasses.asdict(net),
        "nets": r.nets,
        "learning_rates": r.learning_rates.size,
        "seeds": r.seeds.size,
        "layout": r.layout,
        "steps": r.steps,
        "seconds": r.seconds,
        "net_steps_per_second": r.net_steps_per_second,
        "diverged": int((~finite).sum()),
        "gradient_check": run.check_summary(r.gradient_check),
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

        acc = population.accuracy(
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
                [
                    f"{k:<22} {v:.6g}" if isinstance(v, float) else f"{k:<22} {v}"
                    for k, v in summary.items()
                    if k not in ("network", "gradient_check")
                ]
                + check_line(
                    summary["gradient_check"], f"the {r.layout} kernel = jax.grad on member 0", 22
                )
            )
        )
    return 0


# --- bench ---------------------------------------------------------------------------


def cmd_bench(args) -> int:
    """``jaxmlp bench``: jaxmlp against its peers (see :mod:`jaxmlp.bench`)."""
    from jaxmlp import bench

    report = bench.run(args.quick, args.device)
    emit(json.dumps(report, indent=2) if args.json else bench.markdown(report))
    return 0
