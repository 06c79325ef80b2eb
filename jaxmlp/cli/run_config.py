"""A training run's settings as the command line gives them, and what follows from them and the data set: the network, the number of steps, the initial parameters."""

from __future__ import annotations

import dataclasses
import math

import jax

from jaxmlp.io.dataset import Dataset
from jaxmlp.mlp import MLP
from jaxmlp.worked_example import SEED_NET, tutorial

__all__ = ["NET_FIELDS", "RunConfig", "build_network", "resolve_steps", "initial_params"]

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
    schedule: str = "constant"
    warmup_steps: int = 0
    validation_fraction: float | None = None
    patience: int | None = None
    monitor: int | None = None  # record every this many steps (jaxmlp.Monitor)


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
