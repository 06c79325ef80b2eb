"""What a command-line training run will do, settled before anything trains: the network, the
resolved configuration, the update rule, the training data on the device and the state a
``--resume`` continues from (:func:`jaxmlp.cli.run.train` runs it)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxmlp.cli.ensemble_run import ENSEMBLE_REFUSES
from jaxmlp.cli.run_config import RunConfig, build_network, resolve_steps, resolved
from jaxmlp.cli.summary import targets
from jaxmlp.io import checkpoint as ckpt
from jaxmlp.io.dataset import Dataset
from jaxmlp.mlp import MLP
from jaxmlp.training.arguments import optimizer_state, training_update
from jaxmlp.training.target_transforms import can_scale_target, smoothed_labels, target_scale
from jaxmlp.validation import on_device

__all__ = ["Plan", "plan", "update_rule", "training_targets", "training_data", "Resumed", "resumed"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run's choices, from the data set's defaults and the flags: the network, the resolved
    configuration and precision, the optimizer as named (``optimizer_name``) and as run (``name``:
    the optax optimizer, None for manual SGD), the learning rate, batch size and planned steps."""

    net: MLP
    cfg: RunConfig
    dtype: Any
    optimizer_name: str
    name: str | None
    lr: float
    batch_size: int | None
    steps: int


def plan(ds: Dataset, cfg: RunConfig, checkpoint_dir: str | None, resume: bool) -> Plan:
    """The run's :class:`Plan`; a bad combination of flags raises ValueError in one line."""
    net = build_network(ds, cfg)
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
    if batch_size is not None and batch_size > ds.n_train:
        raise ValueError(
            f"--batch-size {batch_size} is larger than the {ds.name} training set "
            f"({ds.n_train} examples)"
        )
    steps = resolve_steps(ds, cfg, batch_size)
    asked = cfg.ensemble
    cfg = resolved(ds, cfg, steps)
    if cfg.patience is not None and not cfg.validation_fraction and not ds.source:
        raise ValueError(
            "--patience needs --validation-fraction (the loss it watches; a data file's recipe "
            "holds one out unless the run names --steps or --epochs)"
        )
    if (cfg.ensemble or 1) > 1:
        refused = [flag for f, flag in ENSEMBLE_REFUSES.items() if getattr(cfg, f) is not None]
        refused += ["--checkpoint"] if checkpoint_dir else []
        if refused and asked is not None:
            raise ValueError(
                f"--ensemble {asked} trains its members in one compiled call: "
                f"{', '.join(refused)} cannot be used with it (pass --ensemble 1)"
            )
        if refused or ds.source is not None:
            cfg = dataclasses.replace(cfg, ensemble=1)
        elif cfg.devices and (k := cfg.ensemble or 1) % cfg.devices:
            d = cfg.devices
            raise ValueError(
                f"--ensemble {k} does not split over --devices {d}: use a multiple of {d} "
                f"(e.g. {max(d, k - k % d)})"
            )
    if cfg.bag is not None:
        if (
            isinstance(cfg.bag, bool)
            or not isinstance(cfg.bag, (int, float))
            or not (0 < cfg.bag <= 1)
        ):
            raise ValueError(f"bag must be a number in (0, 1], got {cfg.bag!r}")
        if ds.source is not None:
            raise ValueError(
                f"--bag {cfg.bag} draws ensemble members' rows: a stream trains one network"
            )
        if (cfg.ensemble or 1) == 1:
            raise ValueError(
                f"--bag {cfg.bag} draws each ensemble member's rows: this run trains one network "
                "(pass --ensemble K with K > 1)"
            )
    shaped = bool(cfg.weight_decay) or cfg.schedule != "constant" or cfg.warmup_steps
    # Plain SGD runs as manual SGD: the same update, without an optimizer state to carry.
    plain_sgd = optimizer_name == "none" or (optimizer_name == "sgd" and not shaped)
    name = None if plain_sgd else optimizer_name
    p = Plan(net, cfg, jnp.dtype(cfg.dtype), optimizer_name, name, lr, batch_size, steps)
    try:
        update_rule(p, cfg)
    except ValueError as e:
        if name is None and shaped:
            raise ValueError(
                f"--weight-decay, --schedule and --warmup-steps need --optimizer (the {ds.name} "
                "data set trains by manual SGD unless one is given)"
            ) from e
        raise
    return p


def update_rule(p: Plan, cfg: RunConfig):
    """The run's update (an optax transformation, or None for manual SGD) under ``cfg``'s
    clipping, weight decay, schedule and warm-up."""
    schedule, warmup = cfg.schedule or "constant", cfg.warmup_steps or 0
    return training_update(p.name, p.lr, cfg.clip_norm, cfg.weight_decay, schedule, warmup)[0]


def training_targets(ds: Dataset, net: MLP, cfg: RunConfig, dtype):
    """The training targets on the device: as the loss takes them, or smoothed labels
    (``cfg.label_smoothing`` > 0 with integer class labels and cross entropy)."""
    if cfg.label_smoothing and net.loss == "cross_entropy" and ds.y_train.ndim == 1:
        soft = smoothed_labels(ds.y_train, net.sizes[-1], cfg.label_smoothing, np.dtype(dtype))
        return on_device(soft, dtype)
    return targets(net, ds.y_train, dtype)


def training_data(ds: Dataset, net: MLP, cfg: RunConfig, dtype):
    r"""``(x, y, scale)``: the inputs and targets ``fit`` takes (a stream: its source and None)
    and ``scale``, the :math:`(\mu, \sigma)` of standardised regression targets (or None)."""
    if ds.source is not None:  # read from the source, a chunk of batches at a time
        return ds.source, None, None
    x, y = on_device(ds.x_train, dtype), training_targets(ds, net, cfg, dtype)
    if cfg.target_scaling and ds.task == "regression" and can_scale_target(net):
        scale = target_scale(ds.y_train, net)
        return x, on_device(((ds.y_train - scale[0]) / scale[1]).astype(dtype), dtype), scale
    return x, y, None


class Resumed(NamedTuple):
    """What a run starts from: its parameters, optimizer state, global step and batch key, and
    ``monitor``, the records of the run a ``--resume`` continues (or None)."""

    params: Any
    opt_state: Any
    start: int
    key: Any
    monitor: dict | None = None


def resumed(
    checkpoint_dir: str | None, p: Plan, optimizer, steps: int, params, batch_key
) -> Resumed:
    """A fresh start from ``params``, or, with ``checkpoint_dir`` (``--resume``) holding a
    checkpoint, the state it saved (refused if saved in another precision)."""
    fresh = Resumed(params, optimizer_state(optimizer, params, p.lr, steps), 0, batch_key)
    if checkpoint_dir is None:
        return fresh
    if not ckpt.exists(checkpoint_dir):
        print(
            f"jaxmlp: no checkpoint in {checkpoint_dir} yet: starting afresh (it will be written "
            "there)",
            file=sys.stderr,
        )
        return fresh
    c = ckpt.load(checkpoint_dir, net=p.net, opt_state_template=fresh.opt_state)
    if c.metadata.get("dtype") != str(p.dtype):
        raise ckpt.CheckpointError(
            f"checkpoint in {checkpoint_dir} holds {c.metadata.get('dtype')} parameters; this run "
            f"uses {p.dtype} (use --x64 accordingly)"
        )
    opt_state = optimizer_state(optimizer, c.params, p.lr, steps, c.opt_state)
    return Resumed(c.params, opt_state, c.step, c.key, c.metadata.get("extra", {}).get("monitor"))
