"""The sandbox's Alertmanager, open and behind basic auth, for the tests that silence monitoring."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import alertmanager
from sandbox.alertmanager import AlertmanagerInfo

__all__ = ["alertmanager_server", "alertmanager_server_with_password"]


def _serve(state_dir: Path, password: str | None = None) -> AlertmanagerInfo:
    # start_daemon drops its Popen while Alertmanager runs on purpose; that is no leak to report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        return alertmanager.start(state_dir, password=password)


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerInfo]:
    """One open Alertmanager for the session (~0.1 s to start); tests keep apart by their own tags."""
    state_dir = tmp_path_factory.mktemp("alertmanager")
    info = _serve(state_dir)
    try:
        yield info
    finally:
        alertmanager.stop(state_dir)


@pytest.fixture(scope="session")
def alertmanager_server_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerInfo]:
    """An Alertmanager whose API wants basic auth (user and password in the AlertmanagerInfo)."""
    state_dir = tmp_path_factory.mktemp("alertmanager-auth")
    info = _serve(state_dir, password=secrets.token_urlsafe(16))
    try:
        yield info
    finally:
        alertmanager.stop(state_dir)
