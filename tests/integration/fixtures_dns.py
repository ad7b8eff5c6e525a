"""Session fixtures for the DNS and SSH host-key tests: a real named and a real sshd on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox import named
from sandbox._process import SandboxError, free_port, start_daemon, stop_daemon, wait_for_port

__all__ = ["SshdServer", "named_server", "sshd_server"]

SSHD = "/usr/sbin/sshd"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")


@dataclass(frozen=True)
class SshdServer:
    """A running sshd and the host key files it serves, for comparing scans with ssh-keygen."""

    host: str
    port: int
    host_keys: dict[str, Path]  # key type (ed25519, ecdsa, rsa) -> private key file; ".pub" beside it


@pytest.fixture(scope="session")
def named_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[named.DnsInfo]:
    """A named serving websages.com and 201.10.in-addr.arpa, updatable with its TSIG key."""
    state_dir = tmp_path_factory.mktemp("named")
    info = named.start(state_dir)
    try:
        yield info
    finally:
        named.stop(state_dir)


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    """An sshd on 127.0.0.1 with its own ed25519, ecdsa and RSA host keys."""
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        raise SandboxError("OpenSSH is not installed: apt-get install openssh-server openssh-client")
    run_dir = tmp_path_factory.mktemp("sshd")
    keys = {}
    for key_type in HOST_KEY_TYPES:
        key = run_dir / f"ssh_host_{key_type}_key"
        bits = ["-b", "2048"] if key_type == "rsa" else []
        subprocess.run(["ssh-keygen", "-q", "-t", key_type, *bits, "-N", "", "-C", "", "-f", str(key)], check=True)
        keys[key_type] = key
    port = free_port()
    config = run_dir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                *(f"HostKey {key}" for key in keys.values()),
                f"PidFile {run_dir / 'sshd.run.pid'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    start_daemon("sshd", [SSHD, "-D", "-e", "-f", str(config)], run_dir)
    try:
        wait_for_port(port, timeout=10, log=run_dir / "sshd.log")
        yield SshdServer("127.0.0.1", port, keys)
    finally:
        stop_daemon("sshd", run_dir)
