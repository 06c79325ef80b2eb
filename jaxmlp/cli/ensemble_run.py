"""A training run of an ensemble: ``k`` members of the run's network trained at once on the
population engine (:func:`jaxmlp.training.members.train_population`: one compiled call, every
member its own initial weights and batch order, all the same training and validation rows,
each keeping its best validation check), then merged into one network
(:mod:`jaxmlp.ensemble`)."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from jaxmlp.ensemble import merge_members
from jaxmlp.mlp import MLP
from jaxmlp.params import init_stacked
from jaxmlp.training.arguments import FitOptions, training_update
from jaxmlp.training.members import train_population
from jaxmlp.training.optimizers import named_optimizer
from jaxmlp.training.result import FitResult

__all__ = [
    "BAG_STREAM",
    "ENSEMBLE_REFUSES",
    "member_rows",
    "train_members",
]

BAG_STREAM = 1  # the random stream of the members' rows, beside the validation split's (the seed)

# what an ensemble run does not offer: the RunConfig field and its flag
ENSEMBLE_REFUSES = {
    "monitor": "--monitor",
    "chunk_size": "--chunk-size",
}


def train_members(
    net: MLP,
    x,
    y,
    options: FitOptions,
    *,
    k: int,
    bag: float | None,
    seed: int,
    init_key,
    dtype,
) -> tuple[MLP, FitResult, dict]:
    """``(wide net, result, ensemble summary)``: ``k`` members trained with the options ``fit``
    takes for one network of the run (:func:`jaxmlp.cli.run.fit_options`): at most
    ``options.steps`` steps of the same update (``fit``'s optimizer with its schedule, warm-up,
    weight decay and clipping; manual SGD as ``optax.sgd``), batch size, gradient path,
    validation fraction, patience and devices (``k`` must divide them). Each member draws its
    own batches and, with ``bag`` < 1, its own ``bag`` of the training rows (without
    replacement, keyed by ``seed``; the validation rows are every member's). The result's
    ``params`` are the merged network's (NumPy), its ``losses`` the members' mean batch loss of
    each epoch (repeated over its steps) and its validation losses their mean."""
    refused = [name for name in ENSEMBLE_REFUSES if getattr(options, name) is not None]
    refused += ["resume"] if options.opt_state is not None or options.start_step else []
    refused += ["callback"] if options.callback is not None else []
    refused += ["validation_data"] if options.validation_data is not None else []
    if refused:
        raise ValueError(f"an ensemble does not take {', '.join(refused)}")
    update, clip_norm = training_update(
        options.optimizer, options.learning_rate, options.clip_norm, options.weight_decay,
        options.schedule, options.warmup_steps,
    )  # fmt: skip
    if update is None:  # manual SGD: the same step as optax's sgd
        update = named_optimizer("sgd", clip_norm)
    rows, valid = member_rows(x.shape[0], k, options.validation_fraction, bag, seed)
    batch = options.batch_size
    if batch is not None and batch >= rows.shape[-1]:
        batch = None
    members = init_stacked(net, jax.random.split(init_key, k), dtype)
    fitted = train_population(
        net,
        members,
        x,
        y,
        steps=options.steps,
        optimizer=update,
        hyperparams={"learning_rate": options.learning_rate},
        batch_size=batch,
        keys=jax.random.split(options.key, k) if batch else None,
        train_rows=rows,
        validation_rows=valid,
        patience=options.patience,
        grad=options.grad,
        check_gradient=options.check_gradient,
        devices=options.devices,
    )
    wide, params = merge_members(net, fitted.params)
    result, summary = _outcome(net, fitted, params, rows.shape[-1], batch, options.steps, k, dtype)
    summary["bag"] = bag
    return wide, dataclasses.replace(result, key=options.key), summary


def member_rows(
    n: int, k: int, validation_fraction: float | None, bag: float | None, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(training rows, validation rows)`` of ``k`` members over ``n`` rows: a
    ``validation_fraction`` of the rows held out for every member (drawn by ``seed``; None
    without), the rest training each, or with ``bag`` < 1 each member's own draw of that
    fraction of them, ``(k, rows)`` (without replacement, keyed by the seed)."""
    rows = np.arange(n)
    valid = None
    if validation_fraction:
        n_val = max(1, round(n * validation_fraction))
        if n_val >= n:
            raise ValueError(f"--validation-fraction {validation_fraction} leaves no training rows")
        perm = np.random.default_rng(seed).permutation(n)
        valid, rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    if bag is not None and bag < 1:
        size = max(1, round(bag * len(rows)))
        draw = np.random.default_rng((seed, BAG_STREAM))
        rows = np.stack([np.sort(draw.choice(rows, size, replace=False)) for _ in range(k)])
    return rows, valid


def _outcome(net, fitted, params, n_rows, batch, steps, k, dtype):
    """``(FitResult, summary)`` of a population run as one network's run reads: each epoch's
    mean batch loss over the members (repeated over its steps), their mean validation loss,
    the latest best step among them, and where a member diverged, the first step of the
    earliest period whose loss was not finite (every member keeps its last finite state)."""
    every = math.ceil(n_rows / batch) if batch else 1
    every = min(every, steps)
    t = np.asarray(fitted.train_loss, np.float64)
    run = ~np.isnan(t)  # the members that ran each period (none: a period after every stop)
    train_loss = np.where(run, t, 0).sum(axis=1) / np.maximum(run.sum(axis=1), 1)
    train_loss[~run.any(axis=1)] = np.nan
    ran = int(np.max(fitted.steps_run))
    losses = np.repeat(train_loss, every)[:ran]
    summary = {
        "members": k,
        "member_sizes": list(net.sizes),
        "steps_run": np.asarray(fitted.steps_run).tolist(),
        "member_rows": int(n_rows),
    }
    val_losses: np.ndarray | None = None
    val_steps: np.ndarray | None = None
    best_step = None
    if fitted.validation_loss is not None and fitted.best_step is not None:
        v = np.asarray(fitted.validation_loss, np.float64)
        keep = ~np.all(np.isnan(v), axis=1)
        val_losses = np.nanmean(v[keep], axis=1)
        val_steps = (np.flatnonzero(keep) + 1) * every
        summary["best_steps"] = np.asarray(fitted.best_step).tolist()
        summary["best_validation_losses"] = np.asarray(fitted.best_validation_loss).tolist()
        best = int(np.max(fitted.best_step))
        best_step = int(val_steps[np.argmin(np.abs(val_steps - best))])
    report = fitted.gradient_check
    diverged = np.asarray(fitted.diverged)
    diverged_at = (
        int(np.min(np.asarray(fitted.steps_run)[diverged])) + 1 if diverged.any() else None
    )
    if diverged_at is not None:
        summary["diverged_members"] = int(diverged.sum())
    result = FitResult(
        params,
        None,
        losses.astype(dtype),
        ran,
        None,
        diverged_at=diverged_at,
        stopped=bool(np.all(fitted.stopped)),
        validation_losses=val_losses,
        validation_steps=None if val_steps is None else val_steps.astype(np.int64),
        best_step=best_step,
        check=None if report is None else (lambda: report),
    )
    return result, summary
