"""The layout the README's architecture section draws: no import cycles (type-only imports
included), the library never imports its front ends, and no library module is over about 300 lines."""

import ast
from pathlib import Path

import jaxmlp

ROOT = Path(jaxmlp.__file__).parent
FRONT_ENDS = ("jaxmlp.cli", "jaxmlp.bench", "jaxmlp.explain", "jaxmlp.sklearn", "jaxmlp.__main__")
MAX_LINES = 320  # "about 300"


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Every jaxmlp module each module imports, wherever the import statement stands."""
    graph = {}
    for name, path in mods.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    targets.add(full if full in mods else node.module)
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


def test_no_import_cycles():
    assert cycle(imports(modules())) is None


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_library_never_imports_its_front_ends():
    graph = imports(modules())
    library = [m for m in graph if not m.startswith(FRONT_ENDS)]
    assert {m: sorted(t for t in graph[m] if t.startswith(FRONT_ENDS)) for m in library} == {
        m: [] for m in library
    }


def test_no_module_is_long():
    lengths = {name: len(p.read_text().splitlines()) for name, p in modules().items()}
    assert {n: k for n, k in lengths.items() if k > MAX_LINES} == {}
