"""Read a host's entry under ou=Hosts (the CMDB): what a run needs to know before it starts, and whose it is."""

from __future__ import annotations

import re
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from orchestrator.config import Config
from orchestrator.errors import DeploymentError

HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
HOST_CLASS = "jarvishost"  # the jarvis schema's object class, compared in lower case


def host_entry(config: Config, hostname: str) -> dict[str, list[str]] | None:
    """The CMDB entry of HOSTNAME (attribute -> values), None if it has none or no LDAP is configured."""
    ldap = config.credentials.get("ldap", {})
    if not ldap.get("uri") or not ldap.get("hosts_dn"):
        return None
    if not HOSTNAME.match(hostname):
        raise DeploymentError(f"{hostname!r} is not a hostname")
    server = ldap3.Server(ldap["uri"], connect_timeout=10, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, ldap.get("bind_dn"), ldap.get("bind_password"), receive_timeout=10, read_only=True)
    try:
        if not conn.bind():
            raise DeploymentError(f"cannot bind to {ldap['uri']}: {conn.result.get('description')}")
        conn.search(ldap["hosts_dn"], f"(cn={escape_filter_chars(hostname)})", attributes=["*"], size_limit=1)
        entries = list(conn.entries)
    except LDAPException as exc:
        raise DeploymentError(f"cannot read cn={hostname} from {ldap['uri']}: {type(exc).__name__}") from None
    finally:
        conn.unbind()
    if not entries:
        return None
    return {key: [str(value) for value in values] for key, values in entries[0].entry_attributes_as_dict.items()}


def entry_owner(entry: dict[str, list[str]]) -> str | None:
    """The jarvis identity (fqdn, lower case, no trailing dot) a CMDB entry was made for: its jarvisOwner, else,
    for an entry of class jarvisHost written by a jarvis older than owner marks, its jarvisFqdn; None for an
    entry jarvis did not write. The same rule as the collection's decoder (``_ldap.decode_host``)."""
    values = {key.lower(): value for key, value in entry.items()}

    def first(attribute: str) -> str | None:
        found = values.get(attribute.lower()) or [""]
        return found[0].strip().rstrip(".").lower() or None

    owner = first("jarvisOwner")
    if owner is None and HOST_CLASS in {value.lower() for value in values.get("objectclass", [])}:
        owner = first("jarvisFqdn")
    return owner


def host_owner(config: Config, hostname: str) -> str | None:
    """Whose HOSTNAME's CMDB entry is (see :func:`entry_owner`); None without an entry or a jarvis owner."""
    return entry_owner(host_entry(config, hostname) or {})


def redeploy_facts(config: Config, host: dict[str, Any]) -> dict[str, Any]:
    """Host variables of a run with production_check: the production flag and the standby, from the CMDB (or
    the design)."""
    entry = host_entry(config, str(host["hostname"])) or {}
    production = [value.upper() for value in entry.get("jarvisProduction", [])] == ["TRUE"]
    standby = (entry.get("jarvisStandby") or [str(host.get("standby") or "")])[0]
    return {"jarvis_production": production, "jarvis_standby": standby}
