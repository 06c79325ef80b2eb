r"""ONNX export: a saved model as one ONNX graph that takes the raw feature columns.

The graph, built with the ``onnx`` package's helpers and checked with its checker:

* one input per raw feature column, ``(N, 1)``: a number column in the model's float dtype, a
  categorical column as strings, one-hot encoded against the model's categories (``Equal`` with
  the sorted category list, then ``Cast``; an unseen category encodes as all zeros, where
  ``jaxmlp predict`` refuses it);
* a missing value where the model imputes: NaN in a number column (replaced by its fill), the
  empty string in a categorical one; each such column's indicator input (``IsNaN``, ``Equal``);
* the inputs concatenated in the model's order and scaled, :math:`z = (e - \mu) / \sigma`, and
  smoothly clipped where the model says so, :math:`z / \sqrt{1 + (z/3)^2}`;
* each layer :math:`out_l = f_l(out_{l-1} W_l^T + b_l)` (``MatMul`` with :math:`W^T`, ``Add`` of
  the per-neuron or shared bias, none without bias), the hidden activation and the output's
  (``Sigmoid``, ``Tanh``, ``Relu``, leaky ReLU as :math:`\max(x, a x)`, softplus as
  :math:`\max(x, 0) + \log(1 + e^{-|x|})`, ``Softmax`` over the outputs);
* outputs ``output`` ``(N, n_out)`` (probabilities for classification) and, for classification,
  ``label`` ``(N,)``: the class name, by the library's rule (argmax, or ``output > 0.5`` for a
  single logistic output).

Feature names, classes, the task, the target and the jaxmlp version are in the model's metadata.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from jaxmlp.activations import LEAKY_RELU_SLOPE
from jaxmlp.version import __version__

__all__ = ["OPSET", "to_onnx", "export"]

OPSET = 19  # ONNX's default domain; Equal compares strings from opset 19 on


class _Graph:
    """The nodes, initialisers and inputs of a graph being built, each name made unique."""

    def __init__(self, dtype):
        from onnx import TensorProto

        self.dtype = np.dtype(dtype)
        self.elem = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT
        self.nodes: list = []
        self.inits: list = []
        self.inputs: list = []
        self.count = itertools.count()

    def const(self, value, name_hint: str) -> str:
        """An initialiser holding ``value``; its name."""
        from onnx import numpy_helper

        name = f"{name_hint}_{next(self.count)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, ins: list[str], **attrs) -> str:
        """A node ``kind`` of ``ins``; the name of its one output."""
        from onnx import helper

        out = f"{kind.lower()}_{next(self.count)}"
        self.nodes.append(helper.make_node(kind, ins, [out], **attrs))
        return out


def to_onnx(model):
    """The :class:`~jaxmlp.io.modelfile.Model` as an ``onnx.ModelProto`` (checked)."""
    import onnx
    from onnx import helper

    g = _Graph(model.mean.dtype)
    h = _scaled(g, model, _encoded(g, model))
    net = model.net
    last = len(model.params) - 1
    for i, layer in enumerate(model.params):
        w = np.asarray(layer["w"], g.dtype)
        h = g.op("MatMul", [h, g.const(np.ascontiguousarray(w.T), f"w{i}")])
        if "b" in layer:
            h = g.op("Add", [h, g.const(np.asarray(layer["b"], g.dtype), f"b{i}")])
        act = net.output_activation if i == last else net.activation
        h = _activation(g.op, g.const, h, act, g.dtype)
    outputs = [helper.make_tensor_value_info("output", g.elem, ["N", net.sizes[-1]])]
    g.nodes.append(helper.make_node("Identity", [h], ["output"]))
    if model.task == "classification":
        outputs.append(_label(g, model, h))
    graph = helper.make_graph(g.nodes, "jaxmlp", g.inputs, outputs, g.inits)
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="jaxmlp",
        producer_version=__version__,
    )
    proto.ir_version = min(proto.ir_version, 9)  # what current onnxruntime releases read
    metadata = {
        "features": json.dumps([f["name"] for f in model.features]),
        "inputs": json.dumps(model.input_names),
        "classes": json.dumps(list(model.class_names)),
        "task": model.task,
        "target": json.dumps(model.target),
        "network": json.dumps(_network_fields(net)),
        "jaxmlp_version": __version__,
    }
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _encoded(g: _Graph, model) -> str:
    """The graph's inputs, one per raw feature column, encoded and concatenated in the model's
    order (module docstring); the name of the ``(N, n_in)`` result."""
    from onnx import TensorProto, helper

    encoded = []
    for c in model.encoding().columns:
        absent: str | None = None
        if c.categories is None:
            g.inputs.append(helper.make_tensor_value_info(c.name, g.elem, ["N", 1]))
            value = c.name
            if c.imputes:  # NaN is missing: the fill in its place
                absent = g.op("IsNaN", [c.name])
                fill = g.const(np.asarray(c.fill if c.fill is not None else 0.0, g.dtype), "fill")
                value = g.op("Where", [absent, fill, c.name])
            encoded.append(value)
        else:
            g.inputs.append(helper.make_tensor_value_info(c.name, TensorProto.STRING, ["N", 1]))
            cats = g.const(np.asarray(c.categories, dtype=object), "categories")
            encoded.append(g.op("Cast", [g.op("Equal", [c.name, cats])], to=g.elem))
            if c.missing:  # the empty string is missing
                empty = g.const(np.asarray([""], dtype=object), "empty")
                absent = g.op("Equal", [c.name, empty])
        if c.missing:  # (a column with an indicator imputes: absent is set above)
            assert absent is not None
            encoded.append(g.op("Cast", [absent], to=g.elem))
    return encoded[0] if len(encoded) == 1 else g.op("Concat", encoded, axis=1)


def _scaled(g: _Graph, model, h: str) -> str:
    r""":math:`z = (h - \mu) / \sigma`, smoothly clipped where the model says so:
    :math:`z / \sqrt{1 + m (z/3)^2}`, :math:`m` 1 on the clipped inputs and 0 elsewhere."""
    mean = g.const(model.mean.astype(g.dtype), "mean")
    h = g.op("Div", [g.op("Sub", [h, mean]), g.const(model.std.astype(g.dtype), "std")])
    clipped = model.encoding().value_inputs(clipped_only=True)
    if clipped.size:
        mask = np.zeros(len(model.mean), g.dtype)
        mask[clipped] = 1 / 9
        square = g.op("Mul", [g.op("Mul", [h, h]), g.const(mask, "clip_mask")])
        root = g.op("Sqrt", [g.op("Add", [square, g.const(np.asarray(1.0, g.dtype), "one")])])
        h = g.op("Div", [h, root])
    return h


def _label(g: _Graph, model, h: str):
    """The ``label`` output ``(N,)``: the class name of each row of the outputs ``h`` (argmax,
    or ``h > 0.5`` for one logistic output); its value info."""
    from onnx import TensorProto, helper

    if model.net.sizes[-1] == 1:
        half = g.const(np.asarray(0.5, g.dtype), "half")
        index = g.op("Cast", [g.op("Greater", [h, half])], to=TensorProto.INT64)
        index = g.op("Squeeze", [index, g.const(np.asarray([1], np.int64), "axis")])
    else:
        index = g.op("ArgMax", [h], axis=1, keepdims=0)
    names = g.const(np.asarray(model.class_names, dtype=object), "classes")
    g.nodes.append(helper.make_node("Gather", [names, index], ["label"], axis=0))
    return helper.make_tensor_value_info("label", TensorProto.STRING, ["N"])


def _activation(op, const, h: str, name: str, dtype) -> str:
    """``name`` applied to the node ``h`` (identity: ``h`` itself)."""
    if name == "identity":
        return h
    if name == "logistic":
        return op("Sigmoid", [h])
    if name == "tanh":
        return op("Tanh", [h])
    if name == "relu":
        return op("Relu", [h])
    if name == "leaky_relu":  # max(x, a x) for a < 1: elementary ops, defined for doubles too
        return op("Max", [h, op("Mul", [h, const(np.asarray(LEAKY_RELU_SLOPE, dtype), "slope")])])
    if name == "softplus":  # log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|)
        tail = op(
            "Log",
            [
                op(
                    "Add",
                    [
                        const(np.asarray(1.0, dtype), "one"),
                        op("Exp", [op("Neg", [op("Abs", [h])])]),
                    ],
                )
            ],
        )
        return op("Add", [op("Relu", [h]), tail])
    if name == "exp":
        return op("Exp", [h])
    if name == "softmax":
        return op("Softmax", [h], axis=1)
    raise ValueError(f"no ONNX form for the activation {name!r}")


def _network_fields(net) -> dict:
    return {
        "sizes": list(net.sizes),
        "activation": net.activation,
        "output_activation": net.output_activation,
        "loss": net.loss,
        "bias": net.bias,
    }


def export(model, path: str | Path) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (atomically); return the path."""
    from jaxmlp.io.atomic import atomic_open

    proto = to_onnx(model)
    path = Path(path)
    with atomic_open(path, "wb") as f:
        f.write(proto.SerializeToString())
    return path
