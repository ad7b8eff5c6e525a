"""The config's ``bot:`` section as the bot reads it: defaults, sources, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import load_bot_config
from bot.sources import UrlPolicy
from orchestrator.config import Config
from orchestrator.errors import ConfigError

LDAP = {"uri": "ldap://ldap.example.com", "bind_dn": "cn=jarvis", "bind_password": "pw", "hosts_dn": "ou=Hosts"}


def test_an_empty_section_means_the_defaults() -> None:
    settings = load_bot_config(Config())
    assert (settings.nick, settings.irc, settings.xmpp, settings.approval_minutes) == ("jarvis", None, None, 15.0)
    assert settings.sources is not None
    assert settings.sources.url_policy == UrlPolicy()
    assert settings.sources.directories == [] and settings.sources.ldap is None
    assert not any(settings.access.rules.values())
    for empty in ({"sources": None}, {"sources": {"urls": None, "directories": None}}):
        sources = load_bot_config(Config(bot=empty)).sources
        assert sources is not None and sources.url_policy == UrlPolicy() and sources.directories == []


def test_what_the_section_says_is_read(tmp_path: Path) -> None:
    bot = {
        "nick": "jarvis2",
        "irc": {"host": "irc.example.com", "channels": ["#ops"]},
        "xmpp": {"jid": "jarvis@example.com", "password": "pw"},
        "access": {"destroy": ["irc:*!*@ops.example.com"]},
        "approval_minutes": 5,
        "sources": {
            "urls": {"allowed_hosts": ["designs.example.com"], "allow_private": True, "max_bytes": 1000, "timeout": 2},
            "directories": [str(tmp_path)],
            "ldap_base": "ou=Designs",
        },
    }
    settings = load_bot_config(Config(bot=bot, credentials={"ldap": LDAP}))
    assert (settings.nick, settings.irc, settings.xmpp) == ("jarvis2", bot["irc"], bot["xmpp"])
    assert settings.approval_minutes == 5.0
    assert [rule.pattern for rule in settings.access.rules["destroy"]] == ["*!*@ops.example.com"]
    assert settings.sources is not None
    assert settings.sources.url_policy == UrlPolicy(
        allowed_hosts=["designs.example.com"], allow_private=True, max_bytes=1000, timeout=2.0
    )
    assert settings.sources.directories == [tmp_path.resolve()]
    assert settings.sources.ldap is not None
    assert (settings.sources.ldap.uri, settings.sources.ldap.base_dn) == ("ldap://ldap.example.com", "ou=Designs")
    assert (settings.sources.ldap.bind_dn, settings.sources.ldap.bind_password) == ("cn=jarvis", "pw")


def test_the_ldap_source_defaults_to_the_credentials_hosts_dn() -> None:
    settings = load_bot_config(Config(credentials={"ldap": LDAP}))
    assert settings.sources is not None and settings.sources.ldap is not None
    assert settings.sources.ldap.base_dn == "ou=Hosts"
    no_uri = load_bot_config(Config(credentials={"ldap": {"hosts_dn": "ou=Hosts"}}))
    assert no_uri.sources is not None and no_uri.sources.ldap is None


def test_the_designs_the_bot_loads_are_held_to_the_config_policy() -> None:
    settings = load_bot_config(Config(zones=["websages.com"]))
    assert settings.sources is not None and list(settings.sources.design_policy.zones) == ["websages.com"]


@pytest.mark.parametrize(
    ("bot", "message"),
    [
        ({"nick": None}, "bot.nick must be a string"),
        ({"nikc": "x"}, "bot.nikc: unknown key (known: access, approval_minutes, irc, nick, sources, xmpp)"),
        ({"irc": ["irc.example.com"]}, "bot.irc must be a mapping"),
        ({"approval_minutes": "15"}, "bot.approval_minutes: expected a number of minutes between 0 and 1440, got '15'"),
        ({"sources": ["/srv"]}, "bot.sources must be a mapping"),
        ({"sources": {"directories": "/srv"}}, "bot.sources.directories must be a list"),
        ({"sources": {"ldap_base": 5}}, "bot.sources.ldap_base must be a string"),
        ({"sources": {"urls": ["gist.github.com"]}}, "bot.sources.urls must be a mapping"),
        (
            {"sources": {"urls": {"hosts": []}}},
            "bot.sources.urls: unknown key 'hosts' (known: allow_http, allow_private, allowed_hosts, ca_file, ",
        ),
        ({"sources": {"urls": {"max_bytes": "64k"}}}, "bot.sources.urls.max_bytes must be a whole number"),
        ({"sources": {"urls": {"allow_private": "no"}}}, "bot.sources.urls.allow_private must be true or false"),
        ({"sources": {"urls": {"allowed_hosts": "gist.github.com"}}}, "bot.sources.urls.allowed_hosts must be a list"),
        ({"access": {"owner": []}}, "bot.access.owner: unknown role"),
    ],
)
def test_every_refusal_names_the_file_and_the_key(bot: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_bot_config(Config(bot=bot, path=Path("/etc/jarvis/config.yml")))
    assert str(refused.value).removeprefix("/etc/jarvis/config.yml: ").startswith(message)


def test_without_a_file_the_refusal_names_the_key_alone() -> None:
    with pytest.raises(ConfigError, match=r"^bot\.approval_minutes: expected a number of minutes"):
        load_bot_config(Config(bot={"approval_minutes": 0}))
