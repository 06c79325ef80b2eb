"""The layout the architecture page (docs/architecture.md) draws, enforced on every import statement (inside
functions and under ``TYPE_CHECKING`` too): no import cycles, and each layer imports only the
layers below it.

    core       jaxmlp.<module>: the configuration, the maths, the boundary checks, the worked example
    checks     jaxmlp.checks: hand against autodiff against finite differences
    kernels    jaxmlp.kernels: fast paths, each checked against the core
    training   jaxmlp.training: fit, its loop, optimizers, batching, sweep, devices, ...
    io         jaxmlp.io: readers, checkpoints, model files (on the core only)
    front      the public API (jaxmlp/__init__.py) and the front ends: cli, bench, explain, sklearn
"""

import ast
from pathlib import Path

import jaxmlp

ROOT = Path(jaxmlp.__file__).parent
FRONT_ENDS = ("cli", "bench", "explain", "sklearn", "__main__")
# layer -> the layers it may import (besides itself)
MAY_IMPORT = {
    "core": set(),
    "checks": {"core"},
    "kernels": {"core"},
    "training": {"core", "checks", "kernels"},
    "io": {"core"},
    "front": {"core", "checks", "kernels", "training", "io"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def layer(module: str) -> str:
    """The layer of a jaxmlp module, from its package."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in FRONT_ENDS:
        return "front"
    if parts[1] in ("checks", "kernels", "training", "io"):
        return parts[1]
    return "core"


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Every jaxmlp module each module imports, wherever the import statement stands."""
    graph = {}
    for name, path in mods.items():
        targets = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against the package
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    targets.add(full if full in mods else base)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path of module names, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return stack[stack.index(t) :] + [t]
            if t not in state and (found := visit(t)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def wrong_way(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each module's imports of a layer it may not import."""
    found = {}
    for m, targets in graph.items():
        bad = sorted(
            t for t in targets if layer(t) != layer(m) and layer(t) not in MAY_IMPORT[layer(m)]
        )
        if bad:
            found[m] = bad
    return found


def test_no_import_cycles():
    assert cycle(imports(modules())) is None


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_layer_imports_only_the_layers_below_it():
    assert wrong_way(imports(modules())) == {}


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path):
    """The check reads imports wherever they stand, so a function-level import across a wall fails."""
    kernel = tmp_path / "jaxmlp" / "kernels" / "k.py"
    kernel.parent.mkdir(parents=True)
    kernel.write_text("def f():\n    from jaxmlp.training.loop import StepSpec\n")
    loop = tmp_path / "jaxmlp" / "training" / "loop.py"
    loop.parent.mkdir(parents=True)
    loop.write_text("")
    mods = {"jaxmlp.kernels.k": kernel, "jaxmlp.training.loop": loop}
    assert wrong_way(imports(mods)) == {"jaxmlp.kernels.k": ["jaxmlp.training.loop"]}


def test_the_layers_are_as_drawn():
    assert [
        layer(m) for m in ("jaxmlp.mlp", "jaxmlp.checks.gradient_check", "jaxmlp.kernels.lanes")
    ] == [
        "core",
        "checks",
        "kernels",
    ]
    assert [
        layer(m) for m in ("jaxmlp.training.fit", "jaxmlp.io.tables", "jaxmlp.cli.run", "jaxmlp")
    ] == [
        "training",
        "io",
        "front",
        "front",
    ]


def test_no_module_reexports_names_it_does_not_use():
    """No shims: a module imports a name only to use it (the package API files excepted)."""
    facades = {
        "jaxmlp",
        "jaxmlp.bench",
    }  # the public API; the helpers experiments call as bench.NAME
    offenders = {}
    for name, path in modules().items():
        if name in facades:
            continue
        text = path.read_text()
        if "noqa: F401" in text:
            offenders[name] = "noqa: F401"
    assert offenders == {}


LIBRARY = ("core", "checks", "kernels", "training", "io")
MUTATORS = {"append", "extend", "add", "update", "pop", "clear", "setdefault", "insert", "remove"}
# Module-level state the library keeps on purpose, each bounded and tested:
# finiteness._FINITE, the JAX arrays already found finite (weak references, at most FINITE_KEPT).
KEPT = {("jaxmlp.finiteness", "_FINITE")}


def mutated_globals(path: Path) -> set[str]:
    """Names bound at a module's top level that a function of it mutates (a method call such as
    ``append``, an item assignment, or a ``global`` statement)."""
    tree = ast.parse(path.read_text())
    top = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        top |= {t.id for t in targets if isinstance(t, ast.Name)}
    found = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Global):
                found |= set(node.names)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in MUTATORS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in top
            ):
                found.add(node.func.value.id)
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found |= {
                    t.value.id
                    for t in targets
                    if isinstance(t, ast.Subscript)
                    and isinstance(t.value, ast.Name)
                    and t.value.id in top
                }
    return found


def test_the_library_keeps_no_module_level_mutable_state():
    """No registries: no library function mutates a module-level name (the caches are
    ``functools.lru_cache`` with a bound, or listed in KEPT)."""
    found = {
        (name, g)
        for name, path in modules().items()
        if layer(name) in LIBRARY
        for g in mutated_globals(path)
    }
    assert found - KEPT == set()


def test_the_state_finder_finds_a_registry(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "_MADE = []\nTABLE = {}\n\ndef make(o):\n    _MADE.append(o)\n    TABLE[o] = 1\n"
    )
    assert mutated_globals(path) == {"_MADE", "TABLE"}


def test_library_caches_are_bounded():
    """Every ``functools`` cache in the library has a bound (``functools.cache`` of a function
    without arguments holds one value)."""
    unbounded = []
    for name, path in modules().items():
        if layer(name) not in LIBRARY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for d in node.decorator_list:
                text = ast.unparse(d)
                takes_args = bool(node.args.args or node.args.kwonlyargs or node.args.vararg)
                if (text == "functools.cache" and takes_args) or "maxsize=None" in text:
                    unbounded.append(f"{name}.{node.name}")
    assert unbounded == []


# Functions that call jax.jit when called, and why that is once: mlp._compiled decorates each
# method of MLP at import; an entry of programs' table jits once per static value (and once more,
# without compiler options, for calls traced inside another function).
JIT_MAKERS = {"jaxmlp.mlp._compiled", "jaxmlp.programs.__init__", "jaxmlp.programs.traced"}


def test_no_library_function_jits_afresh_per_call():
    """``jax.jit`` inside a function makes a new compiled callable (and, for a lambda, a new cache)
    at every call; in the library it happens only in functions whose result is cached."""
    found = []
    for name, path in modules().items():
        if layer(name) not in LIBRARY:
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef):
                continue
            cached = any("cache" in ast.unparse(d) for d in fn.decorator_list)
            jits = [
                n
                for n in ast.walk(fn)
                if isinstance(n, ast.Call)
                and ast.unparse(n.func) in ("jax.jit", "jit", "programs.jit")
            ]
            if jits and not cached and f"{name}.{fn.name}" not in JIT_MAKERS:
                found.append(f"{name}.{fn.name}")
    assert found == []


def test_the_library_compiles_through_the_bounded_table():
    """Every ``jax.jit`` of the library goes through :func:`jaxmlp.programs.jit` (whose programs
    are bounded), but for the one-off probe of a compiler option in the lanes kernel."""
    found = []
    for name, path in modules().items():
        if layer(name) not in LIBRARY or name == "jaxmlp.programs":
            continue
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Attribute) and ast.unparse(n) == "jax.jit":
                found.append(name)
    assert found == ["jaxmlp.kernels.lanes"]


def test_every_module_declares_its_public_names():
    """``__all__`` in every module: the API reference shows those names and no others."""
    missing = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        if not any(
            isinstance(n, ast.Assign)
            and any(getattr(t, "id", None) == "__all__" for t in n.targets)
            for n in tree.body
        ):
            missing.append(name)
    assert missing == []
