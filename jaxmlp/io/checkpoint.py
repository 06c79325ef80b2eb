"""Checkpoints: parameters, optimizer state, step, PRNG key and configuration, in one npz file.

Why npz: it is NumPy's own zip of ``.npy`` arrays, read with
``allow_pickle=False`` so loading never executes code; it needs no extra
dependency (safetensors or orbax would add one for the same job). The JSON
metadata travels inside it as a byte array, and a SHA-256 over the metadata and
every array (name, dtype, shape, bytes) catches a flipped bit that the zip's
CRC would let through in a stored-uncompressed member.

``DIR/checkpoint.npz`` is written atomically (temporary file, fsync, rename):
a process killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp.io.atomic import atomic_open
from jaxmlp.mlp import MLP
from jaxmlp.validation import check_params

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FILENAME",
    "CheckpointError",
    "Checkpoint",
    "save",
    "exists",
    "load",
]

FORMAT = "jaxmlp-checkpoint"
FORMAT_VERSION = 1
FILENAME = "checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, damaged, of another version or architecture."""


class Checkpoint(NamedTuple):
    """A loaded checkpoint."""

    net: MLP
    params: Any
    opt_state: Any
    step: int
    key: jax.Array
    metadata: dict


def _digest(meta_bytes: bytes, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _key_data(key: jax.Array) -> tuple[np.ndarray, str | None]:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)), str(jax.random.key_impl(key))
    return np.asarray(key), None


def save(
    directory: str | Path,
    *,
    net: MLP,
    params,
    opt_state,
    step: int,
    key: jax.Array,
    extra: dict | None = None,
) -> Path:
    """Write ``directory/checkpoint.npz`` atomically; return its path.

    ``extra``: JSON-serialisable facts about the run (optimizer, learning rate, data set).
    """
    path = Path(directory) / FILENAME
    arrays = {}
    for i, layer in enumerate(params):
        for k, v in layer.items():
            arrays[f"params/{i}/{k}"] = np.asarray(v)
    for i, leaf in enumerate(jax.tree_util.tree_leaves(opt_state)):
        arrays[f"opt_state/{i}"] = np.asarray(leaf)
    key_data, impl = _key_data(key)
    arrays["key"] = key_data
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": dataclasses.asdict(net),
        "step": int(step),
        "key_impl": impl,
        "dtype": str(jax.tree_util.tree_leaves(params)[0].dtype),
        "n_opt_state_leaves": len(jax.tree_util.tree_leaves(opt_state)),
        "extra": extra or {},
    }
    meta_bytes = json.dumps(meta, sort_keys=True).encode()
    arrays["metadata"] = np.frombuffer(meta_bytes, np.uint8)
    arrays["sha256"] = np.frombuffer(
        _digest(meta_bytes, {k: v for k, v in arrays.items() if k != "metadata"}).encode(), np.uint8
    )
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle's
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    return path


def exists(directory: str | Path) -> bool:
    """True when ``directory`` holds a checkpoint file (it may still be damaged: :func:`load` checks)."""
    return (Path(directory) / FILENAME).is_file()


def load(directory: str | Path, *, net: MLP | None = None, opt_state_template=None) -> Checkpoint:
    """Read and verify ``directory/checkpoint.npz``.

    Checks, in order: the file reads as an npz without pickle; format and
    version; the SHA-256; the configuration equals ``net`` (when given);
    parameter shapes and dtypes; the optimizer-state leaves against
    ``opt_state_template`` (which also gives their tree structure).

    Raises:
      CheckpointError: with a message saying what is wrong.
    """
    path = Path(directory) / FILENAME
    meta, arrays = _verified(path)
    try:
        saved_net = MLP(**{**meta["config"], "sizes": tuple(meta["config"]["sizes"])})
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} holds an invalid configuration: {e}") from None
    if net is not None and saved_net != net:
        raise CheckpointError(
            f"checkpoint {path} is for a different network: it holds {_describe(saved_net)}, this run asks for {_describe(net)}"
        )
    params = []
    for i in range(len(saved_net.sizes) - 1):
        layer = {
            k: jnp.asarray(arrays[f"params/{i}/{k}"])
            for k in ("w", "b")
            if f"params/{i}/{k}" in arrays
        }
        params.append(layer)
    layers = tuple(params)
    try:
        check_params(saved_net, layers)
    except (ValueError, TypeError) as e:
        raise CheckpointError(
            f"checkpoint {path} holds parameters that do not fit its network: {e}"
        ) from None
    opt_state = _opt_state(path, meta, arrays, opt_state_template)
    key = arrays["key"]
    key = (
        jax.random.wrap_key_data(jnp.asarray(key), impl=meta["key_impl"])
        if meta.get("key_impl")
        else jnp.asarray(key)
    )
    return Checkpoint(saved_net, layers, opt_state, int(meta["step"]), key, meta)


def _verified(path: Path) -> tuple[dict, dict]:
    """``(metadata, arrays)`` of the checkpoint file ``path``: read as an npz without pickle, its
    format and version this jaxmlp's, its SHA-256 that of its contents; else CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"checkpoint {path} is damaged (truncated or corrupted): {e}"
        ) from None
    if "metadata" not in arrays or "sha256" not in arrays:
        raise CheckpointError(f"checkpoint {path} is not a jaxmlp checkpoint (no metadata)")
    meta_bytes = arrays.pop("metadata").tobytes()
    stored = arrays.pop("sha256").tobytes().decode("ascii", "replace")
    try:
        meta = json.loads(meta_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(
            f"checkpoint {path} is damaged: its metadata is not valid JSON"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a jaxmlp checkpoint")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {meta.get('version')!r}; this jaxmlp reads version {FORMAT_VERSION}"
        )
    if _digest(meta_bytes, arrays) != stored:
        raise CheckpointError(
            f"checkpoint {path} is damaged: its SHA-256 checksum does not match its contents"
        )
    return meta, arrays


def _opt_state(path: Path, meta: dict, arrays: dict, template):
    """The optimizer state of the checkpoint's arrays, in ``template``'s tree (None without one),
    each leaf checked against the template's shape and dtype; else CheckpointError."""
    leaves = [
        arrays[f"opt_state/{i}"]
        for i in range(meta.get("n_opt_state_leaves", 0))
        if f"opt_state/{i}" in arrays
    ]
    if len(leaves) != meta.get("n_opt_state_leaves", 0):
        raise CheckpointError(f"checkpoint {path} is missing optimizer-state arrays")
    if template is None:
        return None
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(t_leaves) != len(leaves):
        raise CheckpointError(
            f"checkpoint {path} holds {len(leaves)} optimizer-state arrays; this run's optimizer has {len(t_leaves)} "
            f"(it was saved with {meta.get('extra', {}).get('optimizer', 'another optimizer')!r})"
        )
    for i, (a, t) in enumerate(zip(leaves, t_leaves)):
        if a.shape != np.shape(t) or a.dtype != np.asarray(t).dtype:
            raise CheckpointError(
                f"checkpoint {path}: optimizer-state array {i} has shape {a.shape} and dtype {a.dtype}, "
                f"expected {np.shape(t)} and {np.asarray(t).dtype}"
            )
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in leaves])


def _describe(net: MLP) -> str:
    return f"sizes {','.join(map(str, net.sizes))} {net.activation}/{net.output_activation} {net.loss} bias={net.bias}"
