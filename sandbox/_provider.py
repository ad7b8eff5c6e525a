"""What every sandbox provider (EC2, Linode, vSphere) does alike: reuse a running one, tear it down.

Each provider runs one daemon in its state dir and records what it made in an info file (JSON,
mode 0600) with at least ``prefix`` (its containers' name prefix) and its podman network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sandbox import hosts
from sandbox._process import SandboxError, daemon_running, stop_daemon, wait_for_port

Info = TypeVar("Info")


def running_info(
    state_dir: Path, daemon: str, info_file: str, build: Callable[..., Info], port_of: Callable[[Info], int]
) -> Info | None:
    """The recorded info of the provider running in STATE_DIR, if its daemon is alive and answers."""
    try:
        info = build(**json.loads((state_dir / info_file).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not daemon_running(daemon, state_dir):
        return None
    try:
        wait_for_port(port_of(info), 1.0)
    except SandboxError:
        return None
    return info


def tear_down(state_dir: Path, daemon: str, info_file: str, network_key: str = "network") -> None:
    """Stop the daemon in STATE_DIR, then remove every host container it made and its network."""
    state_dir = state_dir.resolve()
    stop_daemon(daemon, state_dir)
    path = state_dir / info_file
    try:
        recorded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    hosts.configure(state_dir)
    hosts.remove_hosts(list(hosts.list_hosts(f"{recorded['prefix']}-")))
    hosts.remove_network(recorded[network_key])
    path.unlink(missing_ok=True)
