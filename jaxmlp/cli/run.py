"""Training runs as the command line does them: data set -> network -> fit -> evaluation -> files.

Below the CLI and above the library: it knows about data sets, checkpoints
and signals, not about argument parsing or terminals (the progress bar is
passed in).
"""

from __future__ import annotations

import dataclasses
import signal
import time
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.cli import time_budget
from jaxmlp.cli.ensemble_run import ENSEMBLE_REFUSES, train_members
from jaxmlp.cli.progress import NoProgress
from jaxmlp.cli.run_config import (
    RunConfig,
    build_network,
    initial_params,
    resolve_steps,
    resolved,
)
from jaxmlp.cli.summary import (
    dataset_loss,
    part_metrics,
    targets,
    validation_summary,
)
from jaxmlp.io import checkpoint as ckpt
from jaxmlp.io.dataset import Dataset
from jaxmlp.mlp import MLP
from jaxmlp.training import parallel
from jaxmlp.training.arguments import optimizer_state, training_update
from jaxmlp.training.fit import fit
from jaxmlp.training.monitor import Monitor, Records
from jaxmlp.training.optimizers import MOMENTUM
from jaxmlp.training.result import FitResult
from jaxmlp.training.target_transforms import (
    QUADRATIC_LOSSES,
    can_scale_target,
    fold_target_scale,
    smoothed_labels,
    target_scale,
)
from jaxmlp.validation import on_device

__all__ = [
    "Interrupt",
    "TrainOutcome",
    "run_keys",
    "continued",
    "monitor_summary",
    "training_targets",
    "unscaled_result",
    "PROBE_ROWS",
    "in_memory_options",
    "stream_options",
    "train",
]


class Interrupt:
    """SIGINT and SIGTERM set a flag (checked between chunks) instead of killing the run; a second
    signal interrupts at once."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self, signum, frame):
        if self.signal is not None:  # a second signal: stop now, without the checkpoint
            raise KeyboardInterrupt
        self.signal = signum

    @contextmanager
    def installed(self):
        """Install the handlers for the ``with`` block; the old ones come back after it."""
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


@dataclasses.dataclass
class TrainOutcome:
    """A run's network, fit result, JSON summary, test loss per chunk, the signal that stopped it,
    and the global step the run started from (after ``--resume``)."""

    net: MLP
    result: FitResult
    summary: dict
    test_curve: dict
    interrupted: int | None = None
    start_step: int = 0


def run_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """``split(key(seed))`` as ``(init_key, batch_key)``, from one compiled program for any seed
    that fits JAX's default integer (op by op, three programs); the same keys."""
    dtype = jax.dtypes.canonicalize_dtype(np.int64)
    if np.iinfo(dtype).min <= seed <= np.iinfo(dtype).max:
        return _run_keys(np.asarray(seed, dtype))
    init_key, batch_key = jax.random.split(jax.random.key(seed))
    return init_key, batch_key


@programs.jit
def _run_keys(seed):
    init_key, batch_key = jax.random.split(jax.random.key(seed))
    return init_key, batch_key


def continued(earlier: dict | None, records: Records, start: int) -> Records:
    """The records of the run a ``--resume`` continued (from its checkpoint, those before
    ``start``), then this run's."""
    if not earlier:
        return records
    before = Records(
        *(
            np.asarray(earlier[f], dtype=np.asarray(a).dtype)
            for f, a in zip(Records._fields, records)
        )
    )
    keep = before.step < start
    return Records(*(np.concatenate([a[keep], b]) for a, b in zip(before, records)))


def monitor_summary(records, name: str | None, lr: float, cfg: RunConfig) -> dict:
    r"""The monitor's records as JSON lists, with the stability edge of the run's update where one
    is known: :math:`2/\eta` for gradient descent, :math:`(2 + 2\beta)/\eta` for heavy-ball
    momentum :math:`\beta` (the quadratic model's bounds; none for adaptive optimizers, schedules
    or weight decay)."""
    out: dict[str, Any] = records.to_json()
    plain = cfg.schedule == "constant" and not cfg.weight_decay and not cfg.warmup_steps
    out["edge"] = out["edge_rule"] = None
    if name is None:
        out["edge"], out["edge_rule"] = 2 / lr, "2 / learning rate"
    elif name == "momentum" and plain:
        beta = MOMENTUM
        out["edge"], out["edge_rule"] = (2 + 2 * beta) / lr, f"(2 + 2 * {beta}) / learning rate"
    return out


