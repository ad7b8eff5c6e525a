"""The orchestrator and bot packages import one another one way only: no module imports itself back.

The graph is read from the source with ``ast`` (imports inside functions count, since a cycle that
only closes at call time is still a cycle), not from ``sys.modules``. ``from package import name``
is an edge to the submodule ``package.name`` when there is one, else to the package; the parent
packages every import runs first are not edges, as they run before any submodule of theirs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "bot")


def modules() -> dict[str, Path]:
    """Every module of PACKAGES by dotted name (a package by its own name, for its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of KNOWN that module NAME at PATH imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # import a.b.c of a module a.b: the edge is to a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan): each holds a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(graph[node]):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def cycle_path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle through the first module of COMPONENT, found breadth first: start → … → start."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for after in sorted(graph[node] & component):
            if after == start:
                return [*paths[node], start]
            if after not in paths:
                paths[after] = [*paths[node], after]
                queue.append(after)
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    graph = import_graph()
    assert "orchestrator.config" in graph["orchestrator"]  # from orchestrator.config import … in __init__
    assert "orchestrator.locks" in graph["orchestrator.store"]  # from orchestrator import locks
    assert "orchestrator" in graph["bot.config"]  # the bot imports the façade only
    source = tmp_path / "late.py"
    source.write_text("import json\nfrom . import b\n\n\ndef f():\n    import pkg.c.x\n    from .c import name\n")
    known = {name: tmp_path for name in ("pkg", "pkg.a", "pkg.b", "pkg.c")}
    assert sorted(imported("pkg.a", source, known)) == ["pkg.b", "pkg.c", "pkg.c"]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b", "x"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}, "x": {"a"}}
    assert tangles(graph) == [["a", "b", "c", "x"], ["e", "e2"]]
    assert cycle_path(graph, {"a", "b", "c", "x"}) == ["a", "x", "a"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = []
    for tangle in tangles(graph):
        cycle = cycle_path(graph, set(tangle))
        others = sorted(set(tangle) - set(cycle))
        found.append(f"  {' -> '.join(cycle)}" + (f" (tangled with it: {', '.join(others)})" if others else ""))
    assert not found, "import cycles:\n" + "\n".join(found)
