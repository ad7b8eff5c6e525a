"""A real Prosody on loopback with a multi-user chat service, for the XMPP side of the chat bot.

Plain TCP only (no TLS, no server-to-server, no HTTP): the bot's XMPP backend and the tests'
people log in with passwords over 127.0.0.1. Rooms show occupants' real JIDs by default, so
the bot can tell who said what in a room.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sandbox._process import SandboxError, write_private
from sandbox._server import Server

__all__ = ["DOMAIN", "MUC_DOMAIN", "XmppInfo", "restart", "start", "stop"]

DOMAIN = "sandbox.test"
MUC_DOMAIN = f"conference.{DOMAIN}"
_START_TIMEOUT = 15.0
_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class XmppInfo:
    """Where the sandbox's Prosody listens, its domains, and each user's password."""

    host: str
    port: int
    domain: str
    muc_domain: str
    passwords: dict[str, str] = field(repr=False)

    def jid(self, user: str) -> str:
        """USER's bare JID on this server."""
        return f"{user}@{self.domain}"

    def room(self, name: str) -> str:
        """The JID of room NAME on this server's MUC service."""
        return f"{name}@{self.muc_domain}"


_SERVER = Server("prosody", "xmpp.json", XmppInfo, lambda info: info.port)


def start(state_dir: Path, users: dict[str, str]) -> XmppInfo:
    """Start Prosody with its config, data and log in STATE_DIR and register USERS (name → password).

    If a Prosody started in STATE_DIR still runs, it is reused (USERS are registered in it).
    A restart keeps the previous port when it is still free.
    """
    state_dir = state_dir.resolve()
    prosody, prosodyctl = _find_binary("prosody"), _find_binary("prosodyctl")
    for user in users:
        if not _USER_RE.match(user):
            raise SandboxError(f"not a plain XMPP user name: {user!r}")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    conf = state_dir / "prosody.cfg.lua"

    previous = _SERVER.recorded(state_dir)
    if previous is not None and _SERVER.running(state_dir):
        info = XmppInfo(**{**asdict(previous), "passwords": {**previous.passwords, **users}})
        _register(prosodyctl, conf, info.domain, users)
        _SERVER.record(state_dir, info)
        return info

    port = _SERVER.port_again(previous)
    passwords = {**(previous.passwords if previous else {}), **users}
    info = XmppInfo("127.0.0.1", port, DOMAIN, MUC_DOMAIN, passwords)
    _write_config(conf, state_dir, info)
    _register(prosodyctl, conf, info.domain, passwords)
    _SERVER.record(state_dir, info)

    argv = [prosody, "--config", str(conf), "-F"]
    _SERVER.launch(state_dir, argv, port, _START_TIMEOUT, ready=lambda: _wait_until_serving(info, state_dir))
    return info


def stop(state_dir: Path) -> None:
    """Stop the Prosody started in STATE_DIR; its config, accounts and port stay for a later start."""
    _SERVER.stop(state_dir)


def restart(state_dir: Path) -> XmppInfo:
    """Stop and start the Prosody of STATE_DIR again, with the same port and users (rooms are gone)."""
    state_dir = state_dir.resolve()
    previous = _SERVER.stop_for_restart(state_dir, "sandbox Prosody")
    info = start(state_dir, {})
    if info.port != previous.port:
        raise SandboxError(f"Prosody came back on port {info.port}, not {previous.port}: something took the port")
    return info


def _find_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if path is None:
        raise SandboxError(f"{name} not found: apt-get install prosody")
    return path


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of a path or name is a valid Lua string


def _write_config(conf: Path, state_dir: Path, info: XmppInfo) -> None:
    data, certs = state_dir / "data", state_dir / "certs"
    data.mkdir(mode=0o700, exist_ok=True)
    certs.mkdir(mode=0o700, exist_ok=True)
    lines = [
        "-- Written by sandbox.prosody: the sandbox's XMPP server (plain TCP on loopback only).",
        "run_as_root = true",
        f"pidfile = {_lua_string(str(state_dir / 'prosody.run.pid'))}",
        f"data_path = {_lua_string(str(data))}",
        f"certificates = {_lua_string(str(certs))}",
        'log = { { levels = { min = "info" }, to = "console" } }',
        "network_settings = { nagle = false; }",
        'interfaces = { "127.0.0.1" }',
        'local_interfaces = { "127.0.0.1" }',
        f"c2s_ports = {{ {info.port} }}",
        # Every other listener off: the sandbox must not open ports it does not use.
        "c2s_direct_tls_ports = { }",
        "legacy_ssl_ports = { }",
        "s2s_ports = { }",
        "s2s_direct_tls_ports = { }",
        "component_ports = { }",
        "http_ports = { }",
        "https_ports = { }",
        'modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "presence"; "message"; "iq"; "posix" }',
        'modules_disabled = { "s2s"; "tls" }',
        "c2s_require_encryption = false",
        "allow_unencrypted_plain_auth = true",
        'authentication = "internal_hashed"',
        'storage = "internal"',
        "",
        f"VirtualHost {_lua_string(info.domain)}",
        "",
        f'Component {_lua_string(info.muc_domain)} "muc"',
        "    muc_room_locking = false",  # else a room stays locked for its creator and a second joiner hangs
        "    muc_room_default_public_jids = true",  # occupants' real JIDs visible: the bot's identities
        "",
    ]
    write_private(conf, "\n".join(lines))


def _register(prosodyctl: str, conf: Path, domain: str, users: dict[str, str]) -> None:
    """Create (or reset the password of) each user; prosodyctl writes the account files directly."""
    for user, password in users.items():
        proc = subprocess.run(  # noqa: S603 - argv built here; the password never reaches a log
            [prosodyctl, "--config", str(conf), "register", user, domain, password],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SandboxError(f"prosodyctl could not register {user}@{domain} (exit {proc.returncode})")


def _wait_until_serving(info: XmppInfo, state_dir: Path) -> None:
    """Wait until the virtual host answers a stream header with its SASL mechanisms."""
    header = (
        f"<?xml version='1.0'?><stream:stream to='{info.domain}' version='1.0' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    ).encode()
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((info.host, info.port), timeout=2) as sock:
            sock.sendall(header)
            received = b""
            while b"</stream:features>" not in received and b"stream:error" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            with contextlib.suppress(OSError):
                sock.sendall(b"</stream:stream>")
            if b"PLAIN" in received:
                return
        time.sleep(0.05)
    raise SandboxError(
        f"Prosody on {info.host}:{info.port} does not serve {info.domain}\n{_SERVER.log_tail(state_dir)}"
    )
