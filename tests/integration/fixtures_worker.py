"""Session fixture for the remote executor tests: an ansible-runner worker behind a real sshd on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import worker

__all__ = ["remote_worker"]


@pytest.fixture(scope="session")
def remote_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[worker.WorkerInfo]:
    """sshd on 127.0.0.1 letting root in with its own client key; the worker command is the venv's ansible-runner."""
    state_dir = tmp_path_factory.mktemp("remote-worker")
    try:
        yield worker.start(state_dir)
    finally:
        worker.stop(state_dir)
