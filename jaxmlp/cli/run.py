"""Training runs as the command line does them: data set -> network -> fit -> evaluation -> files.

Below the CLI and above the library: it knows about data sets, checkpoints
and signals, not about argument parsing or terminals (the progress bar is
passed in).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np

from jaxmlp import programs
from jaxmlp.cli import time_budget
from jaxmlp.cli.ensemble_run import train_members
from jaxmlp.cli.progress import NoProgress
from jaxmlp.cli.run_config import RunConfig, initial_params
from jaxmlp.cli.run_plan import plan, resumed, training_data, update_rule
from jaxmlp.cli.summary import dataset_loss, part_metrics, validation_summary
from jaxmlp.io import checkpoint as ckpt
from jaxmlp.io.dataset import Dataset
from jaxmlp.mlp import MLP
from jaxmlp.training import parallel
from jaxmlp.training.arguments import FitOptions
from jaxmlp.training.fit import fit_with
from jaxmlp.training.monitor import Monitor, Records
from jaxmlp.training.optimizers import MOMENTUM
from jaxmlp.training.result import FitResult
from jaxmlp.training.target_transforms import QUADRATIC_LOSSES, fold_target_scale

__all__ = [
    "Interrupt",
    "TrainOutcome",
    "run_keys",
    "continued",
    "monitor_summary",
    "unscaled_result",
    "PROBE_ROWS",
    "in_memory_options",
    "stream_options",
    "Recorder",
    "train",
    "run_summary",
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


def fit_options(ds: Dataset, cfg: RunConfig, steps: int, lr, optimizer, batch, key) -> FitOptions:
    """``fit``'s options of a run of ``steps`` steps as ``cfg`` says (the learning rate, update,
    batch size and key resolved by the run's plan): the gradient, clipping (manual SGD's; a
    named optimizer clips inside), devices, patience, validation and the monitor (for a stream
    or for rows in memory)."""
    return FitOptions(
        steps=steps, learning_rate=lr, optimizer=optimizer, batch_size=batch, key=key,
        grad=cfg.grad, clip_norm=cfg.clip_norm if optimizer is None else None,
        devices=cfg.devices, patience=cfg.patience,
        **stream_options(ds, cfg) if ds.source is not None else in_memory_options(cfg),
    )  # fmt: skip


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


class Recorder:
    """Between chunks: the progress bar, the test loss per step (rows in memory) and the
    checkpoint (every process copies its replica to the host; process 0 writes)."""

    def __init__(self, ds: Dataset, net: MLP, unscaled, checkpoint_dir, extra, bar, interrupt):
        self.ds, self.net, self.unscaled = ds, net, unscaled
        self.checkpoint_dir, self.extra, self.bar, self.interrupt = (
            checkpoint_dir, extra, bar, interrupt,
        )  # fmt: skip
        self.test_curve: dict[int, float] = {}
        self.saved: list[tuple] = []

    def save(self, params, opt_state, step, key) -> None:
        """Keep the state (and write it, with a checkpoint directory)."""
        self.saved[:] = [(params, opt_state, step, key)]
        if self.checkpoint_dir:
            params, opt_state, key = parallel.to_host_tree((params, opt_state, key))
            if jax.process_index() == 0:
                ckpt.save(self.checkpoint_dir, net=self.net, params=params,
                          opt_state=opt_state, step=step, key=key, extra=self.extra)  # fmt: skip

    def __call__(self, state, losses) -> bool:
        """``fit``'s callback: record the chunk; True (stop) once a signal came."""
        step = int(parallel.to_host(state.step))
        self.bar.update(step, float(losses[-1]))
        params = parallel.to_host_tree(state.params)
        if self.ds.x_test is not None:  # (a streamed test part is read once, at the end)
            x, y = self.ds.x_test, self.ds.y_test
            self.test_curve[step] = dataset_loss(self.net, self.unscaled(params), x, y)
        self.save(params, state.opt_state, step, state.key)
        return self.interrupt is not None and self.interrupt.signal is not None


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
    p = plan(ds, cfg, checkpoint_dir, resume)
    net, cfg, dtype, lr, streamed = p.net, p.cfg, p.dtype, p.lr, ds.source is not None
    optimizer = update_rule(p, cfg)
    init_key, batch_key = run_keys(cfg.seed)
    params = initial_params(ds, net, init_key, dtype)
    x, y, scale = training_data(ds, net, cfg, dtype)
    n, bar = ds.n_train, bar or NoProgress()
    fit_batch = p.batch_size if streamed else None if p.batch_size in (None, n) else p.batch_size
    steps, chunk_size, k = p.steps, cfg.chunk_size, cfg.ensemble or 1
    if cfg.time_budget and not streamed and not resume:
        steps, chunk_size, k = time_budget.within_budget(
            net,
            params,
            x,
            y,
            fit_options(ds, cfg, steps, lr, optimizer, fit_batch, batch_key),
            cfg,
            t_begin,
            k,
        )
        cfg, optimizer = _budgeted(ds, p, cfg, optimizer, steps, k, bar)
    begin = resumed(checkpoint_dir if resume else None, p, optimizer, steps, params, batch_key)
    start = begin.start
    extra = {"dataset": ds.name, "optimizer": p.optimizer_name, "learning_rate": lr,
             "batch_size": p.batch_size, "grad": cfg.grad}  # fmt: skip
    unscaled = (lambda q: q) if scale is None else (lambda q: fold_target_scale(q, *scale))
    recorder = Recorder(ds, net, unscaled, checkpoint_dir, extra, bar, interrupt)
    t0 = time.perf_counter()
    ensemble = None
    if k > 1:
        member_net = net
        options = fit_options(ds, cfg, steps, lr, optimizer, fit_batch, begin.key)
        net, result, ensemble = train_members(
            net, x, y, options, k=k, bag=cfg.bag, seed=cfg.seed, init_key=init_key, dtype=dtype
        )
        ensemble["member_network"] = dataclasses.asdict(member_net)
        losses = np.asarray(result.losses)
        bar.update(result.step, float(losses[-1]) if losses.size else float("nan"))
    elif start >= steps:
        result = FitResult(begin.params, begin.opt_state, np.zeros((0,), dtype), start, begin.key)
    else:
        options = dataclasses.replace(
            fit_options(ds, cfg, steps - start, lr, optimizer, fit_batch, begin.key),
            chunk_size=chunk_size, opt_state=begin.opt_state, start_step=start, callback=recorder,
        )  # fmt: skip
        result = fit_with(net, begin.params, x, y, options)
        result = dataclasses.replace(
            result, **dict(zip(("params", "opt_state", "key"), parallel.to_host_tree(
                (result.params, result.opt_state, result.key)))),
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    if result.diverged_at is not None:
        recorder.save(result.params, result.opt_state, result.step, result.key)
    if scale is not None:  # the network on the target's own scale, its losses too
        result = unscaled_result(result, fold_target_scale(result.params, *scale), scale[1], net)
    summary = run_summary(ds, p, cfg, net, result, scale, ensemble, seconds, start)
    if result.monitor is not None:
        records = continued(begin.monitor, result.monitor, start)
        summary["monitor"] = monitor_summary(records, p.name, lr, cfg)
        if checkpoint_dir and recorder.saved:  # the checkpoint carries them, for a --resume
            extra["monitor"] = records.to_json()
            recorder.save(*recorder.saved[0])
    if checkpoint_dir:
        summary["checkpoint"] = str(checkpoint_dir)
    interrupted = interrupt.signal if interrupt is not None and result.stopped else None
    return TrainOutcome(net, result, summary, recorder.test_curve, interrupted, start)


def _budgeted(ds: Dataset, p, cfg: RunConfig, optimizer, steps: int, k: int, bar):
    """``(cfg, optimizer)`` once the time budget left ``steps`` steps and ``k`` members: the
    recipe's warm-up the same fraction of the fewer steps, the bar's total theirs, and a line
    when a bag no longer applies (one network)."""
    if cfg.bag is not None and k == 1:
        print(
            f"jaxmlp: the time budget leaves one network: --bag {cfg.bag} does not apply "
            "(a larger --time-budget keeps the ensemble)",
            file=sys.stderr,
        )
    if steps < p.steps:
        warmup = ds.defaults.get("warmup_fraction", 0.0)
        if warmup and cfg.warmup_steps == round(warmup * p.steps):  # the recipe's warm-up
            cfg = dataclasses.replace(cfg, warmup_steps=round(warmup * steps))
            optimizer = update_rule(p, cfg)
        bar.set_total(steps)
    return cfg, optimizer


def run_summary(ds, p, cfg, net, result, scale, ensemble, seconds, start) -> dict[str, Any]:
    """The run's JSON summary: its settings, steps, time and losses, validation, the scores on
    the training and test rows beside the baseline, and a stream's parts."""
    streamed = ds.source is not None
    # one pass over a stream's training rows
    final_loss, train_accuracy, train_scores, reference = part_metrics(
        ds, net, result.params, "train"
    )
    smoothing = bool(cfg.label_smoothing) and net.loss == "cross_entropy" and not streamed
    plain = scale is None and not (smoothing and ds.y_train.ndim == 1) and ensemble is None
    if not streamed and np.asarray(result.losses).size and plain:
        final_loss = result.final_loss  # (the loss the run computed: the same rows and targets)
    summary: dict[str, Any] = {
        "dataset": ds.name,
        "network": dataclasses.asdict(net),
        "optimizer": p.optimizer_name,
        "learning_rate": p.lr,
        "batch_size": p.batch_size,
        "grad": cfg.grad,
        "weight_decay": cfg.weight_decay,
        "schedule": cfg.schedule,
        "warmup_steps": cfg.warmup_steps,
        "label_smoothing": cfg.label_smoothing or None,
        "target_scaling": None
        if scale is None
        else {"mean": scale[0].tolist(), "std": scale[1].tolist()},
        "dtype": str(p.dtype),
        "steps": result.step
        if result.best_step is None
        else start + len(np.asarray(result.losses)),
        "seconds": seconds,
        "final_loss": final_loss,
        "diverged_at": result.diverged_at,
        "last_finite_loss": result.last_finite_loss if result.diverged_at is not None else None,
    }
    if cfg.time_budget:
        summary["time_budget"] = {"seconds": cfg.time_budget, "planned_steps": p.steps}
    if ensemble is not None:
        summary["ensemble"] = ensemble
    summary.update(validation_summary(result, cfg))
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
            "rows": ds.n_train,
            "test_rows": ds.source.test_rows,
            "validation_rows": ds.source.validation_rows,
            "row_groups": len(ds.source.groups),
            "window_bytes": ds.source.window_bytes,
        }
    return summary
