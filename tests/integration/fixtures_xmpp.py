"""The sandbox's Prosody, shared by the XMPP tests: users jarvis, alice and mallory, rooms on demand."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import prosody
from sandbox.prosody import XmppInfo

__all__ = ["XMPP_USERS", "prosody_dir", "prosody_server"]

XMPP_USERS = ("jarvis", "alice", "mallory")


@pytest.fixture(scope="session")
def prosody_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's Prosody keeps its config and data: what a test needs to restart it."""
    return tmp_path_factory.mktemp("prosody")


@pytest.fixture(scope="session")
def prosody_server(prosody_dir: Path) -> Iterator[XmppInfo]:
    """One Prosody for the session (~0.2 s to start); tests keep apart by using their own rooms."""
    users = {user: secrets.token_urlsafe(12) for user in XMPP_USERS}
    # start_daemon drops its Popen while prosody runs on purpose; that is no leak to report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        info = prosody.start(prosody_dir, users)
    try:
        yield info
    finally:
        prosody.stop(prosody_dir)
