"""Session fixture for the gitosis tests: a real sshd serving a gitosis-admin repository over git+SSH."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import gitserver

__all__ = ["git_server"]


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[gitserver.GitServerInfo]:
    """sshd on 127.0.0.1 letting jarvis's deploy key push to gitosis@127.0.0.1:gitosis-admin.git."""
    state_dir = tmp_path_factory.mktemp("gitserver")
    info = gitserver.start(state_dir)
    try:
        yield info
    finally:
        gitserver.stop(state_dir)
