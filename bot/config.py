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

The section is checked by :class:`BotSection` (``sources.urls`` by the fields of
:class:`bot.sources.UrlPolicy`); ``access`` by :meth:`bot.access.AccessControl.from_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from bot.access import AccessControl
from bot.sources import DesignSources, LdapSource, UrlPolicy
from orchestrator import Config, NullIsDefault, Section, otherwise, parse_section, section_from_dataclass

__all__ = ["BotConfig", "BotSection", "load_bot_config"]


@dataclass
class BotConfig:
    nick: str = "jarvis"
    irc: dict[str, Any] | None = None
    xmpp: dict[str, Any] | None = None
    access: AccessControl = field(default_factory=AccessControl)
    sources: DesignSources | None = None
    approval_minutes: float = 15.0


class SourcesSection(Section):
    """``bot.sources``: where the bot may load designs from; other keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    urls: NullIsDefault[dict[str, Any]] = {}  # checked as UrlPolicy's fields
    directories: NullIsDefault[list[str]] = []
    ldap_base: str | None = None


class BotSection(Section):
    """The config's ``bot`` section."""

    unknown_key = "{section}.{key}: unknown key (known: {known})"

    nick: str = BotConfig.nick
    irc: dict[str, Any] | None = None
    xmpp: dict[str, Any] | None = None
    access: Any = None  # AccessControl.from_config words its own refusals
    sources: NullIsDefault[SourcesSection] = SourcesSection()
    # How long a second person has to approve a production host's change.
    approval_minutes: Annotated[
        float, Field(gt=0, le=24 * 60), otherwise("expected a number of minutes between 0 and 1440, got {value!r}")
    ] = BotConfig.approval_minutes


def load_bot_config(config: Config) -> BotConfig:
    """The bot's settings from CONFIG's ``bot`` section, checked; its LDAP source from ``credentials.ldap``."""
    read = parse_section(BotSection, config.bot, config.path, "bot")
    sources = read.sources
    urls = parse_section(section_from_dataclass(UrlPolicy), sources.urls, config.path, "bot.sources.urls")
    ldap_credentials = config.credentials.get("ldap", {})
    ldap_base = sources.ldap_base or ldap_credentials.get("hosts_dn")
    ldap = None
    if ldap_credentials.get("uri") and ldap_base:
        ldap = LdapSource(
            uri=ldap_credentials["uri"],
            base_dn=ldap_base,
            bind_dn=ldap_credentials.get("bind_dn"),
            bind_password=ldap_credentials.get("bind_password"),
        )
    directories = [Path(directory) for directory in sources.directories]
    return BotConfig(
        nick=read.nick,
        irc=read.irc,
        xmpp=read.xmpp,
        access=AccessControl.from_config(read.access),
        approval_minutes=read.approval_minutes,
        sources=DesignSources(UrlPolicy(**urls.model_dump()), directories, ldap, config.design_policy()),
    )
