"""Load designs from text or files, safely, and turn them into hosts.

YAML is parsed with a safe loader that refuses oversized documents and alias bombs before any
object is built, so a hostile design costs little and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator._collection import design_rules
from orchestrator.errors import DesignError

MAX_DESIGN_BYTES = 64 * 1024
MAX_ALIASES = 50
MAX_NODES = 5000


@dataclass(frozen=True)
class Design:
    """A validated design: where it came from, the document as given, and its canonical hosts."""

    source: str
    document: dict[str, Any]
    hosts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hostnames(self) -> list[str]:
        return [host["hostname"] for host in self.hosts]


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts aliases and nodes, so billion-laughs documents fail fast."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise DesignError("design", f"uses more than {MAX_ALIASES} YAML aliases")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise DesignError("design", f"has more than {MAX_NODES} YAML nodes")
        return super().compose_node(parent, index)


def parse_design(text: str | bytes, source: str, mappings: dict[str, Any] | None = None) -> Design:
    """Parse and validate a design document given as text; raise :class:`DesignError` on any problem."""
    if len(text) > MAX_DESIGN_BYTES:
        raise DesignError("design", f"is {len(text)} bytes; the limit is {MAX_DESIGN_BYTES}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DesignError("design", f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    loader = _BoundedLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DesignError("design", f"is not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()
    try:
        hosts = design_rules.normalize(document, mappings)
    except design_rules.DesignError as exc:
        raise DesignError(exc.path, exc.problem) from None
    return Design(source=source, document=document, hosts=hosts)


def load_design_file(path: str | Path, mappings: dict[str, Any] | None = None) -> Design:
    """Read a design from a file on this machine."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_DESIGN_BYTES:
            raise DesignError("design", f"{file} is larger than {MAX_DESIGN_BYTES} bytes")
        data = file.read_bytes()
    except OSError as exc:
        raise DesignError("design", f"cannot read {file}: {exc.strerror}") from None
    return parse_design(data, str(file), mappings)
