"""Load designs from text or files, safely, and turn them into hosts.

YAML is parsed with a safe loader that bounds the document before any object is built: its
size, aliases, nodes, nesting, and the size it would have once every alias is expanded. Values
are plain data only (mappings, lists, strings, numbers, booleans, null), so a hostile design
costs little and changes nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from orchestrator._collection import design_rules
from orchestrator.errors import DesignError

MAX_DESIGN_BYTES = 64 * 1024
MAX_ALIASES = 50
MAX_NODES = 5000
MAX_DEPTH = 50  # a design needs about 8 levels (instances, host, provider_options, ec2, tags, ...)
MAX_EXPANDED_NODES = 20_000  # nodes once every alias is expanded
MAX_EXPANDED_TEXT = 256 * 1024  # characters of scalars once every alias is expanded, plus NODE_COST per node
NODE_COST = 8
MAX_SCALAR = design_rules.MAX_STRING  # no field of a design takes a longer value
MAX_INTEGER_BITS = 64
PLAIN_DATA = "designs hold only mappings, lists, strings, numbers, booleans and null"


@dataclass(frozen=True)
class Design:
    """A validated design: where it came from, the document as given, and its canonical hosts.

    A deployment stores ``text`` (the document exactly as fetched), its SHA-256 ``digest`` and
    ``resolved_source`` (where the text really came from: the URL after redirects, a gist's revision
    included; ``cn=NAME`` or a path as given), so a later redeploy or destroy acts on what ran, not on
    whatever the source says by then.
    """

    source: str
    document: dict[str, Any]
    hosts: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    digest: str = ""  # SHA-256 of text (UTF-8), hex; empty for a deployment recorded before designs were pinned
    resolved_source: str = ""
    partial: bool = False  # the hosts are a pick of the document's (``redeploy X`` of a cluster): not the cluster

    @property
    def hostnames(self) -> list[str]:
        return [host["hostname"] for host in self.hosts]

    def only(self, hostnames: Collection[str]) -> Design:
        """This design acting on HOSTNAMES alone (in the design's order); DesignError names any it lacks."""
        missing = [name for name in hostnames if name not in self.hostnames]
        if missing:
            where, has = self.resolved_source or self.source, ", ".join(self.hostnames)
            raise DesignError("design", f"{where} has no host {', '.join(missing)} (it has {has})")
        hosts = [host for host in self.hosts if host["hostname"] in hostnames]
        return replace(self, hosts=hosts, partial=self.partial or len(hosts) < len(self.hosts))


def text_digest(text: str) -> str:
    """The SHA-256 (hex) by which a deployment pins its design's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts aliases, nodes and depth while composing, so hostile documents fail fast."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._nodes = 0
        self._depth = 0
        self._anchor_names: dict[int, str] = {}  # id(node) -> its anchor, for messages

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise DesignError("design", f"uses more than {MAX_ALIASES} YAML aliases")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise DesignError("design", f"has more than {MAX_NODES} YAML nodes")
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DesignError(
                    "design", f"nests more than {MAX_DEPTH} levels deep (at line {event.start_mark.line + 1})"
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not isinstance(event, yaml.AliasEvent):
            self._anchor_names[id(node)] = anchor
        return node

    def check_expansion(self, root: yaml.Node) -> None:
        """Refuse recursive aliases, and a document too big once its aliases are expanded.

        Sizes are computed once per node (memoised), so a billion-laughs graph costs its node count.
        """
        done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded text)
        on_path: set[int] = set()
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            key = id(node)
            if not children_done:
                if key in done:
                    continue
                if key in on_path:
                    anchor = self._anchor_names.get(key)
                    name = f"&{anchor}" if anchor else "an anchor"
                    raise DesignError("design", f"has a recursive YAML alias: {name} at {_where(node)} contains itself")
                on_path.add(key)
                stack.append((node, True))
                stack.extend((child, False) for child in _children(node))
                continue
            on_path.discard(key)
            if isinstance(node, yaml.ScalarNode):
                _check_scalar(node)
                nodes, text = 1, NODE_COST + len(node.value)
            else:
                nodes, text = 1, NODE_COST
                for child in _children(node):
                    child_nodes, child_text = done[id(child)]
                    nodes, text = nodes + child_nodes, text + child_text
            if nodes > MAX_EXPANDED_NODES:
                raise DesignError("design", f"expands to more than {MAX_EXPANDED_NODES} YAML nodes through its aliases")
            if text > MAX_EXPANDED_TEXT:
                raise DesignError(
                    "design", f"expands to more than {MAX_EXPANDED_TEXT // 1024} KiB of text through its aliases"
                )
            done[key] = (nodes, text)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_scalar(node: yaml.ScalarNode) -> None:
    value: str = node.value
    if len(value) > MAX_SCALAR:
        raise DesignError(
            "design", f"has a value of {len(value)} characters at {_where(node)}; the limit is {MAX_SCALAR}"
        )
    if "\x00" in value:
        raise DesignError("design", f"has a NUL character in the value at {_where(node)}")
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise DesignError("design", f"has a lone surrogate (not Unicode text) in the value at {_where(node)}")


_Constructor = Callable[[yaml.SafeLoader, yaml.ScalarNode], Any]


def _checked(kind: str, construct: _Constructor, valid: Callable[[Any], str | None]) -> _Constructor:
    """CONSTRUCT's value, or a DesignError naming the position where PyYAML would raise something else."""

    def checked(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            value = construct(loader, node)
        except (ValueError, IndexError, KeyError):
            raise DesignError("design", f"the value at {_where(node)} is not a valid {kind}") from None
        problem = valid(value)
        if problem:
            raise DesignError("design", f"the {kind} at {_where(node)} {problem}")
        return value

    return checked


def _refuse_type(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise DesignError("design", f"uses the YAML type {node.tag.rsplit(':', 1)[-1]!r} at {_where(node)}; {PLAIN_DATA}")


_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:int",
    _checked(
        "integer",
        yaml.SafeLoader.construct_yaml_int,
        lambda value: f"has more than {MAX_INTEGER_BITS} bits" if value.bit_length() > MAX_INTEGER_BITS else None,
    ),
)
_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:float",
    _checked(
        "number",
        yaml.SafeLoader.construct_yaml_float,
        lambda value: None if math.isfinite(value) else "is not finite (.inf or .nan)",
    ),
)
_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:bool", _checked("boolean", yaml.SafeLoader.construct_yaml_bool, lambda _: None)
)


