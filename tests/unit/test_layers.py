"""The one-way doors between the rooms: bot → orchestrator (its façade only) → collection.

See docs/architecture.md. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "collections" / "ansible_collections" / "jarvis" / "deploy"


def imported_modules(path: Path) -> set[str]:
    """Every module PATH imports (``from X import y`` gives X), wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def sources(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*.py") if "tests" not in path.relative_to(directory).parts)


@pytest.mark.parametrize("path", sources(REPO / "bot"), ids=lambda path: str(path.relative_to(REPO)))
def test_the_bot_uses_the_orchestrator_through_its_facade_only(path: Path) -> None:
    deeper = sorted(name for name in imported_modules(path) if name.startswith("orchestrator."))
    assert not deeper, f"{path.name} imports {deeper}: take it from the orchestrator package itself"


@pytest.mark.parametrize("path", sources(REPO / "orchestrator"), ids=lambda path: str(path.relative_to(REPO)))
def test_the_orchestrator_never_imports_the_bot(path: Path) -> None:
    assert not [name for name in imported_modules(path) if name == "bot" or name.startswith("bot.")]


@pytest.mark.parametrize("path", sources(COLLECTION / "plugins"), ids=lambda path: str(path.relative_to(COLLECTION)))
def test_the_collection_stands_alone(path: Path) -> None:
    outside = [name for name in imported_modules(path) if name.split(".")[0] in ("orchestrator", "bot", "sandbox")]
    assert not outside, f"{path.name} imports {outside}: the collection must run without jarvis"
