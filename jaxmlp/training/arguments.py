"""The rules of :func:`jaxmlp.fit`'s arguments, each stated once: :func:`fit_arguments` checks and
normalises them all (``fit`` and ``hypergradient`` call it; the command line and the estimators
reach it through ``fit``), from the rules below, which ``sweep`` and the command line share. Each
refuses a value, or a combination in which one argument would be ignored, before anything is
traced, with a message that says what was expected."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import numpy as np

from jaxmlp.mlp import MLP
from jaxmlp.training import early_stopping
from jaxmlp.training.loop import GRADS, ORDERS, StepSpec, no_batch_key
from jaxmlp.training.monitor import Monitor
from jaxmlp.training.optimizers import (
    check_clip_norm,
    init_optimizer,
    named_optimizer,
    set_hyperparams,
    takes_learning_rate,
)
from jaxmlp.training.parallel import make_mesh
from jaxmlp.validation import (
    check_batch,
    check_callback,
    check_key,
    check_learning_rate,
    check_positive_int,
)

__all__ = [
    "FitOptions",
    "FitArguments",
    "DEFAULT_CHUNK",
    "MAX_STEP",
    "check_gradient_path",
    "check_batch_size",
    "training_update",
    "optimizer_state",
    "check_opt_state",
    "check_monitor",
    "validation_split",
    "chunk_size_for",
    "even_chunks",
    "fit_arguments",
]


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """:func:`jaxmlp.fit`'s keywords, declared once (their meanings are ``fit``'s): ``fit`` builds
    one, and every path its rows may take (in memory, :func:`~jaxmlp.training.streamed.fit_source`)
    and :func:`~jaxmlp.training.hypergradient.hypergradient` read it; :func:`fit_arguments` checks
    it. A new option is a field here, its rule in :func:`fit_arguments`, its part in the loop."""

    steps: int
    learning_rate: Any = None
    optimizer: Any = None
    batch_size: int | None = None
    key: Any = None
    grad: str = "autodiff"
    order: str = "simultaneous"
    clip_norm: float | None = None
    weight_decay: float | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    chunk_size: int | None = None
    opt_state: Any = None
    start_step: int = 0
    callback: Any = None
    history: bool = True
    devices: Any = None
    check_gradient: bool = True
    validation_fraction: float | None = None
    validation_data: Any = None
    patience: int | None = None
    restore_best: bool = True
    monitor: Any = None

    @classmethod
    def of(cls, values: dict) -> FitOptions:
        """The options among ``values`` (a call's ``locals()``: the other names are left out)."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})


@dataclasses.dataclass(frozen=True)
class FitArguments:
    """``fit``'s arguments checked and normalised: the static step (``spec``), the data (a single
    example as a batch of one; the validation part split off), the starting state, the learning
    rate as data in the parameters' dtype, and the run's shape (steps, chunk length, patience,
    whether the first chunk checks the handwritten gradient)."""

    spec: StepSpec
    params: Any
    opt_state: Any
    x: Any
    y: Any
    x_val: Any
    y_val: Any
    key: Any
    learning_rate: np.ndarray
    steps: int
    start_step: int
    chunk_size: int
    patience: int | None
    check: bool
    probe: tuple | None = None  # the monitor's own (x, y), checked


DEFAULT_CHUNK = 1000  # steps per compiled call between two callbacks
MAX_STEP = 2**31 - 1  # the largest global step an int32 counter holds


def check_gradient_path(grad: str, order: str, optimizer, clip_norm) -> None:
    """Refuse an unknown gradient path or update order, or an order that its update cannot take."""
    if grad not in GRADS:
        raise ValueError(f"unknown grad {grad!r}; expected one of {', '.join(GRADS)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}")
    if order == "updated_weights" and (grad != "backprop" or optimizer is not None or clip_norm):
        raise ValueError(
            "order='updated_weights' is a handwritten SGD step: it needs grad='backprop', "
            "optimizer=None and no clip_norm"
        )


def check_batch_size(batch_size, n: int, key, held_out: str = "") -> int | None:
    """``batch_size`` checked against ``n`` training examples (``held_out``: what a validation split
    left, for the message): at most ``n``, and a key to draw batches with when smaller."""
    if batch_size is None:
        return None
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must be at most {n}, got {batch_size}{held_out}")
    if batch_size < n and key is None:
        raise ValueError("a batch_size smaller than the data set needs a PRNG key (key=...)")
    return batch_size


def training_update(
    optimizer,
    learning_rate,
    clip_norm=None,
    weight_decay=None,
    schedule: str = "constant",
    warmup_steps: int = 0,
):
    """``(optax transformation or None, clip norm for manual SGD)``: the update a run applies, from
    ``fit``'s arguments (``optimizer``: None for manual SGD, a name, or an optax transformation),
    refusing combinations where one would be ignored. The one place these rules live: ``fit``, the
    command line, ``hypergradient`` and the estimators all come through here."""
    named = isinstance(optimizer, str)
    shaped = bool(weight_decay) or schedule != "constant" or warmup_steps
    if shaped and not named:
        raise ValueError(
            "weight_decay, schedule and warmup_steps go with a named optimizer ('sgd', 'momentum', "
            "'adam'); with your own optax transformation, chain them into it"
        )
    check_clip_norm(clip_norm)
    if named:
        optimizer = named_optimizer(
            optimizer, clip_norm, weight_decay or None, schedule, warmup_steps
        )
        clip_norm = None  # inside the named optimizer
    elif optimizer is not None and clip_norm is not None:
        raise ValueError(
            "clip_norm works with named optimizers or manual SGD; chain optax.clip_by_global_norm yourself"
        )
    if optimizer is None or named:
        if learning_rate is None:
            raise ValueError("learning_rate is required (a finite number > 0)")
        check_learning_rate(learning_rate)
    elif learning_rate is not None and not takes_learning_rate(optimizer):
        raise ValueError(
            "learning_rate has no effect with an optax GradientTransformation (its own rate applies): "
            "drop learning_rate, or pass a named optimizer ('sgd', 'momentum', 'adam')"
        )
    return optimizer, clip_norm


def optimizer_state(optimizer, params, learning_rate, total_steps: int, opt_state=None):
    """The optimizer state a run starts from: ``optimizer.init(params)``, or ``opt_state`` (to resume)
    checked against it; a named optimizer's learning rate and run length :math:`T` (its schedule's)
    set to this run's. None for manual SGD."""
    if optimizer is None:
        return None
    named = takes_learning_rate(optimizer)
    rate, total = (learning_rate, total_steps) if named else (None, None)
    if opt_state is None:
        return init_optimizer(optimizer, params, rate, total)
    check_opt_state(opt_state, optimizer, params)
    return set_hyperparams(opt_state, rate, total) if named else opt_state


def check_opt_state(opt_state, optimizer, params) -> None:
    """Refuse an optimizer state (to resume from) that is not shaped like ``optimizer.init(params)``."""
    leaves, tree = jax.tree_util.tree_flatten(opt_state)
    layout = tuple((tuple(a.shape), a.dtype) for a in jax.tree_util.tree_leaves(params))
    tree_of_params = jax.tree_util.tree_structure(params)
    try:
        want_tree, want = _state_layout(optimizer, tree_of_params, layout)
    except TypeError:  # an optimizer that cannot be hashed: traced every time
        want_tree, want = _state_layout.__wrapped__(optimizer, tree_of_params, layout)
    if tree != want_tree or tuple(tuple(getattr(a, "shape", ())) for a in leaves) != want:
        raise ValueError(
            "opt_state does not match the optimizer and params: pass the opt_state of a run with "
            f"the same optimizer and network (FitResult.opt_state), got {type(opt_state).__name__} "
            f"with {len(leaves)} leaves where {len(want)} were expected"
        )


@functools.lru_cache(maxsize=64)
def _state_layout(optimizer, params_tree, params_layout) -> tuple:
    """``(tree structure, leaf shapes)`` of ``optimizer``'s state for parameters of this layout
    (traced once per optimizer and layout, not on every call that resumes)."""
    params = jax.tree_util.tree_unflatten(
        params_tree, [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in params_layout]
    )
    rate = 1.0 if takes_learning_rate(optimizer) else None
    leaves, tree = jax.tree_util.tree_flatten(
        jax.eval_shape(lambda p: init_optimizer(optimizer, p, rate), params)
    )
    return tree, tuple(a.shape for a in leaves)


def check_monitor(net: MLP, params, monitor) -> tuple[Monitor | None, tuple | None]:
    """``(the monitor without its probe, the probe checked as a batch or None)``."""
    if monitor is None:
        return None, None
    if not isinstance(monitor, Monitor):
        raise TypeError(f"monitor must be a jaxmlp.Monitor or None, got {type(monitor).__name__}")
    probe = None
    if monitor.probe is not None:
        _, px, py = check_batch(net, params, *monitor.probe)
        if px.ndim == 1:
            px, py = px[None], py[None]
        probe = (px, py)
    return monitor.static, probe


def validation_split(net: MLP, params, x, y, fraction, data, key):
    """``(x, y, x_val, y_val)``: ``fraction`` of the examples held out, or ``data`` checked as a
    batch (a single example becomes a batch of one), or no validation set (``None``s)."""
    if fraction is not None and data is not None:
        raise ValueError("pass validation_fraction or validation_data, not both")
    if fraction is not None:
        split_key = jax.random.split(no_batch_key() if key is None else key)[1]
        return early_stopping.split(x, y, fraction, split_key)
    if data is None:
        return x, y, None, None
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"validation_data must be a pair (x_val, y_val), got {type(data).__name__}")
    _, x_val, y_val = check_batch(net, params, *data)
    if x_val.ndim == 1:
        x_val, y_val = x_val[None], y_val[None]
    return x, y, x_val, y_val


