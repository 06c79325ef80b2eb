"""Compiled programs as a bounded resource.

Every XLA program a process compiles stays loaded while something refers to it: its machine code
in memory maps of its own (a handful for a small program, a hundred or more for a large one) and
its buffers in memory. ``jax.jit`` keeps every program it compiled, per function and per shape,
for the life of the process, and Linux allows a process ``vm.max_map_count`` maps (65,530 by
default): a process that compiles a few thousand programs ends in a native crash inside the
compiler ("LLVM compilation error: Cannot allocate memory"). A notebook trying one width after
another, a search over architectures or a service loading many model files walks into it.

jaxmlp compiles through :func:`jit` (``jax.jit`` with one compiled function per value of the
static arguments) and keeps those functions in one least-recently-used table:

- **the bound**: at most :func:`program_limit` compiled programs (default 32, or
  ``$JAXMLP_MAX_PROGRAMS``; :func:`set_program_limit` changes it) stay loaded; when a call has
  compiled past it, the least recently used functions release theirs (a released program
  compiles again on its next use and computes the same numbers: the same program);
- **the guard**: when the process as a whole (jaxmlp's programs, JAX's per-operation programs,
  the user's own) nears the limit (half of ``vm.max_map_count`` maps on Linux; elsewhere 20,000
  programs compiled since the last release), every cached program is released
  (``jax.clear_caches()``), with one line on stderr.

Both act only between calls, at the outermost jaxmlp call, never while one of its programs is
traced or runs: a release drops the table's reference, and a computation in flight holds its
own. The table is process state, as JAX's own caches are.
"""

from __future__ import annotations

import collections
import functools
import inspect
import itertools
import os
import sys
import threading
from collections.abc import Callable, Hashable
from typing import Any

import jax

__all__ = [
    "DEFAULT_PROGRAM_LIMIT",
    "Jitted",
    "jit",
    "live_programs",
    "program_limit",
    "release_programs",
    "set_program_limit",
]

DEFAULT_PROGRAM_LIMIT = 32
_LIMIT_VARIABLE = "JAXMLP_MAX_PROGRAMS"
_MAPS_FRACTION = 0.5  # of vm.max_map_count: the guard's threshold on Linux
_MAPS_REGROWTH = 0.1  # of vm.max_map_count: maps gained since its last release, to act again
_PROGRAMS_ELSEWHERE = 20_000  # compiled since the last release: the guard's threshold elsewhere
_MAPS_CHECK_EVERY = 8  # compilations between two reads of /proc/self/maps (a read costs ~1 ms)

# XLA:CPU splits a program's machine code into modules compiled in parallel, each with memory maps
# of its own: one module per program has less than half the maps (an estimator's training loop:
# 67 instead of 160 with jaxlib 0.10.1) and compiles as fast on a few cores.
CPU_OPTIONS = {"xla_cpu_parallel_codegen_split_count": 1}


