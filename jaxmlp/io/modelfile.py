"""Model files: a trained network with everything needed to apply it to raw rows, in one safetensors file.

Layout (readable without jaxmlp, e.g. ``safetensors.numpy.load_file`` or PyTorch's loader):

======================  =========================================================
tensor                  meaning
======================  =========================================================
``layers.L.w``          layer ``L``'s weights, ``(n_out, n_in)``, applied as ``x @ w.T``
``layers.L.b``          its bias: ``()`` shared, ``(n_out,)`` per neuron; absent without
``input.mean``          ``(n_in,)``: inputs are ``(raw - mean) / std`` ...
``input.std``           ``(n_in,)``  ... before the first layer (then smooth clipping)
======================  =========================================================

The safetensors header's ``__metadata__`` (strings) holds ``format`` (``jaxmlp-model``),
``format_version``, ``jaxmlp_version`` and, as JSON, ``network`` (the :class:`jaxmlp.MLP`
fields), ``features`` (the raw columns in order, each with its categories when it is one-hot
encoded, and from format version 2 ``missing`` (an indicator input follows), ``fill`` (the value
of a missing number) and ``clip`` (the scaled input is smoothly clipped,
:func:`jaxmlp.io.tables.smooth_clip`); ``inputs`` names each network input), ``task``, ``class_names``, ``target`` and
``summary`` (the training run). The network's output is ``out_L`` of its
``output_activation``; for classification the predicted class is its argmax (or ``out > 0.5``
with one logistic output). No code is executed on load; files are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from jaxmlp.io.atomic import atomic_open
from jaxmlp.mlp import MLP

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "REQUIRED_TENSORS",
    "REQUIRED_METADATA",
    "ModelFileError",
    "Model",
    "save",
    "load",
]

FORMAT = "jaxmlp-model"
FORMAT_VERSION = 2  # 2: features may impute (missing, fill) and clip


REQUIRED_TENSORS = {
    "input.mean": "the mean subtracted from each input",
    "input.std": "the standard deviation each input is divided by",
}
REQUIRED_METADATA = ("network", "features", "task", "class_names", "target", "summary")


class ModelFileError(ValueError):
    """A model file that cannot be used: missing, damaged, foreign or of a newer format version."""


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained network ready for raw inputs.

    ``features``: ``[{"name", "categories"}]`` of the raw columns (categories None for numbers);
    ``mean``/``std``: ``(n_in,)`` standardisation of the encoded inputs; ``task``:
    ``classification`` or ``regression``; ``class_names`` for classification; ``summary``: facts
    about the training run (JSON-ready).
    """

    net: MLP
    params: tuple
    features: list
    mean: np.ndarray
    std: np.ndarray
    task: str
    class_names: tuple = ()
    target: str | None = None
    summary: dict = dataclasses.field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        """The name of each network input: the column, or ``column=category``."""
        return list(self.encoding().input_names)

    def encoding(self):
        """The :class:`jaxmlp.io.tables.Encoding` of the raw columns."""
        from jaxmlp.io.tables import Column, Encoding

        return Encoding(tuple(Column.from_dict(f) for f in self.features))


def save(path: str | Path, model: Model) -> Path:
    """Write ``model`` to ``path`` (safetensors, atomically); return the path."""
    from safetensors.numpy import save

    from jaxmlp.version import __version__

    tensors: dict[str, np.ndarray] = {}
    for i, layer in enumerate(model.params):
        for k, v in layer.items():
            tensors[f"layers.{i}.{k}"] = np.ascontiguousarray(np.asarray(v))
    tensors["input.mean"] = np.ascontiguousarray(np.asarray(model.mean))
    tensors["input.std"] = np.ascontiguousarray(np.asarray(model.std))
    metadata = {
        "format": FORMAT,
        "format_version": str(_version(model.features)),
        "jaxmlp_version": __version__,
        "network": json.dumps(dataclasses.asdict(model.net)),
        "features": json.dumps(model.features),
        "inputs": json.dumps(model.input_names),
        "task": model.task,
        "class_names": json.dumps(list(model.class_names)),
        "target": json.dumps(model.target),
        "summary": json.dumps(model.summary, default=str),
    }
    blob = save(tensors, metadata=metadata)
    path = Path(path)
    with atomic_open(path, "wb") as f:
        f.write(blob)
    return path


def _version(features: list) -> int:
    """1 where no feature imputes or clips (files older jaxmlp releases read), else 2."""
    return 2 if any(set(f) - {"name", "categories"} for f in features) else 1


def load(path: str | Path) -> Model:
    """Read and check a model file; raise :class:`ModelFileError` with one line saying what is wrong."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(
            f"{path} is not a readable model file (damaged or truncated): {e}"
        ) from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is not a jaxmlp model file (a safetensors file of another kind)"
        )
    version = metadata.get("format_version", "")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this jaxmlp reads up to {FORMAT_VERSION}: upgrade jaxmlp"
        )
    for name, meaning in REQUIRED_TENSORS.items():
        if name not in tensors:
            raise ModelFileError(
                f"{path} is a damaged jaxmlp model file: the tensor {name!r} ({meaning}) is missing"
            )
    for key in REQUIRED_METADATA:
        if key not in metadata:
            raise ModelFileError(
                f"{path} is a damaged jaxmlp model file: its metadata has no {key!r} entry"
            )
    try:
        fields = json.loads(metadata["network"])
        net = MLP(**{**fields, "sizes": tuple(fields["sizes"])})
        params = tuple(
            {k: tensors[f"layers.{i}.{k}"] for k in ("w", "b") if f"layers.{i}.{k}" in tensors}
            for i in range(len(net.sizes) - 1)
        )
        from jaxmlp.validation import check_params

        check_params(net, params)
        model = Model(
            net,
            params,
            json.loads(metadata["features"]),
            tensors["input.mean"],
            tensors["input.std"],
            metadata["task"],
            tuple(json.loads(metadata["class_names"])),
            json.loads(metadata["target"]),
            json.loads(metadata["summary"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} is a damaged jaxmlp model file: {e}") from None
    if model.mean.shape != (net.sizes[0],) or len(model.input_names) != net.sizes[0]:
        raise ModelFileError(
            f"{path} is a damaged jaxmlp model file: its inputs do not match its network"
        )
    return model
