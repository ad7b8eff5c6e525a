"""The sandbox's ngIRCd, shared by every test that needs an IRC network."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from sandbox import ngircd
from sandbox.ngircd import IrcInfo

__all__ = ["ngircd_server"]


@pytest.fixture(scope="session")
def ngircd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcInfo]:
    """One ngIRCd for the session (~0.05 s to start); tests keep apart by their own nicks and channels."""
    state_dir = tmp_path_factory.mktemp("ngircd")
    # start_daemon drops its Popen while ngircd runs on purpose; that is no leak to report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        info = ngircd.start(state_dir)
    try:
        yield info
    finally:
        ngircd.stop(state_dir)
