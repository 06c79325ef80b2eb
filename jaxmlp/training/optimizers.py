r"""Optimizers: manual SGD, the named optax optimizers with weight decay and schedules, and their
injected hyperparameters (the learning rate and a schedule's length: data to the compiled loop, so a
new value never recompiles)."""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.finiteness import all_finite, check_finite, is_concrete
from jaxmlp.update import sgd_update
from jaxmlp.validation import check_learning_rate, on_device

__all__ = [
    "OPTIMIZERS",
    "MOMENTUM",
    "SCHEDULES",
    "sgd_step",
    "NamedOptimizer",
    "named_optimizer",
    "schedule_multiplier",
    "takes_learning_rate",
    "set_hyperparams",
    "init_optimizer",
    "check_clip_norm",
    "optax_optimizer",
    "SCHEDULE_HYPERPARAMS",
]

OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9  # the named "momentum" optimizer's heavy-ball coefficient
SCHEDULES = ("constant", "cosine", "exponential")


def sgd_step(params, grads, learning_rate):
    r"""Plain gradient descent, leaf by leaf: :math:`\theta^+ = \theta - \eta\, \partial E / \partial \theta`.

    ``grads`` must have the structure, leaf shapes and floating dtypes of ``params``;
    ``learning_rate`` :math:`\eta` is a real scalar (a Python float or a scalar array), finite and
    >= 0 when its value is known. Outside ``jit`` the update is one cached compiled call (the rate
    is data to it: a new value never recompiles), bit-identical to ``jax.jit(jaxmlp.update.sgd_update)``;
    inside ``jit``, ``vmap`` or ``grad`` it is traced as :func:`jaxmlp.update.sgd_update`. Non-finite parameters
    or gradients raise ``ValueError`` naming the first leaf.
    """
    leaves, grad_leaves = _matching_leaves(params, grads)
    check_learning_rate(learning_rate, zero_ok=True)
    if not all(map(is_concrete, (*leaves, *grad_leaves, learning_rate))):
        return sgd_update(params, grads, learning_rate)
    new, finite = _sgd_compiled(params, grads, learning_rate)
    if not np.asarray(finite):
        for name, a, g in zip(_leaf_names(params), leaves, grad_leaves):
            check_finite(a, f"params{name}")
            check_finite(g, f"grads{name}")
    return new


@programs.jit
def _sgd_compiled(params, grads, learning_rate):
    return sgd_update(params, grads, learning_rate), all_finite(params, grads)


def _matching_leaves(params, grads) -> tuple[list, list]:
    """The leaves of ``params`` and ``grads``, or raise where ``grads`` does not match ``params``
    (leaf names are made only for the message)."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    grad_leaves, grad_tree = jax.tree_util.tree_flatten(grads)
    if str(grad_tree) != str(tree):
        raise ValueError(
            f"grads must have the structure of params: params are {tree}, grads are {grad_tree}"
        )
    for i, (a, g) in enumerate(zip(leaves, grad_leaves)):
        for what, leaf in (("params", a), ("grads", g)):
            dtype = getattr(leaf, "dtype", None)
            if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
                name = _leaf_names(params)[i]
                raise TypeError(f"{what}{name} must be a floating-point array, got {leaf!r}")
        if a.shape != g.shape:
            name = _leaf_names(params)[i]
            raise ValueError(
                f"grads{name} must have the shape of params{name}, {a.shape}, got {g.shape}"
            )
    return leaves, grad_leaves


def _leaf_names(tree) -> list[str]:
    """Each leaf's path in ``tree``, as ``[0]['w']``."""
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


class NamedOptimizer(NamedTuple):
    """An optax ``GradientTransformation`` built by :func:`named_optimizer` (the same two functions,
    ``init`` and ``update``): its learning rate and its schedule's length are hyperparameters in its
    state, which ``fit`` sets (:func:`set_hyperparams`)."""

    init: Callable
    update: Callable


