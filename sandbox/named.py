"""A real BIND 9 on loopback taking TSIG-signed updates and zone transfers, for the DNS steps of a deployment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from sandbox._process import (
    SandboxError,
    daemon_log,
    daemon_running,
    free_port,
    log_tail,
    start_daemon,
    stop_daemon,
)

__all__ = ["DEFAULT_ZONES", "DnsInfo", "start", "stop"]

DEFAULT_ZONES: tuple[str, ...] = ("websages.com", "201.10.in-addr.arpa")
KEY_NAME = "jarvis-sandbox"
ALGORITHM = "hmac-sha256"
NAMESERVER = "ns1.websages.com."
_SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_INFO_FILE = "dns.json"
_DAEMON = "named"


@dataclass(frozen=True)
class DnsInfo:
    """Where the sandbox's named listens and the TSIG key that may update its zones."""

    server: str
    port: int
    tsig_key_name: str
    tsig_algorithm: str
    tsig_secret: str = field(repr=False)
    zones: list[str]

    def env(self) -> dict[str, str]:
        """The environment variables ``jarvis.deploy.dns_record`` falls back to."""
        return {
            "JARVIS_DNS_SERVER": self.server,
            "JARVIS_DNS_PORT": str(self.port),
            "JARVIS_TSIG_KEY_NAME": self.tsig_key_name,
            "JARVIS_TSIG_ALGORITHM": self.tsig_algorithm,
            "JARVIS_TSIG_SECRET": self.tsig_secret,
        }


def start(state_dir: Path, zones: Sequence[str] = DEFAULT_ZONES, timeout: float = 15.0) -> DnsInfo:
    """Start named for ZONES with its config, key and zone files under STATE_DIR; reuse one already there."""
    state_dir = state_dir.resolve()
    wanted = [z.rstrip(".").lower() for z in zones]
    running = _running_info(state_dir)
    if running is not None and running.zones == wanted:
        return running
    stop(state_dir)

    named = shutil.which("named", path=_SBIN)
    keygen = shutil.which("tsig-keygen", path=_SBIN)
    if named is None or keygen is None:
        raise SandboxError("BIND 9 is not installed: apt-get install bind9 (for named and tsig-keygen)")

    state_dir.mkdir(parents=True, exist_ok=True)
    secret = _make_secret(keygen)
    port = _free_port_not_mdns()
    _write_zones(state_dir, wanted)
    conf = state_dir / "named.conf"
    _write_private(conf, _named_conf(state_dir, port, secret, wanted))

    info = DnsInfo("127.0.0.1", port, KEY_NAME, ALGORITHM, secret, wanted)
    start_daemon(_DAEMON, [named, "-g", "-c", str(conf)], state_dir)
    try:
        _wait_until_serving(info, state_dir, timeout)
    except SandboxError:
        stop(state_dir)
        raise
    _write_private(state_dir / _INFO_FILE, json.dumps(asdict(info)))
    return info


def stop(state_dir: Path) -> None:
    """Stop the named started in STATE_DIR, if any; its files stay for inspection."""
    state_dir = state_dir.resolve()
    stop_daemon(_DAEMON, state_dir)
    (state_dir / _INFO_FILE).unlink(missing_ok=True)


def _running_info(state_dir: Path) -> DnsInfo | None:
    """The DnsInfo of a named this module already runs in STATE_DIR and that still answers."""
    info_file = state_dir / _INFO_FILE
    if not (info_file.exists() and daemon_running(_DAEMON, state_dir)):
        return None
    info = DnsInfo(**json.loads(info_file.read_text()))
    return info if _answers_soa(info, info.zones[0]) else None


def _make_secret(keygen: str) -> str:
    out = subprocess.run(  # noqa: S603 - fixed argv
        [keygen, "-a", ALGORITHM, KEY_NAME], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r'secret\s+"([^"]+)"', out)
    if match is None:
        raise SandboxError("tsig-keygen printed no secret")
    return match.group(1)


def _free_port_not_mdns() -> int:
    """A free port, never 5353 (mDNS: other software on the machine may grab it)."""
    while True:
        port = free_port()
        if port != 5353:
            return port


def _named_conf(state_dir: Path, port: int, secret: str, zones: list[str]) -> str:
    lines = [
        f'key "{KEY_NAME}" {{',
        f"    algorithm {ALGORITHM};",
        f'    secret "{secret}";',
        "};",
        "options {",
        f'    directory "{state_dir}";',
        f'    pid-file "{state_dir / "named.run.pid"}";',
        f'    session-keyfile "{state_dir / "session.key"}";',
        f'    managed-keys-directory "{state_dir}";',
        f"    listen-on port {port} {{ 127.0.0.1; }};",
        "    listen-on-v6 { none; };",
        "    recursion no;",
        "    dnssec-validation no;",
        "    notify no;",
        "    allow-transfer { none; };",
        "};",
        "controls { };",
    ]
    for zone in zones:
        lines += [
            f'zone "{zone}" {{',
            "    type primary;",
            f'    file "{_zone_file(state_dir, zone)}";',
            f"    allow-update {{ key {KEY_NAME}; }};",
            f"    allow-transfer {{ key {KEY_NAME}; }};",
            "};",
        ]
    return "\n".join(lines) + "\n"


def _zone_file(state_dir: Path, zone: str) -> Path:
    return state_dir / f"{zone}.zone"


def _write_zones(state_dir: Path, zones: list[str]) -> None:
    """Fresh zone files holding only SOA and NS (and the name server's address where it belongs)."""
    ns = dns.name.from_text(NAMESERVER)
    for zone in zones:
        origin = dns.name.from_text(zone)
        records = [
            "$TTL 3600",
            f"$ORIGIN {origin}",
            f"@ IN SOA {NAMESERVER} hostmaster.websages.com. 1 3600 600 86400 300",
            f"@ IN NS {NAMESERVER}",
        ]
        if ns.is_subdomain(origin):
            records.append(f"{ns.relativize(origin)} IN A 127.0.0.1")
        path = _zone_file(state_dir, zone)
        path.write_text("\n".join(records) + "\n")
        # A journal left from an earlier run would replay old updates over the fresh zone.
        path.with_name(path.name + ".jnl").unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read: it holds the TSIG secret."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _answers_soa(info: DnsInfo, zone: str) -> bool:
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    try:
        response = dns.query.tcp(query, info.server, port=info.port, timeout=1.0)
    except (OSError, dns.exception.DNSException):
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def _wait_until_serving(info: DnsInfo, state_dir: Path, timeout: float) -> None:
    """Wait until every zone answers its SOA: named listens before it has loaded the zones."""
    deadline = time.monotonic() + timeout
    pending = list(info.zones)
    while pending:
        if not daemon_running(_DAEMON, state_dir):
            raise SandboxError(f"named exited during start-up:\n{_log_tail(state_dir)}")
        if _answers_soa(info, pending[0]):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise SandboxError(
                f"named on 127.0.0.1:{info.port} did not serve zone {pending[0]} within {timeout:.0f}s\n"
                f"{_log_tail(state_dir)}"
            )
        time.sleep(0.05)


def _log_tail(state_dir: Path) -> str:
    return log_tail(daemon_log(_DAEMON, state_dir))
