"""Who may do what, by identity as the network vouches for it: IRC hostmask or account, XMPP bare JID.

Rules come from config, one list per role, e.g.::

    access:
      admin:   ["irc-account:whitejs"]
      destroy: ["irc:*!*@ops.websages.com", "xmpp:whitejs@websages.com"]
      deploy:  ["xmpp:*@websages.com"]
      status:  ["irc:*!*@*"]

Roles are cumulative: ``admin`` ⊇ ``destroy`` ⊇ ``deploy`` ⊇ ``plan`` ⊇ ``status`` (whoever may
destroy may also deploy, plan and ask for status). A nick alone is not an identity: anyone can
take a nick, so a rule that matches on one (``irc:alice`` or ``irc:alice!*@*``) is refused when
the config is read, and so is an XMPP user name on any server (``xmpp:alice@*``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from bot.backends.base import Identity
from orchestrator import ConfigError

__all__ = ["ROLES", "AccessControl", "Rule", "asked_by", "is_requester", "may_be_same_person"]

# Weakest first: each role may do what the ones before it may.
ROLES = ("status", "plan", "deploy", "destroy", "admin")
KINDS = ("irc", "irc-account", "xmpp", "test")
_ONLY_WILDCARDS = re.compile(r"^[*?]*$")
_NO_NAME = re.compile(r"^[*?.]*$")  # a host or domain pattern that names none (*, *.*)
_REQUESTER = re.compile(r"\((\S+) (\S+)\)$")  # the end of asked_by(): "(protocol id)"


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: str

    def matches(self, identity: Identity) -> bool:
        if self.kind == "irc-account":
            return identity.protocol == "irc" and identity.account is not None and identity.account == self.pattern
        if self.kind != identity.protocol or not identity.id:
            return False
        return fnmatch.fnmatchcase(identity.id.lower(), self.pattern.lower())


@dataclass
class AccessControl:
    rules: dict[str, list[Rule]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: dict[str, list[str]] | None) -> AccessControl:
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"bot.access: expected a mapping of role to rules (roles: {', '.join(ROLES)})")
        rules: dict[str, list[Rule]] = {role: [] for role in ROLES}
        for role, patterns in (raw or {}).items():
            if role not in ROLES:
                raise ConfigError(f"bot.access.{role}: unknown role (known: {', '.join(ROLES)})")
            if patterns is not None and not isinstance(patterns, list):
                raise ConfigError(f"bot.access.{role}: expected a list of rules like irc:*!*@ops.example.com")
            for text in patterns or []:
                rules[role].append(_rule(f"bot.access.{role}", str(text)))
        return cls(rules)

    def allows(self, identity: Identity, role: str) -> bool:
        """Whether IDENTITY has ROLE, or a stronger role (ROLES are cumulative)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        stronger = ROLES[ROLES.index(role) :]
        return any(rule.matches(identity) for name in stronger for rule in self.rules.get(name, []))


def asked_by(identity: Identity) -> str:
    """How a deployment records who asked for it: ``nick (protocol id)``; the CMDB's jarvisDeployedBy."""
    return f"{identity.nick} ({identity.protocol} {identity.id or 'unverified'})"


def is_requester(identity: Identity, requested_by: str) -> bool:
    """Whether IDENTITY is the one that REQUESTED_BY (as :func:`asked_by` wrote it) names: its id, not its nick."""
    match = _REQUESTER.search(requested_by)
    if match is None or not identity.id:
        return False
    protocol, recorded = match[1], match[2]
    return protocol == identity.protocol and recorded != "unverified" and recorded.lower() == identity.id.lower()


def may_be_same_person(one: Identity, other: Identity) -> bool:
    """Whether ONE and OTHER could be the same person, for the two-person rule: anything they share counts.

    The same id, the same IRC services account, or on IRC the same user@host (a new nick does not
    make a second person). An identity the network does not vouch for counts as anyone.
    """
    if not one.id or not other.id:
        return True
    if one.protocol != other.protocol:
        return False
    if one.id.lower() == other.id.lower():
        return True
    if one.account is not None and one.account == other.account:
        return True
    return "!" in one.id and one.id.split("!", 1)[1].lower() == other.id.split("!", 1)[-1].lower()


def _rule(where: str, text: str) -> Rule:
    kind, sep, pattern = text.partition(":")
    if not sep or kind not in KINDS or not pattern:
        raise ConfigError(f"{where}: {text!r} should be kind:pattern with kind one of {', '.join(KINDS)}")
    if kind == "irc":
        if not ("!" in pattern and "@" in pattern):
            raise ConfigError(f"{where}: {text!r} is not a nick!user@host mask (a nick alone is not an identity)")
        nick, _, userhost = pattern.partition("!")
        host = userhost.rpartition("@")[2]
        if _NO_NAME.match(host) and not _ONLY_WILDCARDS.match(nick + userhost.replace("@", "")):
            raise ConfigError(
                f"{where}: {text!r} matches on a nick (and user name) alone, which anyone can take: name the host "
                "(nick!user@host.example.com), or use irc-account:NAME"
            )
    if kind == "xmpp":
        if "@" not in pattern:
            raise ConfigError(f"{where}: {text!r} is not a bare JID pattern like user@example.com")
        user, _, domain = pattern.rpartition("@")
        if _NO_NAME.match(domain) and not _ONLY_WILDCARDS.match(user):
            raise ConfigError(
                f"{where}: {text!r} matches a user name on any server, which anyone can register: "
                "name the server (user@example.com)"
            )
    return Rule(kind, pattern)
