"""A remote ansible-runner worker on loopback: a real sshd that lets jarvis log in as root with a key.

jarvis's remote executor (``orchestrator.remote``) streams a job with ``ansible-runner transmit``
into ``ssh root@worker ansible-runner worker`` and reads the events back with ``ansible-runner
process``, as AWX does through Receptor. Here the "remote" machine is this one: sshd on 127.0.0.1
with its own host key, accepting only its client key (``restrict``: no pty, no forwarding), and the
worker's ``command`` is this project's venv ``ansible-runner`` (the executor puts its directory first
on the worker's ``PATH``, so the venv's ``ansible-playbook`` runs, whatever root's shell profile puts
on ``PATH``).

The machine's ``/root/.ssh`` is never read or written: ``AuthorizedKeysFile`` is in the state dir.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import _ssh
from sandbox._process import SandboxError
from sandbox._server import Server

__all__ = ["WorkerInfo", "start", "stop"]

SSHD = "/usr/sbin/sshd"
_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerInfo:
    """Where the worker's sshd listens and the client files that reach it."""

    host: str
    port: int
    user: str
    identity_file: str  # the client key authorised as root on the worker
    known_hosts: str  # the worker's host key, for StrictHostKeyChecking=yes
    command: str  # ansible-runner on the worker
    python: str  # the worker's Python with the collection's libraries
    work_dir: str  # where the worker unpacks jobs (each in its own temporary directory)

    def executor_section(self) -> dict[str, Any]:
        """The ``executor:`` section of a jarvis config that runs playbooks on this worker."""
        return {
            "type": "remote",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "identity_file": self.identity_file,
            "known_hosts": self.known_hosts,
            "command": self.command,
            "python": self.python,
            "work_dir": self.work_dir,
        }


_SERVER = Server("worker-sshd", "worker.json", WorkerInfo, lambda info: info.port)


def start(state_dir: Path, client_key: Path | None = None) -> WorkerInfo:
    """Start the worker's sshd in STATE_DIR (keys made once); reuse it when it runs already.

    CLIENT_KEY (a private key with its ``.pub`` beside it) is the key authorised to log in; by
    default the worker makes its own.
    """
    state_dir = state_dir.resolve()
    previous = _SERVER.recorded(state_dir)
    if previous is not None and _SERVER.running(state_dir):
        return previous
    _SERVER.stop(state_dir)
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
        raise SandboxError("OpenSSH is not installed: apt-get install openssh-server openssh-client")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    host_key = _ssh.keypair(state_dir / "ssh_host_ed25519_key", "")
    client_key = client_key.resolve() if client_key else _ssh.keypair(state_dir / "worker_client_key", "jarvis@sandbox")
    authorized = state_dir / "authorized_keys"
    authorized.write_text(f"restrict {_ssh.public_line(client_key)}\n")
    work_dir = state_dir / "jobs"
    work_dir.mkdir(exist_ok=True, mode=0o700)

    port = _SERVER.port_again(previous)
    known_hosts = state_dir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {_ssh.public_line(host_key)}\n")
    bin_dir = Path(sys.executable).parent
    config = state_dir / "sshd_config"
    config.write_text(
        _ssh.sshd_config(
            "an ansible-runner worker reached over SSH", port, host_key, user="root", authorized_keys=str(authorized)
        )
    )
    info = WorkerInfo(
        host="127.0.0.1",
        port=port,
        user="root",
        identity_file=str(client_key),
        known_hosts=str(known_hosts),
        command=str(bin_dir / "ansible-runner"),
        python=sys.executable,
        work_dir=str(work_dir),
    )
    _SERVER.record(state_dir, info)

    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation directory
    _SERVER.launch(state_dir, [SSHD, "-D", "-e", "-f", str(config)], port, _START_TIMEOUT)
    return info


def stop(state_dir: Path) -> None:
    """Stop the worker's sshd; keys stay for the next start."""
    _SERVER.stop(state_dir)
