"""Data and population parallelism on JAX's own machinery: a 1-D ``Mesh`` and ``NamedSharding``.

``fit`` shards the batch over the mesh's one axis and replicates the
parameters; XLA partitions the step and inserts the all-reduce that sums the
gradient (for autodiff and for the handwritten delta rule alike: the sum over
the batch in ``delta^T @ out_prev`` becomes a partial sum per device plus an
all-reduce). ``sweep`` shards the population; its members never talk.

The same code runs on CPU devices, one or several GPUs, TPUs, and across
processes started with :func:`initialize` (``jax.distributed``).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmlp import programs

__all__ = [
    "AXIS",
    "make_mesh",
    "request_cpu_devices",
    "axis_size",
    "check_divisible",
    "shard_leading",
    "shard_leaves",
    "gathered",
    "shard_trailing",
    "replicate",
    "place",
    "jnp_key",
    "to_host",
    "fetch",
    "to_host_tree",
    "gather",
    "initialize",
    "all_processes",
]

AXIS = "data"


def make_mesh(devices: int | Mesh | None = None) -> Mesh | None:
    """A 1-D mesh over the first ``devices`` devices (all processes' devices, in order).

    ``None`` means no sharding; a ``Mesh`` is used as is (it must be 1-D).
    """
    if devices is None:
        return None
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise ValueError(f"mesh must have one axis, got axes {devices.axis_names}")
        return devices
    if isinstance(devices, bool) or not isinstance(devices, (int, np.integer)) or devices < 1:
        raise ValueError(
            f"devices must be a positive integer or a jax.sharding.Mesh, got {devices!r}"
        )
    available = jax.devices()
    if devices > len(available):
        hint = (
            "; on CPU call jax.config.update('jax_num_cpu_devices', N) before any other JAX work, "
            "or start Python with XLA_FLAGS=--xla_force_host_platform_device_count=N"
            if available[0].platform == "cpu"
            else ""
        )
        raise ValueError(
            f"asked for {devices} devices, but JAX sees {len(available)} ({available[0].platform}){hint}"
        )
    return Mesh(np.asarray(available[:devices]), (AXIS,))


def request_cpu_devices(n: int) -> None:
    """Split the CPU into ``n`` JAX devices (``jax_num_cpu_devices``), unless ``XLA_FLAGS`` sets a count.

    Only the CPU backend is affected (a GPU stays the default device when there
    is one). It must run before JAX starts its backends: the CLI calls it for
    ``--devices`` in single-process runs, first thing.
    """
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # JAX already started (``main`` called in a working process):
            pass  # the devices are what they are; a run that needs more says so in one line


def axis_size(mesh: Mesh) -> int:
    """Number of devices along the mesh's one axis."""
    return mesh.devices.size


def check_divisible(n: int, mesh: Mesh, what: str) -> None:
    """Refuse a leading axis that does not split evenly (no silent padding: it would change the mean)."""
    d = axis_size(mesh)
    if n % d:
        raise ValueError(
            f"{what} of {n} does not divide over {d} devices; use a multiple of {d} "
            f"(e.g. {n - n % d} or {n + d - n % d})"
        )


def shard_leading(mesh: Mesh, a: Any) -> jax.Array:
    """Place ``a`` with its leading axis split over the mesh (every process passes the whole array)."""
    return place(mesh, a, PartitionSpec(mesh.axis_names[0]))


def shard_leaves(mesh: Mesh, tree: Any) -> Any:
    """Every leaf of ``tree`` (None stays None) split over the mesh along its leading axis: a
    population's members (every process passes the whole tree and fills its own devices)."""
    return jax.tree_util.tree_map(lambda a: shard_leading(mesh, a), tree)


def gathered(tree: Any) -> Any:
    """Every leaf of ``tree`` (split over a mesh, or not) whole as NumPy in every process."""
    return jax.tree_util.tree_map(lambda a: to_host(gather(a)), tree)


def shard_trailing(mesh: Mesh, a: Any) -> jax.Array:
    """Place ``a`` with its last axis split over the mesh (every process passes the whole array)."""
    return place(mesh, a, PartitionSpec(*([None] * (np.ndim(a) - 1)), mesh.axis_names[0]))


def replicate(mesh: Mesh, tree: Any) -> Any:
    """Place every leaf of ``tree`` whole on every device of the mesh."""
    return jax.tree_util.tree_map(lambda a: place(mesh, a, PartitionSpec()), tree)


def place(mesh: Mesh, a: Any, spec: PartitionSpec) -> jax.Array:
    """``a`` as a global array with ``NamedSharding(mesh, spec)``.

    Built with ``make_array_from_callback`` from a host copy, so it works
    when the mesh spans several processes (each fills its own devices).
    """
    if isinstance(a, jax.Array) and jnp_key(a):
        return jax.random.wrap_key_data(
            place(mesh, jax.random.key_data(a), spec), impl=jax.random.key_impl(a)
        )
    sharding = NamedSharding(mesh, spec)
    host = to_host(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def jnp_key(a: jax.Array) -> bool:
    """True for a typed PRNG key array."""
    return jax.numpy.issubdtype(a.dtype, jax.dtypes.prng_key)


def to_host(a: jax.Array) -> np.ndarray:
    """A replicated (or single-process) array as NumPy, also when other processes hold copies of it."""
    if jax.process_count() > 1 and isinstance(a, jax.Array) and not a.is_fully_addressable:
        return np.asarray(a.addressable_data(0))
    return np.asarray(a)


def fetch(*arrays: jax.Array) -> tuple[np.ndarray, ...]:
    """Several replicated arrays to the host (``np.asarray`` each: cheaper than one ``jax.device_get``
    of the tuple for small arrays on CPU, measured)."""
    return tuple(to_host(a) for a in arrays)


def to_host_tree(tree: Any) -> Any:
    """Every leaf of a replicated pytree as a local array (PRNG keys stay keys)."""

    def one(a):
        if isinstance(a, jax.Array) and jnp_key(a):
            return jax.random.wrap_key_data(
                to_host(jax.random.key_data(a)), impl=jax.random.key_impl(a)
            )
        return to_host(a) if isinstance(a, jax.Array) else a

    return jax.tree_util.tree_map(one, tree)


def gather(a: jax.Array) -> jax.Array:
    """A sharded array made whole on every device (an all-gather), so every process can read it."""
    if (
        not isinstance(a, jax.Array)
        or a.is_fully_replicated
        or not isinstance(a.sharding, NamedSharding)
    ):
        return a
    return _replicator(a.sharding.mesh)(a)


def _identity(v):
    return v


@functools.lru_cache(maxsize=16)
def _replicator(mesh: Mesh):
    """The compiled identity whose output is replicated over ``mesh`` (made once per mesh)."""
    return programs.jit(_identity, out_shardings=NamedSharding(mesh, PartitionSpec()))


def initialize(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> bool:
    """Start ``jax.distributed`` when a coordinator is given (or set in the environment).

    Arguments default to ``JAXMLP_COORDINATOR`` (``host:port``),
    ``JAXMLP_NUM_PROCESSES`` and ``JAXMLP_PROCESS_ID``. On CPU the collectives
    go through gloo. Returns True when several processes were joined.
    Call before any other JAX work.
    """
    coordinator = coordinator or os.environ.get("JAXMLP_COORDINATOR")
    if not coordinator:
        return False
    num_processes = num_processes if num_processes is not None else _env_int("JAXMLP_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _env_int("JAXMLP_PROCESS_ID")
    if num_processes is None or process_id is None:
        raise ValueError(
            "a coordinator needs the number of processes and this process's id (--num-processes, --process-id)"
        )
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process id must lie in [0, {num_processes}), got {process_id}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
    return True


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def all_processes(vector: np.ndarray) -> np.ndarray:
    """Every process's ``vector``, stacked ``(processes, ...)`` on every process."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(vector)))
