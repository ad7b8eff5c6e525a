"""A real Prometheus Alertmanager on loopback: what a deployment silences while it rebuilds a host."""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sandbox._process import SandboxError, write_private
from sandbox._server import Server

__all__ = ["USERNAME", "AlertmanagerInfo", "start", "stop"]

USERNAME = "jarvis"  # the basic-auth user when start() is given a password
_BCRYPT_COST = 5  # the sandbox wants fast logins, not a strong hash of a throw-away password
# Every alert goes to a receiver that sends nothing: the sandbox only needs the silences API.
_CONFIG = """\
# Written by sandbox.alertmanager: the sandbox's Alertmanager.
route:
  receiver: "null"
receivers:
  - name: "null"
"""


@dataclass(frozen=True)
class AlertmanagerInfo:
    """Where the sandbox's Alertmanager answers, and the basic-auth login it wants (if any)."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """The environment variables ``jarvis.deploy.alertmanager_silence`` falls back to."""
        env = {"JARVIS_ALERTMANAGER_URL": self.url}
        if self.username is not None and self.password is not None:
            env.update(JARVIS_ALERTMANAGER_USER=self.username, JARVIS_ALERTMANAGER_PASSWORD=self.password)
        return env


_SERVER = Server("alertmanager", "alertmanager.json", AlertmanagerInfo, lambda info: int(info.url.rsplit(":", 1)[1]))


def start(state_dir: Path, password: str | None = None, timeout: float = 10.0) -> AlertmanagerInfo:
    """Start Alertmanager with its config and silences under STATE_DIR; reuse the one already running there.

    With PASSWORD, its HTTP API wants basic auth as USERNAME. Silences survive a restart (they live in
    STATE_DIR/data); the port stays the same when it is still free.
    """
    state_dir = state_dir.resolve()
    previous = _SERVER.recorded(state_dir)
    if previous is not None and previous.password == password and _SERVER.running(state_dir):
        return previous
    stop(state_dir)

    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        raise SandboxError("Alertmanager is not installed: apt-get install prometheus-alertmanager")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    port = _SERVER.port_again(previous)
    info = AlertmanagerInfo(
        url=f"http://127.0.0.1:{port}",
        username=USERNAME if password is not None else None,
        password=password,
    )
    config = state_dir / "alertmanager.yml"
    write_private(config, _CONFIG)
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={state_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # Empty: no cluster, else it gossips with any Alertmanager on the network on :9094.
        "--cluster.listen-address=",
    ]
    if password is not None:
        web_config = state_dir / "web.yml"
        write_private(web_config, f"basic_auth_users:\n  {USERNAME}: '{_bcrypt(password)}'\n")
        argv.append(f"--web.config.file={web_config}")
    with _SERVER.starting(state_dir, argv):
        _wait_until_ready(info, state_dir, timeout)
    _SERVER.record(state_dir, info)
    return info


def stop(state_dir: Path) -> None:
    """Stop the Alertmanager of STATE_DIR, if any; its silences stay on disk for the next start."""
    _SERVER.stop(state_dir)


def _wait_until_ready(info: AlertmanagerInfo, state_dir: Path, timeout: float) -> None:
    """Wait until /-/ready answers 200: the port opens a moment before the API serves."""
    request = urllib.request.Request(f"{info.url}/-/ready")
    if info.password is not None:
        login = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {login}")
    deadline = time.monotonic() + timeout
    while True:
        if not _SERVER.running(state_dir):
            raise SandboxError(f"Alertmanager exited during start-up:\n{_SERVER.log_tail(state_dir)}")
        try:
            with urllib.request.urlopen(request, timeout=1.0) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SandboxError(
                f"Alertmanager at {info.url} was not ready within {timeout:.0f}s\n{_SERVER.log_tail(state_dir)}"
            )
        time.sleep(0.05)


def _bcrypt(password: str) -> str:
    """PASSWORD's bcrypt hash, as Alertmanager's web config wants, from the system's libcrypt (no extra package)."""
    name = ctypes.util.find_library("crypt")
    if name is None:
        raise SandboxError("libcrypt is missing: apt-get install libcrypt1")
    lib = ctypes.CDLL(name)
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = cast(bytes | None, lib.crypt_gensalt(b"$2b$", _BCRYPT_COST, None, 0))
    hashed = cast(bytes | None, lib.crypt(password.encode(), salt)) if salt else None
    if not hashed or not hashed.startswith(b"$2b$"):
        raise SandboxError("libcrypt could not make a bcrypt hash")
    return hashed.decode()
