"""Private to sandbox.linode: the regions, types, kernels and images it serves, read once from catalogue.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.linode._answers import Json


def _load() -> dict[str, tuple[Json, ...]]:
    document = yaml.safe_load(Path(__file__).with_name("catalogue.yaml").read_text())
    return {kind: tuple(table["shared"] | entry for entry in table["entries"]) for kind, table in document.items()}


_CATALOGUES = _load()
REGIONS = _CATALOGUES["regions"]
TYPES = _CATALOGUES["types"]
KERNELS = _CATALOGUES["kernels"]
IMAGES = _CATALOGUES["images"]
BY_ID: dict[str, dict[str, Json]] = {kind: {e["id"]: e for e in entries} for kind, entries in _CATALOGUES.items()}