@functools.lru_cache(maxsize=256)
def named_optimizer(
    name: str,
    clip_norm: float | None = None,
    weight_decay: float | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
) -> NamedOptimizer:
    r"""An optax optimizer by name, its learning rate and schedule length injected as state.

    ``sgd`` is ``optax.sgd``; ``momentum`` is ``optax.sgd(momentum=0.9)``;
    ``adam`` is ``optax.adam``. With ``clip_norm``, gradients are first scaled
    to a global norm of at most ``clip_norm`` (``optax.clip_by_global_norm``).
    ``weight_decay`` :math:`\lambda`: L2 for ``sgd``/``momentum`` (the gradient gains
    :math:`\lambda \theta`, ``optax.add_decayed_weights`` first), decoupled for ``adam``
    (``optax.adamw``). ``schedule`` multiplies each update by :math:`s(t)`
    (:func:`schedule_multiplier`): ``constant`` 1, ``cosine``
    :math:`\tfrac12(1 + \cos(\pi t / T))`, ``exponential`` :math:`0.01^{t/T}` over the run's
    :math:`T` steps, after a linear warm-up from 0 over ``warmup_steps``. The learning rate and
    :math:`T` are data (set them with :func:`init_optimizer` or :func:`set_hyperparams`), so a new
    rate or a longer run never recompiles the loop. Cached (least recently used, bounded), so the
    same arguments give the same (hashable) object and a compiled loop is reused.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if weight_decay is not None and not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    import optax

    factory = {
        "sgd": optax.sgd,
        "momentum": functools.partial(optax.sgd, momentum=MOMENTUM),
        "adam": optax.adam,
    }[name]
    if weight_decay and name == "adam":
        factory = functools.partial(optax.adamw, weight_decay=weight_decay)
    parts = [] if clip_norm is None else [optax.clip_by_global_norm(clip_norm)]
    if weight_decay and name != "adam":
        parts.append(optax.add_decayed_weights(weight_decay))
    if schedule == "constant" and not warmup_steps:
        parts.append(optax.inject_hyperparams(factory)(learning_rate=0.0))
    else:

        def scheduled(learning_rate, total_steps):
            def multiplier(t):
                return schedule_multiplier(schedule, warmup_steps, total_steps, t)

            return optax.chain(factory(learning_rate), optax.scale_by_schedule(multiplier))

        parts.append(optax.inject_hyperparams(scheduled)(learning_rate=0.0, total_steps=1))
    opt = parts[0] if len(parts) == 1 else optax.chain(*parts)
    return NamedOptimizer(opt.init, opt.update)


def schedule_multiplier(schedule: str, warmup_steps, total_steps, t):
    r"""The factor :math:`s(t)` of update ``t`` in a run of ``total_steps`` :math:`T` steps (traceable:
    :math:`T`, ``t`` and ``warmup_steps`` may be arrays), as optax's schedules define it.

    After ``warmup_steps`` :math:`w` of linear warm-up :math:`t / w`, with
    :math:`D = \max(1, T - w)` and :math:`u = t - w`: ``cosine``
    :math:`\tfrac12(1 + \cos(\pi \min(u, D) / D))` (``optax.warmup_cosine_decay_schedule(0, 1, w,
    w + D)``), ``exponential`` :math:`0.01^{u / D}` (``optax.exponential_decay``), ``constant`` 1.
    """
    t = jnp.asarray(t, jnp.float32)
    constant = isinstance(warmup_steps, (int, np.integer))  # else an array: a member's own
    warmup = warmup_steps if constant else jnp.asarray(warmup_steps, jnp.float32)
    decay = jnp.maximum(1.0, jnp.asarray(total_steps, jnp.float32) - warmup)
    u = t - warmup
    if schedule == "cosine":
        after = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.minimum(jnp.maximum(u, 0.0), decay) / decay))
    elif schedule == "exponential":
        after = jnp.power(jnp.float32(0.01), u / decay)
    else:
        after = jnp.ones_like(t)
    if constant and not warmup:
        return after
    return jnp.where(t < warmup, t / jnp.maximum(warmup, 1.0), after)


@functools.lru_cache(maxsize=256)
def _compiled_init(optimizer: NamedOptimizer):
    return programs.jit(optimizer.init)


def takes_learning_rate(optimizer) -> bool:
    """Whether ``fit``'s ``learning_rate`` reaches ``optimizer``: manual SGD, a name, or the result of
    :func:`named_optimizer` (a learning rate with any other optax transformation would be ignored)."""
    return optimizer is None or isinstance(optimizer, (str, NamedOptimizer))


def set_hyperparams(opt_state, learning_rate=None, total_steps=None, **others):
    """``opt_state`` with every injected ``learning_rate`` (and, for a schedule, ``total_steps``: the
    run's length :math:`T`; and any ``others`` by name) set; ``None`` leaves a hyperparameter as
    it is. A value may be an array: a population's, one per member."""
    values = {"learning_rate": learning_rate, "total_steps": total_steps, **others}

    def is_injected(s):
        return isinstance(getattr(s, "hyperparams", None), dict)

    def set_values(s):
        if not is_injected(s):
            return s
        hp = dict(s.hyperparams)
        for name, value in values.items():
            if value is not None and name in hp:
                hp[name] = on_device(value, hp[name].dtype)
        return s._replace(hyperparams=hp)

    return jax.tree_util.tree_map(set_values, opt_state, is_leaf=is_injected)


def init_optimizer(optimizer, params, learning_rate=None, total_steps=None):
    """``optimizer.init(params)``, with the injected learning rate (and a schedule's ``total_steps``)
    set where there are some.

    A named optimizer's ``init`` runs as one compiled program (cached with the optimizer); op by
    op it compiled a small program per leaf shape on first use.
    """
    named = isinstance(optimizer, NamedOptimizer)
    state = (_compiled_init(optimizer) if named else optimizer.init)(params)
    if learning_rate is None and total_steps is None:
        return state
    return set_hyperparams(state, learning_rate, total_steps)


def check_clip_norm(clip_norm) -> None:
    """A gradient clipping norm is None (no clipping) or a finite real number > 0 (not a bool or
    a string), else refused."""
    if clip_norm is None:
        return
    real = isinstance(clip_norm, numbers.Real) and not isinstance(clip_norm, bool)
    if not (real and math.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm must be a finite number > 0, got {clip_norm!r}")


def optax_optimizer(
    name: str, hyperparams, schedule: str = "constant", options=None, clip_norm=None
):
    """``optax.inject_hyperparams`` of ``optax.<name>`` (``options``: its non-numeric arguments, such
    as ``nesterov``), with ``hyperparams``' names as injected (per-member) state; with a
    ``schedule``, chained with :func:`~jaxmlp.training.optimizers.schedule_multiplier` whose
    ``warmup_steps`` and ``total_steps`` are injected too; with ``clip_norm`` :math:`c`, after
    ``optax.clip_by_global_norm(c)`` (each gradient scaled to a global norm of at most :math:`c`,
    as ``fit`` clips). Refuses, naming what it takes, a name that is not an optax optimizer or a
    hyperparameter it does not have."""
    import optax

    factory = getattr(optax, name, None) if isinstance(name, str) else None
    taken = _parameters(factory)
    if "learning_rate" not in taken:
        raise ValueError(
            f"optimizer must name an optax optimizer that takes a learning_rate, such as 'adam', "
            f"'adamw', 'sgd', 'rmsprop' or 'lion', got {name!r}"
        )
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    options = dict(options or {})
    for what in list(hyperparams) + list(options):
        if what not in taken and what not in SCHEDULE_HYPERPARAMS:
            raise ValueError(
                f"optax.{name} has no hyperparameter {what!r}; it takes {', '.join(taken)}"
            )
    for what in SCHEDULE_HYPERPARAMS:
        if schedule == "constant" and what in hyperparams:
            raise ValueError(f"{what} needs a schedule ('cosine' or 'exponential')")
    try:
        frozen = tuple(sorted(options.items()))
        hash(frozen)
    except TypeError:
        raise ValueError(
            f"options must be hashable values (True, 0.9, ...), got {options!r}"
        ) from None
    check_clip_norm(clip_norm)
    numeric = tuple(sorted(h for h in hyperparams if h not in SCHEDULE_HYPERPARAMS))
    injected = _injected(name, numeric, schedule, frozen)
    return injected if clip_norm is None else _clipped(injected, float(clip_norm))


@functools.lru_cache(maxsize=64)
def _clipped(optimizer, clip_norm: float):
    """``optimizer`` after ``optax.clip_by_global_norm(clip_norm)``, made once per arguments."""
    import optax

    return optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)


@functools.lru_cache(maxsize=64)
def _injected(name: str, numeric: tuple, schedule: str, options: tuple):
    """The transformation of :func:`optax_optimizer`, made once per arguments (one compiled run)."""
    import optax

    factory = functools.partial(getattr(optax, name), **dict(options))
    if schedule == "constant":
        return optax.inject_hyperparams(factory)(**dict.fromkeys(numeric, 0.0))

    def scheduled(**values):
        warmup, total = values.pop("warmup_steps"), values.pop("total_steps")

        def multiplier(t):
            return schedule_multiplier(schedule, warmup, total, t)

        return optax.chain(factory(**values), optax.scale_by_schedule(multiplier))

    names = ("warmup_steps", "total_steps", *numeric)  # inject_hyperparams reads the signature
    scheduled.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in names]
    )

    return optax.inject_hyperparams(scheduled)(
        warmup_steps=0.0, total_steps=1.0, **dict.fromkeys(numeric, 0.0)
    )


SCHEDULE_HYPERPARAMS = ("warmup_steps", "total_steps")


def _parameters(factory) -> tuple[str, ...]:
    if not callable(factory):
        return ()
    try:
        return tuple(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return ()
