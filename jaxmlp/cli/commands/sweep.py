"""``jaxmlp sweep``: many networks trained at once over learning rates and seeds."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jaxmlp.cli.commands.train import check_line, start_processes
from jaxmlp.cli.options import UsageError, file_options, network_overrides
from jaxmlp.cli.process import emit, enable_x64
from jaxmlp.cli.run_config import RunConfig, build_network
from jaxmlp.cli.summary import check_summary, targets

__all__ = ["cmd_sweep", "sweep_summary"]

# --- sweep ------------------------------------------------------------------------


def cmd_sweep(args) -> int:
    """``jaxmlp sweep``: a grid of learning rates x seeds, trained at once."""
    leader = start_processes(args)
    if args.x64:
        enable_x64()
    import numpy as np

    from jaxmlp.cli.progress import progress
    from jaxmlp.io import builtin
    from jaxmlp.training import population

    options = file_options(args)  # first: a file in the data set's place becomes csv
    ds = builtin.load(args.dataset, args.path, args.target, args.task, **options)
    net = build_network(ds, RunConfig(**network_overrides(args)))
    if args.lr_min > args.lr_max:
        raise UsageError(f"--lr-min {args.lr_min} is larger than --lr-max {args.lr_max}")
    lrs = np.geomspace(args.lr_min, args.lr_max, args.learning_rates)
    seeds = np.arange(args.seed, args.seed + args.seeds)
    dtype = "float64" if args.x64 else "float32"
    x = ds.x_train.astype(dtype)
    y = targets(net, ds.y_train, dtype)
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
            callback=lambda state, losses: bar.update(state.step, float(np.nanmedian(losses))),
            devices=args.devices,
            layout=args.layout,
        )
    summary = sweep_summary(ds, net, r)
    if args.plot and leader:
        from pathlib import Path

        from jaxmlp.cli import plots

        plots.sweep_heatmap(
            r.final_loss,
            r.learning_rates,
            Path(args.plot) / "sweep.png",
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


def sweep_summary(ds, net, r) -> dict[str, Any]:
    """What a sweep reports: its size and speed, the divergences, the gradient check, the median
    final loss and the best (learning rate, seed) among the finite ones, and for classes the
    members' training accuracy."""
    import numpy as np

    from jaxmlp.training import population

    final = r.final_loss
    finite = np.isfinite(final)
    kept = np.where(finite, final, np.nan)
    best = np.unravel_index(np.nanargmin(kept), final.shape) if finite.any() else None
    summary: dict[str, Any] = {
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
        "gradient_check": check_summary(r.gradient_check),
        "median_final_loss": float(np.nanmedian(kept)) if finite.any() else None,
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

        from jaxmlp.training.parallel import gather, to_host

        stacked = jax.tree_util.tree_map(lambda a: to_host(gather(a)), r.params)
        acc = population.accuracy(net, stacked, ds.x_train, ds.y_train)
        summary["all_correct_rate"] = float((acc == 1.0).mean())
        summary["mean_train_accuracy"] = float(acc.mean())
    return summary
