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
from jaxmlp.training.members import train_population
from jaxmlp.training.result import FitResult

__all__ = [
    "BAG_STREAM",
    "ENSEMBLE_REFUSES",
    "population_optimizer",
    "member_rows",
    "train_members",
]

BAG_STREAM = 1  # the random stream of the members' rows, beside the validation split's (the seed)

# what an ensemble run does not offer: the RunConfig field and its flag
ENSEMBLE_REFUSES = {
    "monitor": "--monitor",
    "chunk_size": "--chunk-size",
}


def population_optimizer(name: str | None, lr: float, weight_decay: float | None):
    """``(optax name, hyperparams)`` of the run's optimizer for the population engine: adam
    (adamw with a weight decay), sgd, momentum (sgd with momentum 0.9), or manual SGD (sgd)."""
    from jaxmlp.training.optimizers import MOMENTUM

    if name == "adam":
        if weight_decay:
            return "adamw", {"learning_rate": lr, "weight_decay": weight_decay}
        return "adam", {"learning_rate": lr}
    if weight_decay:
        raise ValueError("--weight-decay with an ensemble needs --optimizer adam")
    if name == "momentum":
        return "sgd", {"learning_rate": lr, "momentum": MOMENTUM}
    return "sgd", {"learning_rate": lr}


def train_members(
    net: MLP,
    x,
    y,
    *,
    k: int,
    steps: int,
    optimizer: str | None,
    lr: float,
    cfg,
    batch: int | None,
    init_key,
    batch_key,
    dtype,
) -> tuple[MLP, FitResult, dict]:
    """``(wide net, result, ensemble summary)``: ``k`` members trained for at most ``steps``
    steps with ``cfg``'s schedule, warm-up, weight decay, gradient clipping, validation fraction
    and patience (split over ``cfg.devices`` devices when given: ``k`` must divide), each
    on its own draw of ``cfg.bag`` of the training rows when given (without replacement, keyed
    by the seed; the validation rows are every member's); the
    result's ``params`` the merged network's (NumPy), its ``losses`` the members' mean batch loss
    of each epoch (repeated over its steps) and its validation losses their mean."""
    rows, valid = member_rows(x.shape[0], k, cfg)
    if batch is not None and batch >= rows.shape[-1]:
        batch = None
    name, hyper = population_optimizer(optimizer, lr, cfg.weight_decay)
    schedule = cfg.schedule or "constant"
    if schedule != "constant" or cfg.warmup_steps:
        hyper["warmup_steps"] = float(cfg.warmup_steps or 0)
        hyper["total_steps"] = float(steps)
    members = jax.vmap(lambda key: net.init(key, dtype))(jax.random.split(init_key, k))
    fitted = train_population(
        net,
        members,
        x,
        y,
        steps=steps,
        optimizer=name,
        hyperparams=hyper,
        schedule=schedule,
        batch_size=batch,
        keys=jax.random.split(batch_key, k) if batch else None,
        train_rows=rows,
        validation_rows=valid,
        patience=cfg.patience,
        grad=cfg.grad,
        clip_norm=cfg.clip_norm,
        devices=cfg.devices,
    )
    wide, params = merge_members(net, fitted.params)
    result, summary = _outcome(net, fitted, params, rows.shape[-1], batch, steps, k, cfg, dtype)
    return wide, dataclasses.replace(result, key=batch_key), summary


def member_rows(n: int, k: int, cfg) -> tuple[np.ndarray, np.ndarray | None]:
    """``(training rows, validation rows)`` of ``k`` members over ``n`` rows: a
    ``cfg.validation_fraction`` of the rows held out for every member (drawn by ``cfg.seed``; None
    without), the rest training each, or with ``cfg.bag`` < 1 each member's own draw of that
    fraction of them, ``(k, rows)`` (without replacement, keyed by the seed)."""
    rows = np.arange(n)
    valid = None
    if cfg.validation_fraction:
        n_val = max(1, round(n * cfg.validation_fraction))
        if n_val >= n:
            raise ValueError(
                f"--validation-fraction {cfg.validation_fraction} leaves no training rows"
            )
        perm = np.random.default_rng(cfg.seed).permutation(n)
        valid, rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    if cfg.bag is not None and cfg.bag < 1:
        size = max(1, round(cfg.bag * len(rows)))
        draw = np.random.default_rng((cfg.seed, BAG_STREAM))
        rows = np.stack([np.sort(draw.choice(rows, size, replace=False)) for _ in range(k)])
    return rows, valid


def _outcome(net, fitted, params, n_rows, batch, steps, k, cfg, dtype):
    """``(FitResult, summary)`` of a population run as one network's run reads: each epoch's
    mean batch loss over the members (repeated over its steps), their mean validation loss,
    and the latest best step among them."""
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
        "bag": cfg.bag,
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
    result = FitResult(
        params,
        None,
        losses.astype(dtype),
        ran,
        None,
        stopped=bool(np.all(fitted.stopped)),
        validation_losses=val_losses,
        validation_steps=None if val_steps is None else val_steps.astype(np.int64),
        best_step=best_step,
        check=None if report is None else (lambda: report),
    )
    return result, summary
