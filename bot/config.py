"""The chat bot's part of jarvis's config file (the ``bot:`` section), read into typed settings.

bot:
  nick: jarvis
  irc: {host: irc.example.com, port: 6697, tls: true, channels: ["#ops"], password: …}
  xmpp: {jid: jarvis@example.com, password: …, rooms: [ops@conference.example.com]}
  access: {destroy: ["irc:*!*@ops.example.com", "xmpp:alice@example.com"], status: ["irc:*!*@*"]}
  approval_minutes: 15                         # how long a production host's approval request stays open
  sources:
    urls: {allowed_hosts: [gist.github.com, gist.githubusercontent.com], allow_private: false,
           max_bytes: 65536, timeout: 10, ca_file: null}
    directories: [/srv/designs]
    ldap_base: ou=Hosts,dc=example,dc=com      # default: credentials.ldap.hosts_dn
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.access import AccessControl
from bot.sources import DesignSources, LdapSource, UrlPolicy
from orchestrator.config import Config
from orchestrator.errors import ConfigError

KEYS = {"nick", "irc", "xmpp", "access", "sources", "approval_minutes"}


@dataclass
class BotConfig:
    nick: str = "jarvis"
    irc: dict[str, Any] | None = None
    xmpp: dict[str, Any] | None = None
    access: AccessControl = field(default_factory=AccessControl)
    sources: DesignSources | None = None
    approval_minutes: float = 15.0


def load_bot_config(config: Config) -> BotConfig:
    raw = config.bot
    unknown = set(raw) - KEYS
    if unknown:
        raise ConfigError(f"bot.{sorted(unknown)[0]}: unknown key (known: {', '.join(sorted(KEYS))})")
    sources = raw.get("sources") or {}
    urls = dict(sources.get("urls") or {})
    try:
        policy = UrlPolicy(**urls)
    except TypeError as exc:
        raise ConfigError(f"bot.sources.urls: {exc}") from None
    ldap_credentials = config.credentials.get("ldap", {})
    ldap_base = sources.get("ldap_base") or ldap_credentials.get("hosts_dn")
    ldap = None
    if ldap_credentials.get("uri") and ldap_base:
        ldap = LdapSource(
            uri=ldap_credentials["uri"],
            base_dn=ldap_base,
            bind_dn=ldap_credentials.get("bind_dn"),
            bind_password=ldap_credentials.get("bind_password"),
        )
    directories = [Path(directory) for directory in sources.get("directories") or []]
    return BotConfig(
        nick=str(raw.get("nick", "jarvis")),
        irc=raw.get("irc"),
        xmpp=raw.get("xmpp"),
        access=AccessControl.from_config(raw.get("access")),
        approval_minutes=_approval_minutes(raw.get("approval_minutes", 15)),
        sources=DesignSources(policy, directories, ldap, config.design_policy()),
    )


def _approval_minutes(value: object) -> float:
    """``bot.approval_minutes``: how long a second person has to approve a production host's change."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24 * 60:
        raise ConfigError(f"bot.approval_minutes: expected a number of minutes between 0 and 1440, got {value!r}")
    return float(value)
