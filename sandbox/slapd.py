"""A real OpenLDAP server on loopback holding the CMDB (``ou=Hosts``) with the jarvis schema."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import ldap3
from ldap3.core.exceptions import LDAPException

from sandbox._process import SandboxError
from sandbox._server import Server

__all__ = ["SCHEMA", "LdapInfo", "start", "stop"]

SCHEMA = Path(__file__).resolve().parents[1] / "collections/ansible_collections/jarvis/deploy/docs/ldap/jarvis.schema"
_SYSTEM_SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
_START_TIMEOUT = 15.0


@dataclass(frozen=True)
class LdapInfo:
    """How to reach and write to the sandbox's directory (the bind is its rootdn)."""

    uri: str
    base_dn: str
    hosts_dn: str
    bind_dn: str
    bind_password: str


def _port_of(info: LdapInfo) -> int | None:
    with contextlib.suppress(ValueError):
        return int(info.uri.rsplit(":", 1)[1])
    return None


_SERVER = Server("slapd", "ldap.json", LdapInfo, _port_of)


def start(state_dir: Path, base_dn: str = "dc=websages,dc=com") -> LdapInfo:
    """Start slapd with its config and data in STATE_DIR, creating the base, ou=Hosts and ou=People.

    Starting again on the same STATE_DIR keeps the data and the admin password; if the server
    still runs, its LdapInfo is returned as is.
    """
    state_dir = state_dir.resolve()
    slapd = _find_binary("slapd")
    slappasswd = _find_binary("slappasswd")
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)

    previous = _SERVER.recorded(state_dir)
    if previous is not None and previous.base_dn != base_dn:
        raise SandboxError(f"{state_dir} holds a directory for {previous.base_dn}, not {base_dn}")
    if previous is not None and _SERVER.running(state_dir):
        return previous

    password = previous.bind_password if previous else secrets.token_urlsafe(24)
    port = _SERVER.port_again(previous)
    info = LdapInfo(
        uri=f"ldap://127.0.0.1:{port}",
        base_dn=base_dn,
        hosts_dn=f"ou=Hosts,{base_dn}",
        bind_dn=f"cn=admin,{base_dn}",
        bind_password=password,
    )
    conf = _write_config(state_dir, info, _hash_password(slappasswd, password, state_dir))
    _SERVER.record(state_dir, info)

    argv = [slapd, "-f", str(conf), "-h", f"{info.uri}/", "-d", "0"]
    _SERVER.launch(state_dir, argv, port, _START_TIMEOUT, ready=lambda: _add_base_entries(info))
    return info


def stop(state_dir: Path) -> None:
    """Stop the slapd started in STATE_DIR (its data stays for a later start)."""
    _SERVER.stop(state_dir)


def _find_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise SandboxError(f"{name} not found: apt-get install slapd ldap-utils")
    return path


def _hash_password(slappasswd: str, password: str, state_dir: Path) -> str:
    """Hash with slappasswd, reading the secret from a 0600 file so it never shows in ps."""
    secret = state_dir / "rootpw.secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password)
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv
            [slappasswd, "-h", "{SSHA}", "-T", str(secret)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        secret.unlink()
    hashed = proc.stdout.strip()
    if proc.returncode != 0 or not hashed.startswith("{SSHA}"):
        raise SandboxError(f"slappasswd failed: {proc.stderr.strip()}")
    return hashed


def _write_config(state_dir: Path, info: LdapInfo, hashed_password: str) -> Path:
    if not SCHEMA.is_file():
        raise SandboxError(f"jarvis LDAP schema missing: {SCHEMA}")
    data = state_dir / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    includes = [f"include /etc/ldap/schema/{name}.schema" for name in _SYSTEM_SCHEMAS]
    lines = [
        "# Written by sandbox.slapd: the sandbox's CMDB.",
        *includes,
        f'include "{SCHEMA}"',
        f'pidfile "{state_dir / "slapd.run.pid"}"',
        f'argsfile "{state_dir / "slapd.args"}"',
        "modulepath /usr/lib/ldap",
        "moduleload back_mdb",
        "",
        "database mdb",
        "maxsize 67108864",
        f'suffix "{info.base_dn}"',
        f'rootdn "{info.bind_dn}"',
        f"rootpw {hashed_password}",
        f'directory "{data}"',
        "index objectClass eq",
        "index cn eq",
        "",
    ]
    conf = state_dir / "slapd.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines))
    return conf


def _add_base_entries(info: LdapInfo) -> None:
    """Create the suffix entry, ou=Hosts and ou=People unless they exist already."""
    attr, _, value = info.base_dn.split(",")[0].partition("=")
    if attr.strip().lower() == "dc":
        base = (["top", "dcObject", "organization"], {"dc": value, "o": value})
    elif attr.strip().lower() == "o":
        base = (["top", "organization"], {"o": value})
    else:
        raise SandboxError(f"base DN must start with dc= or o=: {info.base_dn}")
    entries = [
        (info.base_dn, *base),
        (info.hosts_dn, ["top", "organizationalUnit"], {"ou": "Hosts"}),
        (f"ou=People,{info.base_dn}", ["top", "organizationalUnit"], {"ou": "People"}),
    ]
    server = ldap3.Server(info.uri, get_info=ldap3.NONE, connect_timeout=5)
    # slapd may accept TCP a moment before its database answers binds.
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        conn = ldap3.Connection(server, info.bind_dn, info.bind_password, receive_timeout=10)
        try:
            if conn.bind():
                break
            reason = conn.result.get("description", "bind failed")
        except LDAPException as exc:
            reason = str(exc)
        conn.unbind()
        if time.monotonic() > deadline:
            raise SandboxError(f"cannot bind to the sandbox slapd at {info.uri}: {reason}")
        time.sleep(0.05)
    try:
        for dn, classes, attrs in entries:
            if conn.add(dn, classes, attrs) or conn.result["result"] == 68:  # entryAlreadyExists
                continue
            raise SandboxError(f"cannot add {dn}: {conn.result['description']} {conn.result['message']}")
    finally:
        conn.unbind()
