"""Who may do what, by identity as the network vouches for it: IRC hostmask or account, XMPP bare JID.

Rules come from config, e.g.::

    access:
      deploy: ["irc:*!*@ops.websages.com", "irc-account:whitejs", "xmpp:whitejs@websages.com"]
      status: ["irc:*!*@*", "xmpp:*@websages.com"]

``deploy`` may deploy, redeploy, plan and cancel, and ask for status; ``status`` may only ask for
status and help. A nick alone is not an identity: IRC rules must be full ``nick!user@host`` masks.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from bot.backends.base import Identity
from orchestrator.errors import ConfigError

ROLES = ("deploy", "status")
KINDS = ("irc", "irc-account", "xmpp", "test")


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
        rules: dict[str, list[Rule]] = {role: [] for role in ROLES}
        for role, patterns in (raw or {}).items():
            if role not in ROLES:
                raise ConfigError(f"bot.access.{role}: unknown role (known: {', '.join(ROLES)})")
            for text in patterns or []:
                rules[role].append(_rule(f"bot.access.{role}", str(text)))
        return cls(rules)

    def allows(self, identity: Identity, role: str) -> bool:
        """Whether IDENTITY has ROLE; whoever may deploy may also ask for status."""
        roles = ("deploy",) if role == "deploy" else ("deploy", "status")
        return any(rule.matches(identity) for name in roles for rule in self.rules.get(name, []))


def _rule(where: str, text: str) -> Rule:
    kind, sep, pattern = text.partition(":")
    if not sep or kind not in KINDS or not pattern:
        raise ConfigError(f"{where}: {text!r} should be kind:pattern with kind one of {', '.join(KINDS)}")
    if kind == "irc" and not ("!" in pattern and "@" in pattern):
        raise ConfigError(f"{where}: {text!r} is not a nick!user@host mask (a nick alone is not an identity)")
    if kind == "xmpp" and "@" not in pattern:
        raise ConfigError(f"{where}: {text!r} is not a bare JID pattern like user@example.com")
    return Rule(kind, pattern)
