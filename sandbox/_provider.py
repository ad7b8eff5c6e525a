"""Private to sandbox: what every sandbox cloud provider (EC2, Linode, vSphere) does alike.

Each provider runs one daemon, ``python -m MODULE``, in its state dir: the provider's API on 127.0.0.1
plus whatever keeps a podman host in step with each of its machines. It records what it made in an
info file (JSON, mode 0600) with at least ``prefix`` (its containers' name prefix) and its podman
network. Both ends of the daemon are here: starting and stopping it, and its command line and loop.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import Field, asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sandbox import hosts
from sandbox._process import (
    SandboxError,
    daemon_log,
    daemon_running,
    free_port,
    start_python_daemon,
    stop_daemon,
    wait_for_port,
    write_private,
)

__all__ = ["HostNetwork", "Provider", "ProviderInfo", "become_daemon", "container_name", "reconcile_until"]

log = logging.getLogger(__name__)


class ProviderInfo(Protocol):
    """What a provider's start() returns and records: a dataclass that names its containers' prefix."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def prefix(self) -> str: ...


Info = TypeVar("Info", bound=ProviderInfo)


def container_name(prefix: str, machine_id: object) -> str:
    """The podman container that plays the provider's machine MACHINE_ID."""
    return f"{prefix}-{machine_id}"


@dataclass(frozen=True)
class HostNetwork:
    """Where a provider's hosts go: containers PREFIX-<machine id> on the podman network NAME, in SUBNET."""

    prefix: str
    name: str
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> str:
        """podman's gateway on the network: its first address."""
        return str(self.subnet.network_address + 1)


@dataclass(frozen=True)
class Provider(Generic[Info]):
    """One sandbox cloud provider: its daemon, the info file it records and how to tell that it answers."""

    daemon: str  # the daemon's pid and log files are DAEMON.pid and DAEMON.log in the state dir
    module: str  # the daemon runs as ``python -m MODULE``
    info_file: str
    info_type: Callable[..., Info]
    port_of: Callable[[Info], int]  # the port of the API a recorded info names
    title: str  # what the errors call it: "the sandbox EC2"
    network_key: str = "network"  # the info's field naming the hosts' podman network
    secret_files: tuple[str, ...] = ()  # files beside the info file that stop() removes too

    def reuse(self, state_dir: Path, prefix: str) -> Info | None:
        """The provider already running in STATE_DIR for PREFIX; else None, once whatever ran there is gone."""
        running = self._running_info(state_dir)
        if running is not None and running.prefix == prefix:
            return running
        self.stop(state_dir)
        return None

    def new_hosts(self, state_dir: Path, prefix: str) -> HostNetwork:
        """Make sure of the host image, and make a podman network PREFIX-net for the hosts of a new start."""
        state_dir.mkdir(parents=True, exist_ok=True)
        hosts.configure(state_dir)
        hosts.ensure_image(hosts.DEFAULT_CACHE_DIR)
        name = f"{prefix}-net"
        network = HostNetwork(prefix, name, hosts.allocate_network(name))
        # Recorded before anything can fail, so stop() knows what to clean up.
        write_private(state_dir / self.info_file, json.dumps({"prefix": prefix, self.network_key: name}))
        return network

    def launch(
        self,
        state_dir: Path,
        network: HostNetwork,
        set_up: Callable[[int], Info],
        timeout: float,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        errors: tuple[type[Exception], ...] = (),
    ) -> Info:
        """Run the daemon with ARGS on a free port, then SET_UP(port), which creates what start() wants in it.

        Records and returns the info SET_UP returns. If the daemon does not answer or SET_UP raises
        SandboxError or one of ERRORS, all is torn down again.
        """
        caught: tuple[type[Exception], ...] = (SandboxError, *errors)
        port = free_port()
        argv = ["--port", str(port), "--state-dir", str(state_dir), "--network", network.name]
        argv += ["--subnet", str(network.subnet), "--prefix", network.prefix, *(args or [])]
        start_python_daemon(self.daemon, self.module, argv, state_dir, env=env)
        try:
            wait_for_port(port, timeout, log=daemon_log(self.daemon, state_dir))
            info = set_up(port)
        except caught as exc:
            self.stop(state_dir)
            raise SandboxError(f"{self.title} did not come up: {exc}") from exc
        write_private(state_dir / self.info_file, json.dumps(asdict(info)))
        return info

    def stop(self, state_dir: Path) -> None:
        """Stop the daemon in STATE_DIR, then remove every host container it made, its network and its files."""
        state_dir = state_dir.resolve()
        stop_daemon(self.daemon, state_dir)
        self._remove_hosts(state_dir)
        for name in self.secret_files:
            (state_dir / name).unlink(missing_ok=True)

    def arguments(self, description: str | None) -> argparse.ArgumentParser:
        """The daemon's command line as launch() gives it; a daemon adds options of its own."""
        parser = argparse.ArgumentParser(prog=f"python -m {self.module}", description=description)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--state-dir", type=Path, required=True)
        parser.add_argument("--network", required=True, help="the podman network of the hosts")
        parser.add_argument("--subnet", required=True, help="its IPv4 subnet, where the hosts get their addresses")
        parser.add_argument("--prefix", required=True, help="containers are named PREFIX-<machine id>")
        return parser

    def _running_info(self, state_dir: Path) -> Info | None:
        """The recorded info of the provider running in STATE_DIR, if its daemon is alive and answers."""
        try:
            info = self.info_type(**json.loads((state_dir / self.info_file).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not daemon_running(self.daemon, state_dir):
            return None
        try:
            wait_for_port(self.port_of(info), 1.0)
        except SandboxError:
            return None
        return info

    def _remove_hosts(self, state_dir: Path) -> None:
        """Remove the host containers and the network the info file of STATE_DIR names, and that file."""
        path = state_dir / self.info_file
        try:
            recorded: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        hosts.configure(state_dir)
        hosts.remove_hosts(list(hosts.list_hosts(f"{recorded['prefix']}-")))
        hosts.remove_network(recorded[self.network_key])
        path.unlink(missing_ok=True)


# --- the daemon's end -------------------------------------------------------------------------------


def become_daemon(state_dir: Path) -> threading.Event:
    """Log to stderr (the daemon's log file), point podman at STATE_DIR; return what SIGTERM and SIGINT set."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    hosts.configure(state_dir)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    return stopping


def reconcile_until(
    stopping: threading.Event,
    reconciler: hosts.HostReconciler,
    every: float,
    api_alive: Callable[[], bool] = lambda: True,
) -> None:
    """Run a reconcile pass every EVERY seconds until STOPPING is set or API_ALIVE() says the API is gone."""
    while not stopping.is_set() and api_alive():
        try:
            reconciler.once()
        except reconciler.errors as exc:
            log.error("reconcile pass failed: %s", exc)
        stopping.wait(every)
