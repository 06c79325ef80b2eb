"""The steps of the derivation (:func:`jaxmlp.explain.trace.derive`): the numbers of one SGD step
on one example (:class:`Values`), and the forward pass, the error and the updates as named steps
(the names: :mod:`jaxmlp.explain.names`).

Every value comes from the library (``forward_trace``, the loss, ``output_delta``/``hidden_delta``,
``backprop``, ``sgd_step``); each printed product is checked against the value the library
computed, and the whole gradient against ``jax.grad``, before anything is rendered. The backward
pass is :mod:`jaxmlp.explain.backward`.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from jaxmlp.explain.names import bias_names, fmt, neuron_names, weight_names
from jaxmlp.mlp import MLP
from jaxmlp.training.optimizers import sgd_step

__all__ = [
    "Step",
    "Derivation",
    "PRODUCT_TOLERANCE",
    "check_product",
    "Values",
    "forward_steps",
    "error_steps",
    "update_steps",
]


@dataclasses.dataclass(frozen=True)
class Step:
    """One line of the derivation: ``name = expression = substituted = value``."""

    section: str
    name: str
    expression: str
    substituted: str
    value: float


@dataclasses.dataclass(frozen=True)
class Derivation:
    """A whole derivation: the network, its numbers, and the steps in order."""

    net: MLP
    weights: list
    biases: list
    inputs: list
    targets: list
    learning_rate: float
    steps: tuple[Step, ...]

    @property
    def sections(self) -> list[str]:
        """Section titles in order of appearance."""
        return list(dict.fromkeys(s.section for s in self.steps))

    def value(self, name: str) -> float:
        """The value of the step named ``name``."""
        return next(s.value for s in self.steps if s.name == name)

    def as_dict(self) -> dict:
        """The derivation as ``trace --json`` prints it."""
        return {
            "network": dataclasses.asdict(self.net),
            "weights": self.weights,
            "biases": self.biases,
            "inputs": self.inputs,
            "targets": self.targets,
            "learning_rate": self.learning_rate,
            "quantities": [dataclasses.asdict(s) for s in self.steps],
        }


PRODUCT_TOLERANCE = {8: (1e-9, 1e-15), 4: (1e-5, 1e-9)}  # (rel, abs) by the parameters' itemsize


def check_product(product: float, library: float, what: str, itemsize: int = 8) -> None:
    """Refuse to print a product (recomputed in float64 from the printed factors) that differs
    from the library's value by more than the dtype's rounding: 1e-9 relative in float64, 1e-5
    (about 80 ulp, the rounding of a float32 sum over a few thousand terms) in float32."""
    rel, abs_ = PRODUCT_TOLERANCE[8 if itemsize >= 8 else 4]
    if not math.isclose(product, library, rel_tol=rel, abs_tol=abs_):
        raise AssertionError(f"{what}: printed product {product!r} != library value {library!r}")


@dataclasses.dataclass
class Values:
    """Every number of one step on one example as the library computed it, with the seed's names
    (``neurons``, weight names ``wn``, bias names ``bn``), and the steps derived so far."""

    net: MLP
    params: tuple
    x: jnp.ndarray
    y: jnp.ndarray
    learning_rate: float
    layers: tuple
    grads: tuple
    new: tuple
    t: np.ndarray
    neurons: list
    wn: list
    bn: list
    outs: list
    nets: list
    W: list
    B: list
    steps: list

    @classmethod
    def of(cls, net: MLP, params, x, y, learning_rate: float) -> Values:
        """The forward pass, the gradient and the updated parameters of one SGD step."""
        layers = net.forward_trace(params, x)
        grads = net.backprop(params, x, y)
        new = sgd_step(params, grads, learning_rate)
        t = np.asarray(
            y if not jnp.issubdtype(y.dtype, jnp.integer) else np.eye(net.sizes[-1])[int(y)], float
        )
        neurons = neuron_names(net)
        return cls(
            net,
            params,
            x,
            y,
            learning_rate,
            layers,
            grads,
            new,
            t,
            neurons,
            weight_names(net),
            bias_names(net, neurons),
            [np.asarray(x, float)] + [np.asarray(lay.out, float) for lay in layers],
            [None] + [np.asarray(lay.net, float) for lay in layers],
            [np.asarray(p["w"], float) for p in params],
            [np.asarray(p["b"], float) if "b" in p else None for p in params],
            [],
        )

    def check(self, product: float, library: float, what: str) -> None:
        """:func:`check_product` at the tolerance of this step's dtype."""
        check_product(product, library, what, jnp.dtype(self.x.dtype).itemsize)

    def add(self, section, name, expression, substituted, value) -> None:
        """Append one step."""
        self.steps.append(Step(section, name, expression, substituted, float(value)))


