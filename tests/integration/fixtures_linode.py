"""Session fixtures for the Linode tests: the Linode API emulator whose Linodes become real podman hosts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import linode

__all__ = ["linode_record", "linode_sandbox", "linode_state_dir"]

RECORD_FILE = "requests.jsonl"


@pytest.fixture(scope="session")
def linode_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("linode")


@pytest.fixture(scope="session")
def linode_sandbox(linode_state_dir: Path) -> Iterator[linode.LinodeInfo]:
    """The emulator with its own podman network and container prefix, recording every answer; torn down afterwards."""
    info = linode.start(linode_state_dir, prefix=f"lt{uuid.uuid4().hex[:6]}", record=linode_state_dir / RECORD_FILE)
    try:
        yield info
    finally:
        linode.stop(linode_state_dir)


@pytest.fixture(scope="session")
def linode_record(linode_sandbox: linode.LinodeInfo, linode_state_dir: Path) -> Path:
    """The JSONL file where the emulator records each answer it gave this session (method, path, status, body)."""
    return linode_state_dir / RECORD_FILE
