"""Reach the sandbox's hosts over real SSH: banner, key login, host key, gone."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

SSH_OPTIONS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "LogLevel=ERROR",
]


def make_key(directory: Path) -> Path:
    """A fresh ed25519 key pair in DIRECTORY; returns the private half (the public one is .pub)."""
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "jarvis-test", "-f", str(key)], check=True)
    return key


def read_banner(ip: str) -> bytes:
    """What IP's port 22 says first; b"" if nothing answers (a connect alone proves nothing)."""
    try:
        with socket.create_connection((ip, 22), timeout=0.5) as sock:
            sock.settimeout(1)
            return sock.recv(64)
    except OSError:
        return b""


def ssh_banner(ip: str, timeout: float = 15.0) -> bytes:
    """The SSH banner of IP, waiting for the host to come up."""
    deadline = time.monotonic() + timeout
    while not (banner := read_banner(ip)):
        if time.monotonic() > deadline:
            pytest.fail(f"no SSH on {ip}:22 after {timeout:.0f}s")
        time.sleep(0.1)
    return banner


def wait_ssh_gone(ip: str, timeout: float = 15.0) -> None:
    """Wait until IP's port 22 no longer answers (its host is off or gone)."""
    deadline = time.monotonic() + timeout
    while read_banner(ip):
        if time.monotonic() > deadline:
            pytest.fail(f"{ip}:22 still answers {timeout:.0f}s after its host went down")
        time.sleep(0.1)


def ssh(ip: str, key: Path, command: str) -> subprocess.CompletedProcess[str]:
    """Run COMMAND as root on IP, logging in with KEY, once its sshd answers (a guest IP can come first)."""
    ssh_banner(ip)
    return subprocess.run(
        ["ssh", *SSH_OPTIONS, "-i", str(key), f"root@{ip}", command], capture_output=True, text=True, timeout=30
    )


def host_key(ip: str) -> str:
    """IP's ed25519 host key ("ssh-ed25519 AAAA..."), waiting for sshd to answer."""
    ssh_banner(ip)
    scan = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", ip], capture_output=True, text=True, timeout=30, check=False
    )
    keys = [line.split(None, 1)[1] for line in scan.stdout.splitlines() if line and not line.startswith("#")]
    assert keys, f"ssh-keyscan found no ed25519 host key on {ip}: {scan.stderr}"
    return keys[0].strip()