def forward_steps(v: Values) -> None:
    """Forward pass: each neuron's ``net`` as a sum of products, then its ``out``."""
    n_layers = len(v.W)
    for l in range(n_layers):
        section = f"Forward pass: {'output layer' if l == n_layers - 1 else 'hidden layer ' + str(l + 1) if n_layers > 2 else 'hidden layer'}"
        act = v.net.output_activation if l == n_layers - 1 else v.net.activation
        for j, name in enumerate(v.neurons[l + 1]):
            terms = [
                f"{v.wn[l][j, i]} * {'out_' + src if l else src}"
                for i, src in enumerate(v.neurons[l])
            ]
            nums = [f"{fmt(v.W[l][j, i])} * {fmt(v.outs[l][i])}" for i in range(len(v.neurons[l]))]
            if v.B[l] is not None:
                b = v.B[l] if v.B[l].ndim == 0 else v.B[l][j]
                terms.append(f"{v.bn[l][j]} * 1")
                nums.append(f"{fmt(b)} * 1")
            v.add(section, f"net_{name}", " + ".join(terms), " + ".join(nums), v.nets[l + 1][j])
        for j, name in enumerate(v.neurons[l + 1]):
            v.add(
                section,
                f"out_{name}",
                f"{act}(net_{name})",
                f"{act}({fmt(v.nets[l + 1][j])})",
                v.outs[l + 1][j],
            )


def error_steps(v: Values) -> None:
    """Total error: each output's error (separable losses) and their sum."""
    layers, params, x, y = v.layers, v.params, v.x, v.y
    section = "Total error"
    out_names, loss = v.neurons[-1], v.net.loss_spec
    last = layers[-1]
    separable = v.net.loss != "cross_entropy"
    if separable:
        n_out = len(out_names)
        for k, name in enumerate(out_names):
            e_k = loss.value(
                last.net[k : k + 1],
                last.out[k : k + 1],
                jnp.asarray(v.t[k : k + 1], last.out.dtype),
            )
            # the means over outputs divide one output's share by 1, not n
            scale = n_out if v.net.loss in ("mse", "half_mse") else 1
            v.add(
                section,
                f"E_{name}",
                loss.display("error", n_out, f"out_{name}", f"target_{name}"),
                loss.display("error", n_out, fmt(v.outs[-1][k]), fmt(v.t[k])),
                float(e_k) / scale,
            )
        terms = " + ".join(f"E_{n}" for n in out_names)
        nums = " + ".join(fmt(s.value) for s in v.steps if s.name.startswith("E_o"))
    else:
        terms = " - ".join(
            ["-target_" + out_names[0] + " log(out_" + out_names[0] + ")"]
            + [f"target_{n} log(out_{n})" for n in out_names[1:]]
        )
        nums = " + ".join(
            f"-{fmt(v.t[k])} * log({fmt(v.outs[-1][k])})" for k in range(len(out_names))
        )
    e_total = float(v.net.loss_fn(params, x, y))
    v.add(section, "E_total", terms, nums, e_total)


def update_steps(v: Values) -> None:
    """Updated weights (and trained biases): ``w+ = w - eta * dE/dw``."""
    n_layers, grads, new, learning_rate = len(v.W), v.grads, v.new, v.learning_rate
    section = "Updated weights"
    for l in range(n_layers):
        for j in range(v.W[l].shape[0]):
            for i in range(v.W[l].shape[1]):
                w = v.wn[l][j, i]
                g = float(np.asarray(grads[l]["w"])[j, i])
                v.add(
                    section,
                    f"{w}+",
                    f"{w} - eta * dE_total/d{w}",
                    f"{fmt(v.W[l][j, i])} - {fmt(learning_rate)} * {fmt(g)}",
                    float(np.asarray(new[l]["w"])[j, i]),
                )
        if v.B[l] is not None and v.net.train_bias:
            nb = np.asarray(new[l]["b"], float)
            gb = np.asarray(grads[l]["b"], float)
            for j, b in enumerate(dict.fromkeys(v.bn[l])):
                old = float(v.B[l]) if v.B[l].ndim == 0 else float(v.B[l][j])
                g = float(gb) if gb.ndim == 0 else float(gb[j])
                v.add(
                    section,
                    f"{b}+",
                    f"{b} - eta * dE_total/d{b}",
                    f"{fmt(old)} - {fmt(learning_rate)} * {fmt(g)}",
                    float(nb) if nb.ndim == 0 else float(nb[j]),
                )