def training_targets(ds: Dataset, net: MLP, cfg: RunConfig, dtype):
    """The training targets on the device: as the loss takes them, or smoothed labels
    (``cfg.label_smoothing`` > 0 with integer class labels and cross entropy)."""
    if cfg.label_smoothing and net.loss == "cross_entropy" and ds.y_train.ndim == 1:
        soft = smoothed_labels(ds.y_train, net.sizes[-1], cfg.label_smoothing, np.dtype(dtype))
        return on_device(soft, dtype)
    return targets(net, ds.y_train, dtype)


def unscaled_result(result: FitResult, params, sigma: np.ndarray, net: MLP) -> FitResult:
    r"""``result`` with ``params`` (folded onto the target's scale) and its recorded losses
    scaled by :math:`\sigma^2` (a quadratic loss of one output; others are left as they are)."""
    factor = float(sigma[0] ** 2) if net.loss in QUADRATIC_LOSSES and len(sigma) == 1 else 1.0
    scaled = lambda a: None if a is None else np.asarray(a) * factor  # noqa: E731
    return dataclasses.replace(
        result,
        params=params,
        losses=scaled(result.losses),
        chunk_end_losses=scaled(result.chunk_end_losses),
        validation_losses=scaled(result.validation_losses),
        final=None,
    )


PROBE_ROWS = 1024  # a stream's monitor probe: its first training rows


def in_memory_options(cfg: RunConfig) -> dict:
    """``fit``'s validation and monitor for rows in memory: a split of them, the rows as probe."""
    monitor = None if cfg.monitor is None else Monitor(every=cfg.monitor)
    return {"validation_fraction": cfg.validation_fraction, "monitor": monitor}


def stream_options(ds: Dataset, cfg: RunConfig) -> dict:
    """``fit``'s validation and monitor for a stream: the source's validation rows (its
    ``--validation-fraction``, split off as its test rows are) read into memory, and its first
    :data:`PROBE_ROWS` training rows as the monitor's probe."""
    source = ds.source
    validation = None
    if cfg.validation_fraction:
        parts = list(source.batches("validation"))
        validation = tuple(np.concatenate([p[i] for p in parts]) for i in (0, 1))
    monitor = None
    if cfg.monitor is not None:
        probe = source.rows(np.arange(min(source.num_rows, PROBE_ROWS)))
        monitor = Monitor(every=cfg.monitor, probe=probe)
    return {"validation_data": validation, "monitor": monitor}


