"""The seed reproduced: every figure it prints against jaxmlp's, both training variants run for
10,000 steps with :func:`jaxmlp.fit`, and the errata (which seed figure matches which variant)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.forward import apply, loss_fn
from jaxmlp.mlp import MLP
from jaxmlp.training.fit import fit
from jaxmlp.worked_example import (
    SEED_LEARNING_RATE,
    SEED_PRINTED,
    one_step_figures,
    printed_unit,
    tutorial,
)

__all__ = [
    "REPRODUCE_NOTE",
    "TRAINED",
    "VARIANTS",
    "Figure",
    "training_run",
    "reproduce",
    "errata",
    "status",
    "reproduction_table",
]

REPRODUCE_NOTE = (
    "match: within one unit of the seed's last printed digit. The seed multiplies already-rounded "
    "intermediates, so a few of its last digits differ from the exact values "
    "(dE_o2/dout_h1: seed -0.019049119, exact -0.0190491183)."
)

TRAINED = ("E_total@1", "E_total@10000", "out_o1@10000", "out_o2@10000")
VARIANTS = ("simultaneous", "updated_weights")


@dataclass(frozen=True)
class Figure:
    """One seed figure: its ``name``, the seed's printed value (``seed``, None where it prints none),
    jaxmlp's ``value``, the training ``variant``, and ``match`` (within one unit of the last printed digit)."""

    name: str
    seed: str | None
    value: float
    variant: str = "simultaneous"

    @property
    def match(self) -> bool | None:
        """Within one unit of the seed's last printed digit; None where the seed prints nothing."""
        if self.seed is None:
            return None
        return abs(self.value - float(self.seed)) <= printed_unit(self.seed) * (1 + 1e-9)

    def as_dict(self) -> dict:
        """The figure as ``reproduce --json`` prints it."""
        return {
            "name": self.name,
            "seed": None if self.seed is None else float(self.seed),
            "printed": self.seed,
            "value": self.value,
            "variant": self.variant,
            "match": self.match,
        }


def training_run(variant: str, steps: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """``(E_total before each step and after the last, final outputs out_L)`` of the seed's SGD,
    float64.

    ``variant``: ``"simultaneous"`` (the algorithm the seed describes) or
    ``"updated_weights"`` (hidden deltas through the updated output weights).
    """
    net, params, x, y = tutorial(jnp.float64)
    result = fit(
        net,
        params,
        np.asarray(x)[None],
        np.asarray(y)[None],
        steps=steps,
        learning_rate=SEED_LEARNING_RATE,
        grad="backprop",
        order=variant,
        chunk_size=steps,
        check_gradient=False,  # the delta rule is checked here against the seed's own figures
    )
    final, out = jax.device_get(_loss_and_output(net, result.params, x, y))
    return np.append(np.asarray(result.losses), final), out


@functools.partial(programs.jit, static_argnums=0)
def _loss_and_output(net: MLP, params, x, y):
    """``(E_total, out_L)`` for one example, in one compiled call."""
    return loss_fn(net, params, x[None], y[None]), apply(net, params, x[None])[0]


def reproduce(steps: int = 10_000) -> tuple[list[Figure], dict[str, np.ndarray]]:
    """Every seed figure with jaxmlp's value, plus the loss curves of both training variants.

    Returns ``(figures, curves)``; ``curves[variant][k]`` is E_total after ``k`` rounds.
    """
    figures = [
        Figure(name, SEED_PRINTED[name], value) for name, value in one_step_figures().items()
    ]
    curves = {}
    for variant in VARIANTS:
        curve, out = training_run(variant, steps)
        curves[variant] = curve
        trained = {
            "E_total@1": curve[1],
            "E_total@9999": curve[steps - 1],
            "E_total@10000": curve[steps],
            "out_o1@10000": out[0],
            "out_o2@10000": out[1],
        }
        for name, value in trained.items():
            if variant == "simultaneous" or name in TRAINED:
                figures.append(Figure(name, SEED_PRINTED[name], float(value), variant))
    return figures, curves


def errata(figures: list[Figure]) -> dict[str, str]:
    """For each seed figure no simultaneous value matches: which computed figure does match, if any."""
    by_value = [(f, f.value) for f in figures]
    notes = {}
    for f in figures:
        if f.variant != "simultaneous" or f.match is not False or f.seed is None:
            continue
        hits = [
            g
            for g, v in by_value
            if g is not f
            and abs(v - float(f.seed)) <= printed_unit(f.seed) * (1 + 1e-9)
            and (g.name == f.name or g.name.split("@")[0] == f.name.split("@")[0])
        ]
        notes[f.name] = (
            "matches " + ", ".join(f"{g.name} ({g.variant})" for g in hits)
            if hits
            else "matches no variant"
        )
    return notes


def status(figure: Figure, notes: dict[str, str]) -> str:
    """A figure's status in the reproduction table."""
    if figure.match is None:
        return "(not printed by the seed)"
    if figure.match:
        return "match"
    if figure.variant == "simultaneous" and figure.name in notes:
        return "erratum: " + notes[figure.name]
    return "no match"


def reproduction_table(figures: list[Figure], notes: dict[str, str], markdown: bool = False) -> str:
    """The reproduction table: figure, seed's value, jaxmlp's value, variant, status."""
    rows = [
        (
            f.name,
            f.seed if f.seed is not None else "-",
            f"{f.value:.12g}",
            f.variant,
            status(f, notes),
        )
        for f in figures
    ]
    head = ("figure", "seed", "jaxmlp", "variant", "status")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += [
            "| " + " | ".join(f"`{r[0]}`" if i == 0 else r[i] for i in range(len(r))) + " |"
            for r in rows
        ]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt_row = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join(
        [fmt_row(head), fmt_row(tuple("-" * w for w in widths))] + [fmt_row(r) for r in rows]
    )
