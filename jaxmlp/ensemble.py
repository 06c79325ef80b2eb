r"""An ensemble of :math:`K` networks of one configuration as one wider network.

Members :math:`m = 1..K` with layers :math:`W^{(m)}_l, b^{(m)}_l` become one network whose
hidden layer :math:`l` stacks theirs: the first layer's weights stacked,
:math:`W_1 = [W^{(1)}_1; \dots; W^{(K)}_1]`, each later hidden layer block-diagonal,
:math:`W_l = \mathrm{diag}(W^{(1)}_l, \dots, W^{(K)}_l)`, so that its hidden units are the
members' side by side and never mix; the output layer averages the members' pre-activations,
:math:`W_L = \tfrac1K [W^{(1)}_L, \dots, W^{(K)}_L]`, :math:`b_L = \tfrac1K \sum_m b^{(m)}_L`.

Its output is :math:`f\big(\tfrac1K \sum_m z^{(m)}\big)` for the output activation :math:`f`:
the members' mean prediction for an identity output (regression), and for a softmax output
the normalised geometric mean of the members' probabilities (their mean logits). A model file,
``predict``, ``evaluate``, the ONNX graph and the explainer then take an ensemble as they take
any network.
"""

from __future__ import annotations

import numpy as np

from jaxmlp.mlp import MLP

__all__ = ["merged_network", "merge_members", "member_params"]


def merged_network(net: MLP, k: int) -> MLP:
    """The configuration of ``k`` members of ``net`` side by side (hidden widths times ``k``)."""
    import dataclasses

    sizes = (net.sizes[0], *(h * k for h in net.sizes[1:-1]), net.sizes[-1])
    return dataclasses.replace(net, sizes=sizes)


def merge_members(net: MLP, stacked) -> tuple[MLP, tuple]:
    """``(wide net, params)``: the members ``stacked`` (leaves ``(K, ...)``, per-neuron biases) as
    one network (module docstring). NumPy arrays out."""
    if net.bias != "per_neuron":
        raise ValueError(f"an ensemble merges networks with per-neuron biases, not {net.bias!r}")
    layers = [{k: np.asarray(v) for k, v in layer.items()} for layer in stacked]
    k = layers[0]["w"].shape[0]
    out = []
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        w, b = layer["w"], layer.get("b")  # (K, n_out, n_in), (K, n_out)
        if i == 0:
            merged: dict[str, np.ndarray] = {"w": w.reshape(-1, w.shape[2])}
            if b is not None:
                merged["b"] = b.reshape(-1)
        elif i < last:
            n_o, n_i = w.shape[1:]
            big = np.zeros((k * n_o, k * n_i), w.dtype)
            for m in range(k):
                big[m * n_o : (m + 1) * n_o, m * n_i : (m + 1) * n_i] = w[m]
            merged = {"w": big}
            if b is not None:
                merged["b"] = b.reshape(-1)
        else:
            merged = {"w": (np.concatenate(list(w), axis=1) / k).astype(w.dtype)}
            if b is not None:
                merged["b"] = b.mean(0).astype(b.dtype)
        out.append(merged)
    return merged_network(net, k), tuple(out)


def member_params(stacked, m: int) -> tuple:
    """Member ``m``'s parameters of a stacked ensemble (NumPy)."""
    return tuple({k: np.asarray(v)[m] for k, v in layer.items()} for layer in stacked)