def train(
    ds: Dataset,
    cfg: RunConfig,
    *,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    bar=None,
    interrupt: Interrupt | None = None,
) -> TrainOutcome:
    """Train on ``ds`` as ``cfg`` says; checkpoint after every chunk and on interrupt."""
    t_begin = time.perf_counter()
    net = build_network(ds, cfg)
    dtype = jnp.dtype(cfg.dtype)
    if resume and not checkpoint_dir:
        raise ValueError("--resume needs --checkpoint DIR (where to resume from)")
    if checkpoint_dir and not resume and ckpt.exists(checkpoint_dir):
        raise ValueError(
            f"{checkpoint_dir} already holds a checkpoint: pass --resume to continue it, or name "
            "another --checkpoint directory (a new run would overwrite it)"
        )
    optimizer_name = cfg.optimizer or ds.defaults["optimizer"]
    lr = cfg.learning_rate if cfg.learning_rate is not None else ds.defaults["learning_rate"]
    batch_size = cfg.batch_size if cfg.batch_size is not None else ds.defaults.get("batch_size")
    n, streamed = ds.n_train, ds.source is not None
    if batch_size is not None and batch_size > n:
        raise ValueError(
            f"--batch-size {batch_size} is larger than the {ds.name} training set ({n} examples)"
        )
    steps = resolve_steps(ds, cfg, batch_size)
    asked = cfg.ensemble
    cfg = resolved(ds, cfg, steps)
    if (cfg.ensemble or 1) > 1:
        refused = [flag for f, flag in ENSEMBLE_REFUSES.items() if getattr(cfg, f) is not None]
        refused += ["--checkpoint"] if checkpoint_dir else []
        if refused and asked is not None:
            raise ValueError(
                f"--ensemble {asked} trains its members in one compiled call: "
                f"{', '.join(refused)} cannot be used with it (pass --ensemble 1)"
            )
        if refused or streamed:
            cfg = dataclasses.replace(cfg, ensemble=1)
    shaped = bool(cfg.weight_decay) or cfg.schedule != "constant" or cfg.warmup_steps
    # Plain SGD runs as manual SGD: the same update, without an optimizer state to carry.
    name = (
        None
        if optimizer_name == "none" or (optimizer_name == "sgd" and not shaped)
        else optimizer_name
    )

    def update_rule(cfg: RunConfig):
        schedule, warmup = cfg.schedule or "constant", cfg.warmup_steps or 0
        return training_update(name, lr, cfg.clip_norm, cfg.weight_decay, schedule, warmup)[0]

    try:
        optimizer = update_rule(cfg)
    except ValueError as e:
        if name is None and shaped:
            raise ValueError(
                f"--weight-decay, --schedule and --warmup-steps need --optimizer (the {ds.name} data "
                "set trains by manual SGD unless one is given)"
            ) from e
        raise
    earlier = None  # the monitor's records of the run a --resume continues
    init_key, batch_key = run_keys(cfg.seed)
    params = initial_params(ds, net, init_key, dtype)
    # a streamed run reads its rows from the source, a chunk of batches at a time
    x = ds.source if streamed else on_device(ds.x_train, dtype)
    y = None if streamed else training_targets(ds, net, cfg, dtype)
    scale = None  # (mu, sigma) of standardised regression targets
    if cfg.target_scaling and not streamed and ds.task == "regression" and can_scale_target(net):
        scale = target_scale(ds.y_train, net)
        y = on_device(((ds.y_train - scale[0]) / scale[1]).astype(dtype), dtype)
    fit_batch = batch_size if streamed else None if batch_size in (None, n) else batch_size
    chunk_size, planned, k = cfg.chunk_size, steps, cfg.ensemble or 1
    if cfg.time_budget and not streamed and not resume:
        steps, chunk_size, k = time_budget.within_budget(
            net, params, x, y, cfg, steps, lr, optimizer, fit_batch, batch_key, t_begin, k
        )
        if steps < planned:
            warmup = ds.defaults.get("warmup_fraction", 0.0)
            if warmup and cfg.warmup_steps == round(warmup * planned):  # the recipe's warm-up
                cfg = dataclasses.replace(cfg, warmup_steps=round(warmup * steps))
                optimizer = update_rule(cfg)
            (bar or NoProgress()).set_total(steps)
    opt_state = optimizer_state(optimizer, params, lr, steps)
    start = 0
    if resume and checkpoint_dir is not None and ckpt.exists(checkpoint_dir):
        c = ckpt.load(checkpoint_dir, net=net, opt_state_template=opt_state)
        if c.metadata.get("dtype") != str(dtype):
            raise ckpt.CheckpointError(
                f"checkpoint in {checkpoint_dir} holds {c.metadata.get('dtype')} parameters; this run uses {dtype} (use --x64 accordingly)"
            )
        params, start, batch_key = c.params, c.step, c.key
        earlier = c.metadata.get("extra", {}).get("monitor")
        opt_state = optimizer_state(optimizer, params, lr, steps, c.opt_state)
    elif resume:
        import sys

        print(
            f"jaxmlp: no checkpoint in {checkpoint_dir} yet: starting afresh (it will be written there)",
            file=sys.stderr,
        )
    smoothing = bool(cfg.label_smoothing) and net.loss == "cross_entropy" and not streamed
    smoothing = smoothing and ds.y_train.ndim == 1
    unscaled = (lambda p: p) if scale is None else (lambda p: fold_target_scale(p, *scale))
    extra = {
        "dataset": ds.name,
        "optimizer": optimizer_name,
        "learning_rate": lr,
        "batch_size": batch_size,
        "grad": cfg.grad,
    }
    test_curve: dict[int, float] = {}
    bar = bar or NoProgress()
    saved: list[tuple] = []

    def save(state_params, state_opt, step, key):
        # Every process copies its replica to the host (a local operation); process 0 writes.
        saved[:] = [(state_params, state_opt, step, key)]
        if checkpoint_dir:
            state_params, state_opt, key = parallel.to_host_tree((state_params, state_opt, key))
            if jax.process_index() == 0:
                ckpt.save(
                    checkpoint_dir,
                    net=net,
                    params=state_params,
                    opt_state=state_opt,
                    step=step,
                    key=key,
                    extra=extra,
                )

    def on_chunk(state, losses):
        step = int(parallel.to_host(state.step))
        bar.update(step, float(losses[-1]))
        params = parallel.to_host_tree(state.params)
        if ds.x_test is not None:  # (a streamed test part is read once, at the end)
            test_curve[step] = dataset_loss(net, unscaled(params), ds.x_test, ds.y_test)
        save(params, state.opt_state, step, state.key)
        return interrupt is not None and interrupt.signal is not None

    t0 = time.perf_counter()
    ensemble = None
    if k > 1:
        member_net = net
        net, result, ensemble = train_members(
            net, x, y, k=k, steps=steps, optimizer=name, lr=lr, cfg=cfg, batch=fit_batch,
            init_key=init_key, batch_key=batch_key, dtype=dtype,
        )  # fmt: skip
        ensemble["member_network"] = dataclasses.asdict(member_net)
        losses = np.asarray(result.losses)
        bar.update(result.step, float(losses[-1]) if losses.size else float("nan"))
    elif start >= steps:
        result = FitResult(params, opt_state, np.zeros((0,), dtype), start, batch_key)
    else:
        result = fit(
            net,
            params,
            x,
            y,
            steps=steps - start,
            learning_rate=lr,
            optimizer=optimizer,
            batch_size=fit_batch,
            key=batch_key,
            grad=cfg.grad,
            clip_norm=cfg.clip_norm if optimizer is None else None,
            chunk_size=chunk_size,
            opt_state=opt_state,
            start_step=start,
            callback=on_chunk,
            devices=cfg.devices,
            patience=cfg.patience,
            **stream_options(ds, cfg) if streamed else in_memory_options(cfg),
        )
        result = dataclasses.replace(
            result,
            params=parallel.to_host_tree(result.params),
            opt_state=parallel.to_host_tree(result.opt_state),
            key=parallel.to_host_tree(result.key),
        )
    seconds = time.perf_counter() - t0
    if result.diverged_at is not None:
        save(result.params, result.opt_state, result.step, result.key)
    if scale is not None:  # the network on the target's own scale, its losses too
        result = unscaled_result(result, fold_target_scale(result.params, *scale), scale[1], net)
    # one pass over a stream's training rows
    final_loss, train_accuracy, train_scores, reference = part_metrics(
        ds, net, result.params, "train"
    )
    plain = scale is None and not smoothing and ensemble is None
    if not streamed and np.asarray(result.losses).size and plain:
        final_loss = result.final_loss  # (the loss the run computed: the same rows and targets)
    summary: dict[str, Any] = {
        "dataset": ds.name,
        "network": dataclasses.asdict(net),
        "optimizer": optimizer_name,
        "learning_rate": lr,
        "batch_size": batch_size,
        "grad": cfg.grad,
        "weight_decay": cfg.weight_decay,
        "schedule": cfg.schedule,
        "warmup_steps": cfg.warmup_steps,
        "label_smoothing": cfg.label_smoothing or None,
        "target_scaling": None
        if scale is None
        else {"mean": scale[0].tolist(), "std": scale[1].tolist()},
        "dtype": str(dtype),
        "steps": result.step
        if result.best_step is None
        else start + len(np.asarray(result.losses)),
        "seconds": seconds,
        "final_loss": final_loss,
        "diverged_at": result.diverged_at,
        "last_finite_loss": result.last_finite_loss if result.diverged_at is not None else None,
    }
    if cfg.time_budget:
        summary["time_budget"] = {"seconds": cfg.time_budget, "planned_steps": planned}
    if ensemble is not None:
        summary["ensemble"] = ensemble
    summary.update(validation_summary(result, cfg))
    if result.monitor is not None:
        records = continued(earlier, result.monitor, start)
        summary["monitor"] = monitor_summary(records, name, lr, cfg)
        if checkpoint_dir and saved:  # the checkpoint carries them, for a --resume to continue
            extra["monitor"] = records.to_json()
            save(*saved[0])
    if ds.task == "classification":
        summary["train_accuracy"] = train_accuracy
    summary["train_scores"] = train_scores
    summary["baseline"] = reference  # the training rows' statistics: evaluate scores it again
    if ds.x_test is not None or (streamed and ds.source.test_rows):
        summary["test_loss"], test_accuracy, summary["test_scores"], _ = part_metrics(
            ds, net, result.params, "test", reference
        )
        if ds.task == "classification":
            summary["test_accuracy"] = test_accuracy
    elif ds.test_note is not None:  # a test set was asked for and came out empty: null, and why
        summary["test_loss"] = None
        if ds.task == "classification":
            summary["test_accuracy"] = None
        summary["test_note"] = ds.test_note
    if streamed:
        summary["streamed"] = {
            "rows": n,
            "test_rows": ds.source.test_rows,
            "validation_rows": ds.source.validation_rows,
            "row_groups": len(ds.source.groups),
            "window_bytes": ds.source.window_bytes,
        }
    if checkpoint_dir:
        summary["checkpoint"] = str(checkpoint_dir)
    interrupted = interrupt.signal if interrupt is not None and result.stopped else None
    return TrainOutcome(net, result, summary, test_curve, interrupted, start)
