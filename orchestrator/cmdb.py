"""Read a host's entry under ou=Hosts (the CMDB) before a run starts: the one reader of jarvis's own code.

The orchestrator (production flag, standby) and the bot (designs kept in LDAP) read entries here; the
connection and the decoding of an entry are the collection's (``_ldap.LdapClient``,
``_ldap.decode_host``), so that jarvis and its modules read an entry alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from orchestrator._collection import cmdb_rules
from orchestrator.config import Config
from orchestrator.errors import DeploymentError


class CmdbError(DeploymentError):
    """The CMDB could not be read (no password or secret is in the message)."""


@dataclass(frozen=True)
class Directory:
    """Where host entries are, and how to bind there."""

    uri: str
    base_dn: str
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, repr=False)
    timeout: int = 10  # seconds; ldap3 wants whole seconds


def directory_of(config: Config) -> Directory | None:
    """The CMDB of CONFIG's ldap credentials (None: no LDAP is configured)."""
    ldap = config.credentials.get("ldap", {})
    if not ldap.get("uri") or not ldap.get("hosts_dn"):
        return None
    return Directory(ldap["uri"], ldap["hosts_dn"], ldap.get("bind_dn"), ldap.get("bind_password"))


def _refuse(msg: str, **_: Any) -> NoReturn:
    raise CmdbError(msg)


def read_entry(directory: Directory, hostname: str) -> dict[str, list[str]] | None:
    """The entry of host HOSTNAME below the directory's base (attribute -> values), or None."""
    if not cmdb_rules.HOSTNAME_RE.match(hostname):
        raise CmdbError(f"{hostname!r} is not a hostname")
    params = {
        "server_uri": directory.uri,
        "bind_dn": directory.bind_dn,
        "bind_pw": directory.bind_password,
        "timeout": directory.timeout,
    }
    client = cmdb_rules.LdapClient(params, _refuse)
    try:
        client.conn.search(
            directory.base_dn,
            f"(cn={escape_filter_chars(hostname.lower())})",
            attributes=["*"],
            size_limit=2,
            time_limit=directory.timeout,
        )
        entries = list(client.conn.entries)
    except LDAPException as exc:
        raise CmdbError(f"cannot read cn={hostname} from {directory.uri}: {type(exc).__name__}") from None
    finally:
        client.unbind()
    if not entries:
        return None
    return {key: [str(value) for value in values] for key, values in entries[0].entry_attributes_as_dict.items()}


def host_facts(config: Config, hostname: str) -> dict[str, Any]:
    """HOSTNAME's CMDB facts, decoded as the collection's modules decode them (every key there; empty
    values without an entry or without LDAP)."""
    directory = directory_of(config)
    entry = read_entry(directory, hostname) if directory is not None else None
    facts: dict[str, Any] = cmdb_rules.decode_host(entry or {})
    return facts


def redeploy_facts(config: Config, host: dict[str, Any]) -> dict[str, Any]:
    """Host variables of a run with production_check: the production flag and the standby, from the CMDB (or
    the design)."""
    facts = host_facts(config, str(host["hostname"]))
    return {
        "jarvis_production": facts["production"],
        "jarvis_standby": facts["standby"] or str(host.get("standby") or ""),
    }
