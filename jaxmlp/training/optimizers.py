r"""Optimizers: manual SGD, the named optax optimizers with weight decay and schedules, and their
injected learning rate (data to the compiled loop: a new value never recompiles)."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp.finiteness import all_finite, check_finite, is_concrete
from jaxmlp.update import sgd_update
from jaxmlp.validation import check_learning_rate, on_device

if TYPE_CHECKING:
    import optax  # imported where used: it costs ~70 ms of `import jaxmlp` otherwise

OPTIMIZERS = ("sgd", "momentum", "adam")
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


@jax.jit
def _sgd_compiled(params, grads, learning_rate):
    return sgd_update(params, grads, learning_rate), all_finite(params, grads)


def _matching_leaves(params, grads) -> tuple[list, list]:
    """The leaves of ``params`` and ``grads``, or raise where ``grads`` does not match ``params``
    (leaf names are made only for the message)."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    grad_leaves, grad_tree = jax.tree_util.tree_flatten(grads)
    if grad_tree != tree:
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


@functools.cache
def named_optimizer(
    name: str,
    clip_norm: float | None = None,
    weight_decay: float | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    total_steps: int | None = None,
) -> optax.GradientTransformation:
    r"""An optax optimizer by name, its learning rate injected as state (set it with :func:`init_optimizer`).

    ``sgd`` is ``optax.sgd``; ``momentum`` is ``optax.sgd(momentum=0.9)``;
    ``adam`` is ``optax.adam``. With ``clip_norm``, gradients are first scaled
    to a global norm of at most ``clip_norm`` (``optax.clip_by_global_norm``).
    ``weight_decay`` :math:`\lambda`: L2 for ``sgd``/``momentum`` (the gradient gains
    :math:`\lambda \theta`, ``optax.add_decayed_weights`` first), decoupled for ``adam``
    (``optax.adamw``). ``schedule`` multiplies each update by :math:`s(t)`
    (``optax.scale_by_schedule``): ``constant`` 1, ``cosine``
    :math:`\tfrac12(1 + \cos(\pi t / T))`, ``exponential`` :math:`0.01^{t/T}` over ``total_steps``
    :math:`T`, after a linear warm-up from 0 over ``warmup_steps`` (optax's
    ``warmup_cosine_decay_schedule``, ``join_schedules``). The learning rate itself stays data.
    Cached, so the same arguments always give the same (hashable) object and a compiled loop
    is reused.
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
        "momentum": functools.partial(optax.sgd, momentum=0.9),
        "adam": optax.adam,
    }[name]
    if weight_decay and name == "adam":
        factory = functools.partial(optax.adamw, weight_decay=weight_decay)
    parts = [] if clip_norm is None else [optax.clip_by_global_norm(clip_norm)]
    if weight_decay and name != "adam":
        parts.append(optax.add_decayed_weights(weight_decay))
    parts.append(optax.inject_hyperparams(factory)(learning_rate=0.0))
    multiplier = schedule_multiplier(schedule, warmup_steps, total_steps)
    if multiplier is not None:
        parts.append(optax.scale_by_schedule(multiplier))
    opt = parts[0] if len(parts) == 1 else optax.chain(*parts)
    _INJECTED.append(opt)
    return opt


def schedule_multiplier(schedule: str, warmup_steps: int, total_steps: int | None):
    """The factor :math:`s(t)` of each update (None: always 1), from optax's schedules."""
    import optax

    if schedule == "constant" and not warmup_steps:
        return None
    if schedule != "constant" and not total_steps:
        raise ValueError(f"the {schedule} schedule needs the run's total number of steps")
    decay = max(1, (total_steps or 1) - warmup_steps)
    if schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps, warmup_steps + decay)
    after = (
        optax.constant_schedule(1.0)
        if schedule == "constant"
        else optax.exponential_decay(1.0, transition_steps=decay, decay_rate=0.01)
    )
    if not warmup_steps:
        return after
    return optax.join_schedules(
        [optax.linear_schedule(0.0, 1.0, warmup_steps), after], [warmup_steps]
    )


_INJECTED: list = []  # the optimizers named_optimizer made: their learning rate is set from fit's


@functools.cache
def _compiled_init(optimizer):
    return jax.jit(optimizer.init)


def takes_learning_rate(optimizer) -> bool:
    """Whether ``fit``'s ``learning_rate`` reaches ``optimizer``: manual SGD, a name, or the result of
    :func:`named_optimizer` (a learning rate with any other optax transformation would be ignored)."""
    return optimizer is None or isinstance(optimizer, str) or any(optimizer is o for o in _INJECTED)


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` with every injected ``learning_rate`` hyperparameter set to ``learning_rate``."""

    def is_injected(s):
        return isinstance(getattr(s, "hyperparams", None), dict)

    def set_lr(s):
        if is_injected(s) and "learning_rate" in s.hyperparams:
            hp = dict(s.hyperparams)
            hp["learning_rate"] = on_device(learning_rate, hp["learning_rate"].dtype)
            return s._replace(hyperparams=hp)
        return s

    return jax.tree_util.tree_map(set_lr, opt_state, is_leaf=is_injected)


def init_optimizer(optimizer: optax.GradientTransformation, params, learning_rate=None):
    """``optimizer.init(params)``, with the injected learning rate set to ``learning_rate`` where there is one.

    A named optimizer's ``init`` runs as one compiled program (cached with the optimizer); op by
    op it compiled a small program per leaf shape on first use.
    """
    named = any(optimizer is o for o in _INJECTED)
    state = (_compiled_init(optimizer) if named else optimizer.init)(params)
    return state if learning_rate is None else set_learning_rate(state, learning_rate)
