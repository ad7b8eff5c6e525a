"""Roles in chat: each command × each role, allowed (and done) or refused with its one-line reason.

A unit test on the command core, not on a chat network: CommandCore over a real status store and a
real Orchestrator whose worker processes are never started (tests/support/chat_world.py records the
launches instead), so what a command did is read from the store. The real backends and real
deployments are tested in tests/integration (test_bot_core.py, test_chat.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.access import ROLES, AccessControl, is_requester, may_be_same_person
from bot.backends.base import Identity
from bot.core import HELP
from orchestrator.errors import ConfigError
from tests.support.chat_world import ChatWorld, person

ALICE = person("alice", "alice@ops.example.com")  # the one whose role the matrix varies
BOB = person("bob", "bob@elsewhere.example.com")  # an admin who asked for what alice acts on


@dataclass(frozen=True)
class Case:
    """A command, the role it needs, how the world must be before it, and what it must have done."""

    name: str
    needs: str
    text: Callable[[ChatWorld], str]
    refusal: Callable[[ChatWorld], str]
    setup: Callable[[ChatWorld], object] = lambda world: None
    done: Callable[[ChatWorld, list[str]], None] = lambda world, answer: None


def launched(kind: str, **options: object) -> Callable[[ChatWorld, list[str]], None]:
    def check(world: ChatWorld, answer: list[str]) -> None:
        (record,) = world.launches()
        assert record["kind"] == kind, answer
        assert {key: record["options"].get(key) for key in options} == options

    return check


def answered(first: list[str]) -> Callable[[ChatWorld, list[str]], None]:
    def check(world: ChatWorld, answer: list[str]) -> None:
        assert answer[: len(first)] == first

    return check


def canceled(world: ChatWorld, answer: list[str]) -> None:
    (running,) = [host for host in world.store.active_hosts() if host.hostname == "loki"]
    assert world.store.cancel_requested(running.deployment_id), answer


def ask_approval(world: ChatWorld) -> None:
    world.deployed("thor", BOB)
    world.production.add("thor")
    (line,) = [line for line in world.say(BOB, "destroy thor confirm") if "'approve " in line]
    world.notes["request"] = line.split("'approve ")[1].split("'")[0]


CASES = [
    Case("help", "status", lambda w: "help", lambda w: "asking for help needs the status role",
         done=answered(HELP)),
    Case("status", "status", lambda w: "status loki", lambda w: "asking for status loki needs the status role",
         done=answered(["loki: no deployment recorded"])),
    Case("plan", "plan", lambda w: f"plan {w.design('loki')}",
         lambda w: f"planning {w.design('loki')} needs the plan role", done=launched("plan")),
    Case("deploy", "deploy", lambda w: f"deploy {w.design('loki')}",
         lambda w: f"deploying {w.design('loki')} needs the deploy role", done=launched("deploy", force=False)),
    Case("deploy adopt", "admin", lambda w: f"deploy {w.design('loki')} adopt",
         lambda w: f"deploying {w.design('loki')} with adopt (taking over what exists) needs the admin role",
         done=launched("deploy", adopt=True)),
    Case("resume", "deploy", lambda w: "resume loki", lambda w: "resuming loki needs the deploy role",
         setup=lambda w: w.deployed("loki", ALICE, "failed"), done=launched("deploy", from_stage="dns")),
    Case("cancel own", "deploy", lambda w: "cancel loki", lambda w: "canceling loki needs the deploy role",
         setup=lambda w: w.deployed("loki", ALICE, "running"), done=canceled),
    Case("cancel another's", "admin", lambda w: "cancel loki",
         lambda w: "canceling loki, which bob asked for, needs the admin role",
         setup=lambda w: w.deployed("loki", BOB, "running"), done=canceled),
    Case("redeploy", "destroy", lambda w: "redeploy loki", lambda w: "redeploying loki needs the destroy role",
         setup=lambda w: w.deployed("loki", BOB), done=launched("redeploy", force=False)),
    Case("destroy", "destroy", lambda w: "destroy loki confirm", lambda w: "destroying loki needs the destroy role",
         setup=lambda w: w.deployed("loki", BOB), done=launched("destroy", force=False)),
    Case("redeploy cluster", "destroy", lambda w: f"redeploy cluster {w.notes['cluster']}",
         lambda w: f"redeploying cluster {w.notes['cluster']} needs the destroy role",
         setup=lambda w: w.notes.update(cluster=w.deployed("loki", BOB)), done=launched("redeploy")),
    Case("destroy cluster", "destroy", lambda w: f"destroy cluster {w.notes['cluster']} confirm",
         lambda w: f"destroying cluster {w.notes['cluster']} needs the destroy role",
         setup=lambda w: w.notes.update(cluster=w.deployed("loki", BOB)), done=launched("destroy")),
    Case("approve", "destroy", lambda w: f"approve {w.notes['request']}",
         lambda w: f"approving {w.notes['request']} needs the destroy role",
         setup=ask_approval, done=launched("destroy", force=True)),
]  # fmt: skip


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_role_matrix(case: Case, role: str | None, chat_world: Callable[[dict[str, list[str]]], ChatWorld]) -> None:
    access = {"admin": ["test:bob!*@elsewhere.example.com"]}
    if role is not None:
        access[role] = [*access.get(role, []), "test:alice!alice@ops.example.com"]
    world = chat_world(access)
    case.setup(world)
    world.launched.clear()
    answer = world.say(ALICE, case.text(world))
    allowed = role is not None and ROLES.index(role) >= ROLES.index(case.needs)
    if allowed:
        assert not any(line.startswith("sorry") for line in answer), answer
        case.done(world, answer)
    else:
        assert answer == [f"sorry alice, {case.refusal(world)}"]
        assert world.launches() == []
        assert not any(world.store.cancel_requested(host.deployment_id) for host in world.store.active_hosts())


def test_roles_are_cumulative_and_old_configs_keep_their_meaning() -> None:
    """An old config's deploy role may deploy, plan, resume and ask, but no longer destroy (say so in the README)."""
    access = AccessControl.from_config({"deploy": ["test:alice!*@ops.example.com"], "status": ["test:*"]})
    assert [access.allows(ALICE, role) for role in ROLES] == [True, True, True, False, False]
    assert [access.allows(BOB, role) for role in ROLES] == [True, False, False, False, False]
    assert not access.allows(Identity("test", "", "nobody"), "status")  # an identity nobody vouches for


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("irc:alice", "not a nick!user@host mask (a nick alone is not an identity)"),
        ("irc:alice!*@*", "matches on a nick (and user name) alone, which anyone can take"),
        ("irc:alice!~alice@*", "matches on a nick (and user name) alone, which anyone can take"),
        ("irc:*!alice@*.*", "matches on a nick (and user name) alone, which anyone can take"),
        ("xmpp:alice@*", "matches a user name on any server, which anyone can register"),
        ("xmpp:alice", "is not a bare JID pattern"),
    ],
)
def test_rules_that_match_a_nick_alone_are_refused_at_config_load(rule: str, reason: str) -> None:
    with pytest.raises(ConfigError) as refused:
        AccessControl.from_config({"destroy": ["irc:*!*@ops.example.com", rule]})
    assert str(refused.value).startswith(f"bot.access.destroy: {rule!r} ")
    assert reason in str(refused.value)


