"""The layout the README's architecture section draws, enforced on every import statement (inside
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
    facades = {"jaxmlp", "jaxmlp.bench", "jaxmlp.cli.options"}
    offenders = {}
    for name, path in modules().items():
        if name in facades:
            continue
        text = path.read_text()
        if "noqa: F401" in text:
            offenders[name] = "noqa: F401"
    assert offenders == {}