def _parse_limit(value: object, name: str) -> int:
    try:
        limit = int(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a whole number of programs >= 1, got {value!r}") from None
    if limit < 1:
        raise ValueError(f"{name} must be a whole number of programs >= 1, got {limit}")
    return limit


class _Table:
    """The compiled functions jaxmlp holds, least recently used first, and the counters of the
    guard. One per process."""

    def __init__(self) -> None:
        self.functions: collections.OrderedDict[tuple[int, Hashable], Any] = (
            collections.OrderedDict()
        )
        self.limit: int | None = None  # read from the environment on first use
        self.compiled = 0  # programs compiled in this process (any compiler call, any caller)
        self.checked = 0  # ... when the table was last brought within its bound
        self.maps_checked = 0  # ... when /proc/self/maps was last read
        self.since_release = 0  # ... since the guard last released everything
        self.maps_released = 0  # maps in use right after the guard's last release
        self.lock = threading.RLock()
        self.local = threading.local()  # .depth: jaxmlp calls in progress on this thread

    def bound(self) -> int:
        if self.limit is None:
            value = os.environ.get(_LIMIT_VARIABLE, "").strip()
            self.limit = _parse_limit(value, _LIMIT_VARIABLE) if value else DEFAULT_PROGRAM_LIMIT
        return self.limit

    def live(self) -> int:
        return sum(f._cache_size() for f in list(self.functions.values()))

    def enforce(self) -> None:
        """Bring the table within its bound, least recently used first; then the guard."""
        with self.lock:
            self.checked = self.compiled
            limit = self.bound()
            sizes = [(key, f._cache_size()) for key, f in self.functions.items()]
            total = sum(n for _, n in sizes)
            for key, n in sizes:  # least recently used first
                if total <= limit and len(self.functions) <= limit:
                    break
                self.functions.pop(key).clear_cache()
                total -= n
            if self.compiled - self.maps_checked >= _MAPS_CHECK_EVERY:
                self.maps_checked = self.compiled
                self.guard()

    def guard(self) -> None:
        usage = _map_usage()
        if usage is not None:
            used, allowed = usage
            # near the limit, and grown since the last release (if releasing could not bring the
            # maps down, they are not the programs': releasing again would only recompile)
            if (
                used < _MAPS_FRACTION * allowed
                or used - self.maps_released < _MAPS_REGROWTH * allowed
            ):
                return
            held = f"the process held {used:,} of its {allowed:,} memory maps"
        else:
            if self.compiled - self.since_release < _PROGRAMS_ELSEWHERE:
                return
            held = (
                f"{self.compiled - self.since_release:,} programs compiled since the last release"
            )
        if not _trace_state_clean():
            return
        released = release_programs()
        usage = _map_usage()
        self.maps_released = usage[0] if usage else 0
        print(
            f"jaxmlp: released {released:,} of jaxmlp's compiled programs and JAX's caches ({held}); "
            "each compiles again on its next use",
            file=sys.stderr,
        )


_table = _Table()


def _count_compilation(event: str, duration_secs: float, **kwargs: str | int) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _table.compiled += 1


jax.monitoring.register_event_duration_secs_listener(_count_compilation)


def _map_usage() -> tuple[int, int] | None:
    """``(maps in use, vm.max_map_count)`` on Linux, else ``None``."""
    try:
        with open("/proc/sys/vm/max_map_count", "rb") as f:
            allowed = int(f.read())
        with open("/proc/self/maps", "rb") as f:
            used = f.read().count(b"\n")
    except (OSError, ValueError):
        return None
    return used, allowed


def _trace_state_clean() -> bool:
    """Whether no JAX transformation is tracing on this thread (the guard's clear_caches waits
    for it; compiler options are for calls outside any)."""
    try:
        from jax._src import core
    except ImportError:  # pragma: no cover - JAX moved it; the table's own bound still acts
        return False
    return bool(core.trace_state_clean())


def program_limit() -> int:
    """The most compiled programs jaxmlp keeps loaded (see the module's docstring)."""
    return _table.bound()


def set_program_limit(limit: int) -> int:
    """Keep at most ``limit`` (>= 1) compiled programs loaded; returns the previous limit.

    Programs over the new limit are released at once, least recently used first.
    """
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"the program limit must be an int >= 1, got {type(limit).__name__}")
    new = _parse_limit(limit, "the program limit")
    with _table.lock:
        previous = _table.bound()
        _table.limit = new
        _table.enforce()
    return previous


def live_programs() -> int:
    """How many compiled programs jaxmlp's functions hold now."""
    return _table.live()


def release_programs() -> int:
    """Release every compiled program jaxmlp holds, and JAX's own caches (``jax.clear_caches``);
    returns how many of jaxmlp's were released. Each compiles again on its next use.

    Call it between calls, not from inside a traced function.
    """
    with _table.lock:
        released = _table.live()
        for f in _table.functions.values():
            f.clear_cache()
        _table.functions.clear()
        jax.clear_caches()
        _table.since_release = _table.compiled
        _table.checked = _table.compiled
    return released


