"""A real ngIRCd on loopback: the IRC network the bot talks on in the sandbox and the tests."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sandbox._process import SandboxError, write_private
from sandbox._server import Server

__all__ = ["SERVER_NAME", "IrcInfo", "restart", "start", "stop"]

SERVER_NAME = "irc.sandbox.test"  # ngIRCd refuses a server name without a dot
_SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class IrcInfo:
    """Where the sandbox's IRC server listens (plain text, no password)."""

    host: str
    port: int
    server_name: str


_SERVER = Server("ngircd", "irc.json", IrcInfo, lambda info: info.port)


def start(state_dir: Path) -> IrcInfo:
    """Start ngIRCd with its config under STATE_DIR, on the port it had before if that is free.

    If the server of STATE_DIR still runs, its IrcInfo is returned as is.
    """
    state_dir = state_dir.resolve()
    previous = _SERVER.recorded(state_dir)
    if previous is not None and _SERVER.running(state_dir):
        return previous
    return _start_on(state_dir, _SERVER.port_again(previous))


def stop(state_dir: Path) -> None:
    """Stop the ngIRCd of STATE_DIR; every client is disconnected."""
    _SERVER.stop(state_dir)


def restart(state_dir: Path) -> IrcInfo:
    """Stop and start the ngIRCd of STATE_DIR on the same port, so that clients can reconnect to it."""
    state_dir = state_dir.resolve()
    previous = _SERVER.stop_for_restart(state_dir, "IRC server")
    return _start_on(state_dir, previous.port)


def _start_on(state_dir: Path, port: int) -> IrcInfo:
    binary = shutil.which("ngircd", path=_SBIN)
    if binary is None:
        raise SandboxError("ngircd is not installed: apt-get install ngircd")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    info = IrcInfo(host="127.0.0.1", port=port, server_name=SERVER_NAME)
    conf = state_dir / "ngircd.conf"
    write_private(state_dir / "ngircd.motd", "jarvis sandbox IRC server: for tests only.\n")
    # ngIRCd reads both files as root, before it drops to nobody.
    write_private(conf, _config(state_dir, info))
    _SERVER.record(state_dir, info)

    # -n keeps it in the foreground (pid known, log to start_daemon's file); no PidFile: as nobody it
    # could not write one in STATE_DIR.
    _SERVER.launch(state_dir, [binary, "-n", "-f", str(conf)], port, _START_TIMEOUT)
    return info


def _config(state_dir: Path, info: IrcInfo) -> str:
    lines = [
        "# Written by sandbox.ngircd: the sandbox's IRC server.",
        "[Global]",
        f"\tName = {info.server_name}",
        "\tInfo = jarvis sandbox IRC server",
        "\tAdminInfo1 = jarvis sandbox",
        "\tAdminInfo2 = loopback only",
        "\tAdminEMail = root@localhost",
        f"\tListen = {info.host}",
        f"\tPorts = {info.port}",
        f"\tMotdFile = {state_dir / 'ngircd.motd'}",
        "[Limits]",
        "\tMaxConnectionsIP = 0",
        "\tMaxJoins = 0",
        "\tMaxNickLength = 30",
        # Penalties would hold every client to about one command a second: the bot rate-limits itself.
        "\tMaxPenaltyTime = 0",
        "[Options]",
        "\tPAM = no",
        "\tIdent = no",
        "\tDNS = no",
        "",
    ]
    return "\n".join(lines)
