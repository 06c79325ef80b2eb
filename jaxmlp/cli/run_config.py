"""A training run's settings as the command line gives them, and what follows from them and the data set: the network, the number of steps, the initial parameters."""

from __future__ import annotations

import dataclasses
import math

import jax

from jaxmlp.io.dataset import Dataset
from jaxmlp.mlp import MLP
from jaxmlp.worked_example import SEED_NET, tutorial

__all__ = [
    "NET_FIELDS",
    "OPTIMIZER_FIELDS",
    "RunConfig",
    "resolved",
    "build_network",
    "resolve_steps",
    "initial_params",
]

NET_FIELDS = ("sizes", "activation", "output_activation", "loss", "bias", "train_bias")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the data; ``None`` means the data set's default."""

    sizes: tuple | None = None
    activation: str | None = None
    output_activation: str | None = None
    loss: str | None = None
    bias: str | None = None
    train_bias: bool | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    steps: int | None = None
    epochs: float | None = None
    seed: int = 0
    dtype: str = "float32"
    grad: str = "autodiff"
    clip_norm: float | None = None
    chunk_size: int | None = None
    devices: int | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    warmup_steps: int | None = None
    validation_fraction: float | None = None  # 0: none
    patience: int | None = None
    monitor: int | None = None  # record every this many steps (jaxmlp.Monitor)
    label_smoothing: float | None = None
    target_scaling: bool | None = None
    time_budget: float | None = None  # seconds; 0: none
    ensemble: int | None = None  # members; 1: one network
    bag: float | None = None  # each member's fraction of the training rows; None: all


OPTIMIZER_FIELDS = ("weight_decay", "schedule", "warmup_steps")


def resolved(ds: Dataset, cfg: RunConfig, steps: int) -> RunConfig:
    """``cfg`` with every training setting it leaves open taken from the data set's defaults
    (``ds.defaults``: a data file's recipe, or a built-in set's plain defaults). What a run names
    replaces the recipe's choices that go with it: ``--optimizer`` or ``--learning-rate`` its
    weight decay, schedule and warm-up; ``--steps`` or ``--epochs`` its time budget, validation
    split and ensemble; ``--sizes`` its ensemble (one network of those sizes). A validation
    fraction or time budget of 0 means none; the recipe's warm-up is a fraction of ``steps``."""
    d = ds.defaults
    own_update = cfg.optimizer is not None or cfg.learning_rate is not None
    own_length = cfg.steps is not None or cfg.epochs is not None

    def given(field: str, recipe):
        """The run's own value, else the recipe's."""
        value = getattr(cfg, field)
        return recipe if value is None else value

    warmup = 0 if own_update else round(d.get("warmup_fraction", 0.0) * steps)
    return dataclasses.replace(
        cfg,
        weight_decay=given("weight_decay", None if own_update else d.get("weight_decay")),
        schedule=given("schedule", "constant" if own_update else d.get("schedule", "constant")),
        warmup_steps=given("warmup_steps", warmup),
        validation_fraction=given(
            "validation_fraction", None if own_length else d.get("validation_fraction")
        )
        or None,
        label_smoothing=given("label_smoothing", d.get("label_smoothing", 0.0)),
        target_scaling=given("target_scaling", d.get("target_scaling", False)),
        time_budget=given("time_budget", None if own_length else d.get("time_budget")) or None,
        ensemble=given("ensemble", recipe_members(d, cfg, ds)),
    )


def recipe_members(defaults: dict, cfg: RunConfig, ds: Dataset) -> int:
    """The recipe's ensemble size (down to a multiple of ``--devices``), or 1 where the run asks
    for what an ensemble does not offer (a stream, a per-chunk option) or names its own network
    sizes or length."""
    from jaxmlp.cli.ensemble_run import ENSEMBLE_REFUSES

    k = int(defaults.get("ensemble", 1))
    refused = any(getattr(cfg, f) is not None for f in ENSEMBLE_REFUSES)
    own = cfg.sizes is not None or cfg.steps is not None or cfg.epochs is not None
    if ds.source is not None or refused or own:
        return 1
    if cfg.devices and k > 1:  # the members split over the devices: a multiple of their count
        k = k // cfg.devices * cfg.devices or 1
    return k


def build_network(ds: Dataset, cfg: RunConfig) -> MLP:
    """The data set's default network with the run's overrides, checked against the data's width."""
    fields = {
        k: getattr(cfg, k) if getattr(cfg, k) is not None else ds.defaults[k] for k in NET_FIELDS
    }
    net = MLP(**fields)
    if net.sizes[0] != ds.n_features or net.sizes[-1] != ds.n_outputs:
        raise ValueError(
            f"sizes {','.join(map(str, net.sizes))} do not fit the {ds.name} data: it needs "
            f"{ds.n_features} inputs and {ds.n_outputs} outputs (e.g. {ds.n_features},32,{ds.n_outputs})"
        )
    return net


def resolve_steps(ds: Dataset, cfg: RunConfig, batch_size: int | None) -> int:
    """``--steps``, or ``--epochs`` times the steps per epoch (``ceil(n / batch)``), or the default."""
    if cfg.steps is not None and cfg.epochs is not None:
        raise ValueError("give --steps or --epochs, not both")
    n = ds.n_train
    per_epoch = math.ceil(n / (batch_size or n))
    if cfg.steps is not None:
        return int(cfg.steps)
    if cfg.epochs is not None:
        return max(1, int(math.ceil(cfg.epochs * per_epoch)))
    if "steps" in ds.defaults:
        return int(ds.defaults["steps"])
    return int(ds.defaults["epochs"] * per_epoch)


def initial_params(ds: Dataset, net: MLP, key: jax.Array, dtype):
    """The seed's own weights for the seed's network on the tutorial data, else ``net.init(key)``."""
    if ds.name == "tutorial" and net == SEED_NET:
        return tutorial(dtype)[1]
    return net.init(key, dtype)