class Jitted:
    """``jax.jit(fun, **options)`` with one compiled function per value of the static arguments,
    held in jaxmlp's bounded table (see the module's docstring).

    Calls, ``lower``, ``_cache_size`` (programs held) and ``clear_cache`` behave as jit's.
    """

    def __init__(self, fun: Callable, **options: Any) -> None:
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._options = options
        self._token = next(_tokens)
        numbers = options.get("static_argnums", ())
        names = options.get("static_argnames", ())
        numbers = (numbers,) if isinstance(numbers, int) else tuple(numbers)
        names = (names,) if isinstance(names, str) else tuple(names)
        parameters = list(inspect.signature(fun).parameters.values())
        positional = [
            p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        static: dict[str, int | None] = {}
        for i in numbers:
            static[positional[i] if i < len(positional) else f"#{i}"] = i
        for name in names:
            static.setdefault(name, positional.index(name) if name in positional else None)
        # (position or None, name): where each static argument may come
        self._static = tuple((i, name) for name, i in static.items())

    def _key(self, args: tuple, kwargs: dict) -> tuple:
        return tuple(
            args[i] if i is not None and i < len(args) else kwargs.get(name, _MISSING)
            for i, name in self._static
        )

    def _entry(self, args: tuple, kwargs: dict) -> _Entry:
        key = (self._token, self._key(args, kwargs))
        functions = _table.functions
        entry = functions.get(key)
        if entry is None:
            entry = functions[key] = _Entry(self._fun, self._options)
        else:
            functions.move_to_end(key)
        return entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        entry = self._entry(args, kwargs)
        local = _table.local
        depth = getattr(local, "depth", 0)
        local.depth = depth + 1
        try:
            if _trace_state_clean():
                return entry.top(*args, **kwargs)
            return entry.traced()(*args, **kwargs)
        finally:
            local.depth = depth
            if depth == 0 and _table.compiled != _table.checked:
                _table.enforce()

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        return self._entry(args, kwargs).top.lower(*args, **kwargs)

    def _mine(self) -> list[Any]:
        return [f for (token, _), f in list(_table.functions.items()) if token == self._token]

    def _cache_size(self) -> int:
        return sum(f._cache_size() for f in self._mine())

    def clear_cache(self) -> None:
        with _table.lock:
            for key in [k for k in _table.functions if k[0] == self._token]:
                _table.functions.pop(key).clear_cache()

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self, obj)


class _Entry:
    """One value of a function's static arguments: ``top``, jitted for calls outside any
    transformation (with :data:`CPU_OPTIONS` on the CPU), and, made when first needed, the same
    without compiler options for calls that JAX traces inside another function (where it refuses
    them)."""

    def __init__(self, fun: Callable, options: dict) -> None:
        self.fun, self.options = _own(fun), options
        if jax.default_backend() == "cpu":
            compiler = {**CPU_OPTIONS, **options.get("compiler_options", {})}
            options = {**options, "compiler_options": compiler}
        self.top: Any = jax.jit(self.fun, **options)
        self.inner: Any = None

    def traced(self) -> Any:
        if self.inner is None:
            plain = {k: v for k, v in self.options.items() if k != "compiler_options"}
            self.inner = jax.jit(self.fun, **plain)
        return self.inner

    def _cache_size(self) -> int:
        return self.top._cache_size() + (self.inner._cache_size() if self.inner else 0)

    def clear_cache(self) -> None:
        self.top.clear_cache()
        if self.inner is not None:
            self.inner.clear_cache()


def _own(fun: Callable) -> Callable:
    """``fun`` under a new identity: ``jax.jit`` shares one cache among the jitted functions of
    one Python function, and each entry of the table must hold (and release) its own."""

    @functools.wraps(fun)
    def own(*args: Any, **kwargs: Any) -> Any:
        return fun(*args, **kwargs)

    return own


_tokens = itertools.count()
_MISSING = object()


def jit(fun: Callable | None = None, **options: Any) -> Any:
    """``jax.jit`` for jaxmlp's own functions: the same options (``static_argnums``,
    ``static_argnames``, ``donate_argnums``, ``compiler_options``, ...), its programs held in the
    bounded table. Usable as ``@jit``, ``@jit(static_argnums=0)`` or ``jit(f, ...)``."""
    if fun is None:
        return functools.partial(jit, **options)
    return Jitted(fun, **options)
