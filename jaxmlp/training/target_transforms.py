r"""Targets as a network trains on them: regression targets standardised (and the scale folded
back into the output layer), class labels smoothed.

Standardising a regression target, :math:`t' = (t - \mu_t) / \sigma_t`, puts the output layer's
job on the scale of its initial weights whatever the target's units. After training, the
network :math:`o'(x)` on the standardised scale becomes one on the target's own scale by
folding the affine map into its last (identity) layer,
:math:`W_L \leftarrow \sigma_t W_L`, :math:`b_L \leftarrow \sigma_t b_L + \mu_t`, so that the
saved model, ``predict``, ``evaluate`` and the ONNX graph need nothing more. A quadratic loss
scales by :math:`\sigma_t^2`: :math:`E(\sigma_t o' + \mu_t, t) = \sigma_t^2 E(o', t')`.

Label smoothing trains class :math:`c` of :math:`K` against
:math:`(1 - \epsilon)\,\mathrm{onehot}(c) + \epsilon / K` (Szegedy et al. 2016): cross entropy
accepts such soft targets, and its delta rule :math:`p \sum_k t_k - t` holds for them.
"""

from __future__ import annotations

import numpy as np

from jaxmlp.mlp import MLP

__all__ = [
    "QUADRATIC_LOSSES",
    "can_scale_target",
    "target_scale",
    "fold_target_scale",
    "smoothed_labels",
]

QUADRATIC_LOSSES = ("mse", "half_mse", "half_sse")


def can_scale_target(net: MLP) -> bool:
    """Whether standardised targets can be folded back exactly: an identity output, a quadratic
    loss, and a per-neuron bias (or a shared one with a single output; none: the scale only)."""
    return (
        net.output_activation == "identity"
        and net.loss in QUADRATIC_LOSSES
        and (net.bias != "shared" or net.sizes[-1] == 1)
    )


def target_scale(y: np.ndarray, net: MLP) -> tuple[np.ndarray, np.ndarray]:
    r"""``(mu, sigma)`` ``(n_out,)`` of the targets ``y`` ``(n, n_out)`` (float64; ``mu`` 0 for a
    network without bias, ``sigma`` 1 where a column is constant)."""
    y = np.asarray(y, np.float64)
    mu = y.mean(0) if net.bias != "none" else np.zeros(y.shape[1])
    sigma = np.sqrt(np.mean(np.square(y - mu), 0))
    return mu, np.where(sigma > 0, sigma, 1.0)


def fold_target_scale(params, mu: np.ndarray, sigma: np.ndarray):
    r"""``params`` whose outputs are :math:`\sigma o + \mu` (the last layer's weights and bias
    scaled, :math:`\mu` added to the bias); the other layers unchanged. NumPy in, NumPy out."""
    last = dict(params[-1])
    w = np.asarray(last["w"])
    last["w"] = (w * sigma[:, None].astype(w.dtype)).astype(w.dtype)
    if "b" in last:
        b = np.asarray(last["b"])
        if b.ndim == 0:  # a shared bias, one output
            last["b"] = np.asarray(b * sigma[0] + mu[0], b.dtype)
        else:
            last["b"] = (b * sigma + mu).astype(b.dtype)
    return (*params[:-1], last)


def smoothed_labels(labels: np.ndarray, n_classes: int, epsilon: float, dtype) -> np.ndarray:
    r"""Integer labels ``(n,)`` as soft targets ``(n, K)``: :math:`(1-\epsilon)` on the class
    plus :math:`\epsilon / K` everywhere."""
    soft = np.full((len(labels), n_classes), epsilon / n_classes, dtype)
    soft[np.arange(len(labels)), labels] += 1 - epsilon
    return soft
