"""Dependencies point one way: no module of audio/, providers/ or flows/ imports one that imports
it back, directly or through others. Every import counts, the ones inside functions too (they
run, only later); the ones under `if TYPE_CHECKING:` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audio", "providers", "flows")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if "migrations" not in parts:  # run by Alembic, not imported
                found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def _named(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names (a `from pkg import sub` names pkg.sub)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def graph() -> dict[str, set[str]]:
    """Module -> the modules of ours importing it runs (a package's __init__ included, except the
    importer's own packages, which are running already)."""
    modules = _modules()
    arrows: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        skipped = _type_checking_only(tree)
        own = set(_ancestors(module))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in skipped:
                continue
            for name in _named(module, path, node):
                for target in [*_ancestors(name), name]:
                    if target in modules and target != module and target not in own:
                        arrows[module].add(target)
    return arrows


def cycles(arrows: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(arrows[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(arrows):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle_through_a_third_module() -> None:
    arrows = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(arrows) == [["a", "b", "c"]]


def test_no_module_imports_one_that_imports_it_back() -> None:
    arrows = graph()
    assert "providers.registry" in arrows["providers"]  # the graph sees ours
    assert cycles(arrows) == []


def test_the_libraries_import_nothing_of_flows_and_providers_nothing_of_audio() -> None:
    """flows -> audio, flows -> providers; audio reads only the provider table (the registry,
    import-free) for display names."""
    upward = {
        (m, t)
        for m, targets in graph().items()
        for t in targets
        if (m.startswith(("audio", "providers")) and t.startswith("flows"))
        or (m.startswith("providers") and t.startswith("audio"))
        or (m.startswith("audio") and t.startswith("providers") and t != "providers.registry"
            and t != "providers")
    }  # fmt: skip
    assert upward == set()
