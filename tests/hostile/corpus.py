"""The corpus of hostile designs (corpus.yml), read for the unit and the integration tests.

The file's header says what an entry holds. Here: its placeholders are expanded (``@MARKER@`` becomes a
per-run path whose existence proves that a payload ran), and the accepted entries of one path are merged
into one multi-host design, so that the sandbox deploys them in one run.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).with_name("corpus.yml")
# A real ed25519 public key (ssh-keygen; the private half was thrown away): key comments are the payload.
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFn6Rxt5UJrVlo1FUU1NXWUBuLu/pGthh8jfr46if95e"
VIAS = ("cli", "worker", "playbook", "none")
PLACES = ("ec2_tags", "linode_tags", "authorized_keys", "names", "store")
# What marks a string as a payload: Jinja's three delimiters, or the marker path.
TEMPLATE_SYNTAX = ("{{", "{%", "{#")
_REPEAT = re.compile(r"@REPEAT (\d+) ([^@]*)@")


@dataclass(frozen=True)
class Entry:
    """One hostile design: REFUSED lists the paths its DesignError may name (empty: it is accepted)."""

    name: str
    reason: str
    template: str
    refused: tuple[str, ...] = ()
    via: str | None = None
    lands: tuple[str, ...] = ()
    canonical: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return not self.refused

    def document(self, marker: Path) -> str:
        """The design's text, placeholders expanded."""
        return expand(self.template, marker)

    def refused_paths(self, marker: Path) -> list[str]:
        return [expand(path, marker) for path in self.refused]


def expand(text: str, marker: Path) -> str:
    text = _REPEAT.sub(lambda match: match.group(2) * int(match.group(1)), text)
    return text.replace("@MARKER@", str(marker)).replace("@KEY@", KEY).replace("@NUL@", "\0")


def load_corpus() -> list[Entry]:
    raw = yaml.safe_load(CORPUS.read_text())
    entries = []
    for item in raw["entries"]:
        expect = item["expect"]
        if "refused" in expect:
            paths = expect["refused"]
            entries.append(
                Entry(
                    item["name"], item["reason"], item["document"], tuple([paths] if isinstance(paths, str) else paths)
                )
            )
        else:
            deployed = expect["deployed"]
            entries.append(
                Entry(
                    item["name"],
                    item["reason"],
                    item["document"],
                    via=deployed["via"],
                    lands=tuple(deployed.get("lands", ())),
                    canonical=dict(deployed.get("canonical") or {}),
                )
            )
    return entries


def new_marker() -> Path:
    """A path that does not exist yet, short enough for a Linode tag (3-50 characters) to hold the payload."""
    return Path(f"/tmp/hx-{secrets.token_hex(4)}")


def payloads(value: Any, marker: Path) -> list[str]:
    """Every string of VALUE (mapping keys too) that holds template syntax or the marker path."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += payloads(key, marker) + payloads(item, marker)
    elif isinstance(value, list):
        for item in value:
            found += payloads(item, marker)
    elif isinstance(value, str) and (any(mark in value for mark in TEMPLATE_SYNTAX) or str(marker) in value):
        found.append(value)
    return found


def merged_design(entries: list[Entry], marker: Path) -> dict[str, Any]:
    """One ``instances:`` design of ENTRIES' hosts (each entry's defaults merged into its hosts, as validation does)."""
    instances: list[dict[str, Any]] = []
    for entry in entries:
        document = yaml.safe_load(entry.document(marker))
        if "instances" not in document:
            raise ValueError(f"{entry.name}: only designs in the instances: format can be merged")
        defaults = document.get("defaults") or {}
        instances += [{**defaults, **instance} for instance in document["instances"]]
    return {"instances": instances}


def hostnames(entry: Entry, marker: Path) -> list[str]:
    """The hostnames ENTRY's document names, lower-cased as validation does."""
    document = yaml.safe_load(entry.document(marker))
    hosts = [document["instance"]] if "instance" in document else document["instances"]
    return [str(host["hostname"]).lower() for host in hosts]