def _as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(node.value)


# A date stays the text it was written as: designs are plain data, stored and sent as JSON.
_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _BoundedLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_type)


@dataclass(frozen=True)
class DesignPolicy:
    """What the site lets a design name: its mapping tables, gitosis-admin remotes and DNS zones.

    None for the remotes or zones means "not checked" (only for hosts that were checked before).
    """

    mappings: dict[str, Any] | None = None
    gitosis_allowed: Collection[str] | None = None
    zones: Collection[str] | None = None


def parse_design(
    text: str | bytes,
    source: str,
    mappings: dict[str, Any] | None = None,
    *,
    gitosis_allowed: Collection[str] | None = None,
    policy: DesignPolicy | None = None,
    resolved_source: str | None = None,
) -> Design:
    """Parse and validate a design document given as text; raise :class:`DesignError` on any problem.

    RESOLVED_SOURCE is where the text really came from when that differs from SOURCE (a URL's redirects).

    POLICY (the config's, :meth:`Config.design_policy`) says what the design may name; MAPPINGS and
    GITOSIS_ALLOWED alone are its older spelling.
    """
    policy = policy or DesignPolicy(mappings, gitosis_allowed)
    if len(text) > MAX_DESIGN_BYTES:
        raise DesignError("design", f"is {len(text)} bytes; the limit is {MAX_DESIGN_BYTES}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DesignError("design", f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    document = _load(text)
    try:
        hosts = design_rules.normalize(
            document, policy.mappings, gitosis_allowed=policy.gitosis_allowed, zones=policy.zones
        )
    except design_rules.DesignError as exc:
        raise DesignError(exc.path, exc.problem) from None
    return Design(
        source=source,
        document=document,
        hosts=hosts,
        text=text,
        digest=text_digest(text),
        resolved_source=resolved_source or source,
    )


def _load(text: str) -> Any:
    """The document in TEXT as plain data, checked by :class:`_BoundedLoader` before it is built."""
    try:
        loader = _BoundedLoader(text)  # the reader already refuses special characters such as raw NULs
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            loader.check_expansion(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DesignError("design", f"is not valid YAML{where}: {problem}") from None


def load_design_file(
    path: str | Path,
    mappings: dict[str, Any] | None = None,
    *,
    gitosis_allowed: Collection[str] | None = None,
    policy: DesignPolicy | None = None,
) -> Design:
    """Read a design from a file on this machine (the checks as for :func:`parse_design`)."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_DESIGN_BYTES:
            raise DesignError("design", f"{file} is larger than {MAX_DESIGN_BYTES} bytes")
        data = file.read_bytes()
    except OSError as exc:
        raise DesignError("design", f"cannot read {file}: {exc.strerror}") from None
    return parse_design(data, str(file), policy=policy or DesignPolicy(mappings, gitosis_allowed))