def test_rules_that_name_a_host_an_account_or_everyone_load() -> None:
    access = AccessControl.from_config(
        {
            "admin": ["irc-account:whitejs", "irc:alice!~alice@ops.example.com"],
            "destroy": ["irc:*!*@ops.example.com", "xmpp:whitejs@example.com"],
            "status": ["irc:*!*@*", "xmpp:*@*", "xmpp:*@example.com"],
        }
    )
    assert access.allows(Identity("irc", "alice!~alice@ops.example.com", "alice"), "admin")
    assert access.allows(Identity("irc", "x!~y@somewhere.example.org", "x", account="whitejs"), "admin")
    assert not access.allows(Identity("irc", "alice!~alice@evil.example.org", "alice"), "deploy")
    with pytest.raises(ConfigError, match=r"bot.access.owner: unknown role \(known: status, plan, deploy"):
        AccessControl.from_config({"owner": ["irc:*!*@ops.example.com"]})


def test_the_requester_is_matched_on_its_identity_not_its_nick() -> None:
    recorded = "alice (test alice!alice@ops.example.com)"
    assert is_requester(ALICE, recorded)
    assert not is_requester(person("alice", "m@evil.example.org"), recorded)  # the nick alone is not enough
    assert not is_requester(ALICE, "alice (cli)")
    assert not is_requester(Identity("test", "", "alice"), "alice (test unverified)")
    # A nick that looks like a requester record cannot fake one: the last "(protocol id)" counts.
    assert not is_requester(person("x", "m@evil.example.org"), "bob (test alice!alice@ops.example.com) (test x!m@e)")


def test_a_new_nick_does_not_make_a_second_person() -> None:
    assert may_be_same_person(ALICE, person("alice2", "alice@ops.example.com"))
    assert may_be_same_person(Identity("irc", "a!~a@h1", "a", "acct"), Identity("irc", "b!~b@h2", "b", "acct"))
    assert may_be_same_person(ALICE, Identity("test", "", "carol"))  # unverified: could be anyone
    assert not may_be_same_person(ALICE, BOB)
    assert not may_be_same_person(Identity("xmpp", "alice@example.com", "a"), Identity("xmpp", "bob@example.com", "a"))
