"""``jaxmlp train``: one training run from a data set to files (model, checkpoint, plots, report)."""

from __future__ import annotations

import json
import sys

import numpy as np

from jaxmlp.cli import budget
from jaxmlp.cli.options import UsageError, file_options, network_overrides
from jaxmlp.cli.process import emit, enable_x64, keep_stdout_for_results
from jaxmlp.cli.run_config import RunConfig, build_network, resolve_steps
from jaxmlp.cli.summary import confusion, predictions, score_lines

__all__ = [
    "start_processes",
    "data_notes",
    "cmd_train",
    "run_config",
    "exit_status",
    "train_table",
    "monitor_lines",
    "check_line",
    "write_train_plots",
]

# --- train ------------------------------------------------------------------------


def start_processes(args) -> bool:
    """Join the other processes first, if a coordinator is given (else split the CPU into
    ``--devices`` devices, for the CPU backend); return True on process 0."""
    from jaxmlp.training import parallel

    if parallel.initialize(args.coordinator, args.num_processes, args.process_id):
        keep_stdout_for_results()
    elif args.devices is not None:
        parallel.request_cpu_devices(args.devices)
    import jax

    return jax.process_index() == 0


def data_notes(ds) -> list[str]:
    """What reading a data file left out, a line each: rows (a missing target, or
    ``--missing drop``) and columns (ignored, one value, row ids)."""
    pre = ds.preprocessing or {}
    lines = [pre["rows_left_out"]] if pre.get("rows_left_out") else []
    lines += [f"left out column {c['name']!r}: {c['why']}" for c in pre.get("left_out", [])]
    return lines


def run_config(args, chunk_size: int | None) -> RunConfig:
    """The run's settings from ``jaxmlp train``'s arguments (None: left to the recipe)."""
    return RunConfig(
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
        chunk_size=chunk_size,
        devices=args.devices,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        validation_fraction=args.validation_fraction,
        patience=args.patience,
        monitor=args.monitor,
        label_smoothing=args.label_smoothing,
        time_budget=args.time_budget,
        ensemble=args.ensemble,
        bag=args.bag,
        target_scaling=None if args.target_scaling is None else args.target_scaling == "standard",
    )


def exit_status(args, out) -> int:
    """0, or 130 when interrupted (where to resume) or 1 when it diverged (the last finite loss),
    with a line saying so."""
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


def cmd_train(args) -> int:
    """``jaxmlp train``: one training run; exit 130 when interrupted, 1 when it diverged."""
    options = file_options(args)  # first: a file in the data set's place becomes csv
    stream, note = budget.choose(args)  # before JAX starts: a refusal leaves the devices alone
    leader = start_processes(args)
    import jax

    if jax.process_count() > 1:  # one process streams: all stream (budgets are per host)
        from jaxmlp.training import parallel

        stream = bool(parallel.all_processes(np.asarray(stream)).any())
    if args.x64:
        enable_x64()
    from jaxmlp.cli import run
    from jaxmlp.cli.progress import progress
    from jaxmlp.io import builtin

    if note and leader:
        print(note, file=sys.stderr)
    chunk_size = args.chunk_size
    if stream:
        options = {k: options[k] for k in ("test_fraction", "split_seed", "dtype")}
        options["validation_fraction"] = args.validation_fraction or 0.0
        options["window_bytes"] = budget.window_bytes(args.memory_budget)
    ds = builtin.load(args.dataset, args.path, args.target, args.task, stream=stream, **options)
    if stream and chunk_size is None:
        batch = args.batch_size or ds.defaults["batch_size"]
        chunk_size = budget.chunk_steps(args.memory_budget, batch, ds.n_features, args.x64)
    cfg = run_config(args, chunk_size)
    if args.patience is not None and not (
        args.validation_fraction or ds.defaults.get("validation_fraction")
    ):
        raise UsageError("--patience needs --validation-fraction (the loss it watches)")
    if leader:
        for line in data_notes(ds):
            print(f"jaxmlp: {line}", file=sys.stderr)
    interrupt = run.Interrupt()
    build_network(ds, cfg)  # refuse a bad network before a bar appears
    total = resolve_steps(
        ds, cfg, cfg.batch_size if cfg.batch_size is not None else ds.defaults.get("batch_size")
    )
    batch = cfg.batch_size if cfg.batch_size is not None else ds.defaults.get("batch_size")
    with (
        interrupt.installed(),
        progress(
            total,
            enabled=not args.json,
            description=f"train {ds.name}",
            batch=batch or ds.n_train,
            rows=ds.n_train,
        ) as bar,
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
        from jaxmlp.cli import report
        from jaxmlp.io.atomic import write_text

        write_text(args.report, report.to_html(ds, out))
    if args.save and leader:
        from jaxmlp.io import modelfile, prediction

        model = prediction.model_from_run(ds, out.net, out.result.params, summary)
        summary["model"] = str(modelfile.save(args.save, model))
    if args.json:
        emit(json.dumps(summary, indent=2))
    else:
        emit(train_table(summary))
    return exit_status(args, out)


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
    part = "test" if summary.get("test_scores") else "train"
    scores = score_lines(summary.get(f"{part}_scores"), f"{part} scores", 16)
    return "\n".join(lines + scores + check + monitor_lines(summary.get("monitor"), 16))


def monitor_lines(records: dict | None, width: int) -> list[str]:
    """The last monitor record as aligned lines (none without a monitor)."""
    if not records or not records["step"]:
        return []

    def values(v):
        return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"

    last = {k: v[-1] for k, v in records.items() if isinstance(v, list)}
    sharp = (
        f"{last['sharpness']:.6g} ({last['iterations']} Lanczos iterations, "
        f"residual {last['residual']:.2g})"
        if last["iterations"]
        else "not recorded"
    )
    rows = [
        ("monitor_step", str(last["step"])),
        ("sharpness", sharp),
        ("grad_norm", values(last["grad_norm"]) + " per layer"),
        ("update_ratio", values(last["update_ratio"]) + " per layer"),
        ("dead", values(last["dead"]) + " per hidden layer"),
        ("saturated", values(last["saturated"]) + " per hidden layer"),
    ]
    if records.get("edge") is not None:
        rows.insert(2, ("edge", f"{records['edge']:.6g} ({records['edge_rule']})"))
    return [f"{k:<{width}} {v}" for k, v in rows]


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

    from jaxmlp.cli import plots

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
            lambda g: predictions(out.net, params, g)[:, 0],
            ds.x_train,
            ds.y_train,
            d / "decision_boundary.png",
            "XOR: network output and the 0.5 boundary",
        )
    if ds.task == "classification" and ds.x_test is not None and ds.n_outputs > 1:
        m = confusion(out.net, params, ds.x_test, ds.y_test, ds.n_outputs)
        plots.confusion_matrix(m, d / "confusion.png", f"{ds.name}: test set confusion matrix")
