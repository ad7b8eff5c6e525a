"""Private to sandbox: what each server on loopback (slapd, ngIRCd, Prosody, sshd, Alertmanager) does alike.

A server runs one daemon in its state dir and records how to reach it in an info file (JSON, mode
0600). The next start reads that record: to reuse the daemon if it still runs, else to take the same
port again, so that clients keep their address.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from sandbox._process import (
    SandboxError,
    daemon_log,
    daemon_running,
    free_port,
    log_tail,
    port_free,
    start_daemon,
    stop_daemon,
    stopped_on_failure,
    wait_for_port,
    write_private,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Server"]

Info = TypeVar("Info", bound="DataclassInstance")


@dataclass(frozen=True)
class Server(Generic[Info]):
    """One kind of sandbox server: its daemon's name, its info file and the port a recorded info names."""

    daemon: str  # the daemon's pid and log files are DAEMON.pid and DAEMON.log in the state dir
    info_file: str
    info_type: Callable[..., Info]
    port_of: Callable[[Info], int | None]

    def recorded(self, state_dir: Path) -> Info | None:
        """The info the last start recorded in STATE_DIR, or None when there is none (or it no longer fits)."""
        try:
            return self.info_type(**json.loads((state_dir / self.info_file).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def record(self, state_dir: Path, info: Info) -> None:
        """Record INFO in STATE_DIR, readable by its owner only (it may hold a secret)."""
        write_private(state_dir / self.info_file, json.dumps(asdict(info), indent=2))

    def running(self, state_dir: Path) -> bool:
        """Whether the daemon of STATE_DIR is alive."""
        return daemon_running(self.daemon, state_dir)

    def port_again(self, previous: Info | None) -> int:
        """The port of the PREVIOUS start when nothing took it since, else a free one."""
        port = self.port_of(previous) if previous is not None else None
        return port if port is not None and port_free(port) else free_port()

    @contextlib.contextmanager
    def starting(self, state_dir: Path, argv: list[str]) -> Iterator[None]:
        """Start ARGV as the daemon of STATE_DIR; stop it again if the block (waiting for it, seeding it) fails."""
        start_daemon(self.daemon, argv, state_dir)
        with stopped_on_failure(self.daemon, state_dir):
            yield

    def launch(
        self, state_dir: Path, argv: list[str], port: int, timeout: float, ready: Callable[[], object] = lambda: None
    ) -> None:
        """Start ARGV as the daemon of STATE_DIR, then wait until it accepts on PORT and READY() returns."""
        with self.starting(state_dir, argv):
            wait_for_port(port, timeout, log=daemon_log(self.daemon, state_dir))
            ready()

    def log_tail(self, state_dir: Path) -> str:
        """The end of the daemon's log, for an error message."""
        return log_tail(daemon_log(self.daemon, state_dir))

    def stop(self, state_dir: Path) -> None:
        """Stop the daemon of STATE_DIR; its files stay for the next start."""
        stop_daemon(self.daemon, state_dir.resolve())

    def stop_for_restart(self, state_dir: Path, what: str) -> Info:
        """Stop the WHAT of STATE_DIR to start it again, and return what its last start recorded (raise if none did)."""
        previous = self.recorded(state_dir)
        if previous is None:
            raise SandboxError(f"no {what} was started in {state_dir}")
        self.stop(state_dir)
        return previous