def chunk_size_for(
    chunk_size, steps: int, n_train: int, batch_size, validating: bool, callback: bool
) -> int:
    """The steps of each compiled call: ``chunk_size`` checked, or by default all ``steps`` in one
    call when nothing waits between chunks; one epoch (or ``steps // 100`` full-batch steps) between
    two validations; else about ``DEFAULT_CHUNK`` in equal chunks for the callback."""
    if chunk_size is None:
        if validating:
            chunk_size = -(-n_train // batch_size) if batch_size else max(1, steps // 100)
        else:
            chunk_size = even_chunks(steps) if callback else steps
    return check_positive_int(chunk_size, "chunk_size")


def even_chunks(steps: int, about: int = DEFAULT_CHUNK) -> int:
    """A chunk length near ``about`` that divides ``steps`` when one does within a factor of 2.

    Each chunk length is one compiled program: 2,200 steps as 1,000 + 1,000 + 200 compile the
    loop twice, as 4 x 550 once.
    """
    least = -(-steps // about)
    for n in range(least, 2 * least + 1):
        if steps % n == 0:
            return steps // n
    return about


def fit_arguments(net: MLP, params, x, y, options: FitOptions) -> FitArguments:
    """The one place :func:`jaxmlp.fit`'s options are checked and normalised (``fit`` and
    ``hypergradient`` call it; the command line and the estimators reach it through ``fit``):
    each bad value or combination is refused, before anything is traced, with a message that
    says what was expected. The options mean what :func:`jaxmlp.fit` says."""
    o = options
    params, x, y = check_batch(net, params, x, y)
    if x.ndim == 1:  # a single example, as net.apply takes it: a batch of one
        x, y = x.reshape((1, -1)), y.reshape((1, *y.shape))
    steps, start_step = check_positive_int(o.steps, "steps"), o.start_step
    if (
        isinstance(start_step, bool)
        or not isinstance(start_step, (int, np.integer))
        or start_step < 0
    ):
        raise ValueError(f"start_step must be an integer >= 0, got {start_step!r}")
    key = None if o.key is None else check_key(o.key)
    x, y, x_val, y_val = validation_split(
        net, params, x, y, o.validation_fraction, o.validation_data, key
    )
    patience = early_stopping.check_patience(o.patience)
    if patience is not None and x_val is None:
        raise ValueError("patience needs a validation set (validation_fraction or validation_data)")
    for flag in ("check_gradient", "history", "restore_best"):
        if not isinstance(getattr(o, flag), bool):
            raise TypeError(f"{flag} must be True or False, got {getattr(o, flag)!r}")
    check_callback(o.callback)
    check_gradient_path(o.grad, o.order, o.optimizer, o.clip_norm)
    if start_step + steps > MAX_STEP:
        raise ValueError(
            f"start_step + steps must be at most {MAX_STEP:,} (the step counter is int32), "
            f"got {start_step + steps:,}"
        )
    held_out = (
        f": validation_fraction={o.validation_fraction} leaves {x.shape[0]} training examples"
        if o.validation_fraction is not None
        else ""
    )
    batch_size = check_batch_size(o.batch_size, x.shape[0], key, held_out)
    chunk_size = chunk_size_for(
        o.chunk_size, steps, x.shape[0], batch_size, x_val is not None, o.callback is not None
    )
    optimizer, clip_norm_step = training_update(
        o.optimizer, o.learning_rate, o.clip_norm, o.weight_decay, o.schedule, o.warmup_steps
    )
    opt_state = optimizer_state(optimizer, params, o.learning_rate, start_step + steps, o.opt_state)
    mesh = make_mesh(o.devices)
    monitor, probe = check_monitor(net, params, o.monitor)
    spec = StepSpec(net, optimizer, o.grad, o.order, batch_size, clip_norm_step, mesh, monitor)
    lr = np.asarray(1.0 if o.learning_rate is None else o.learning_rate, x.dtype)  # params' dtype
    return FitArguments(
        spec,
        params,
        opt_state,
        x,
        y,
        x_val,
        y_val,
        key,
        lr,
        steps,
        int(start_step),
        chunk_size,
        patience,
        o.check_gradient and o.grad == "backprop",
        probe,
    )
