"""The two-person rule in chat: a change to a production host waits for someone else's 'approve <id>'.

CommandCore drives a real status store (SQLite under tmp_path) and a real Orchestrator whose worker
processes are not started (tests/support/chat_world.py); the CMDB's production flag comes from the
test. tests/integration/test_bot_core.py runs the same flow against the sandbox's slapd with a real
deployment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable

import pytest

from bot.announcer import Announcer
from bot.backends.base import Place
from bot.backends.memory import MemoryBackend
from bot.config import load_bot_config
from orchestrator.errors import ConfigError
from orchestrator.runner import DeploymentRunner
from tests.support.chat_world import ChatWorld, person

ALICE = person("alice", "alice@ops.example.com")
CAROL = person("carol", "carol@ops.example.com")
BOB = person("bob", "bob@ops.example.com")  # may deploy, not destroy: so he may not approve
ACCESS = {
    "destroy": ["test:*!alice@ops.example.com", "test:*!carol@ops.example.com", "test:dave!*@*"],
    "deploy": ["test:bob!*@*"],
}
ASKED = re.compile(r"^thor is in production: a second person with the destroy role must say 'approve (r-[0-9a-f]{6})' "
                   r"within 15 minutes$")  # fmt: skip


@pytest.fixture
def world(chat_world: Callable[[dict[str, list[str]]], ChatWorld]) -> ChatWorld:
    world = chat_world(ACCESS)
    world.production.add("thor")
    return world


def asked(answer: list[str]) -> str:
    (line,) = [line for line in answer if "in production" in line]
    match = ASKED.match(line)
    assert match, line
    return match[1]


def test_a_production_deploy_waits_then_a_second_person_approves_it(world: ChatWorld) -> None:
    request_id = asked(world.say(ALICE, f"deploy {world.design('thor')}"))
    assert world.launches() == [], "nothing starts before the approval"
    request = world.store.approval(request_id)
    assert request is not None
    assert (request["state"], request["kind"], request["hosts"]) == ("pending", "deploy", ["thor"])
    assert request["requested_by"] == "alice (test alice!alice@ops.example.com)"
    assert request["expires_at"] - request["created_at"] == 15 * 60

    assert world.say(ALICE, f"approve {request_id}") == [
        f"sorry alice, {request_id} (deploying thor for alice) is your own request: a second person with the "
        "destroy role must approve it"
    ]
    renamed = person("alice_", "alice@ops.example.com")  # a new nick is not a second person
    assert world.say(renamed, f"approve {request_id}")[0].startswith(f"sorry alice_, {request_id} (deploying thor")
    assert world.say(BOB, f"approve {request_id}") == [f"sorry bob, approving {request_id} needs the destroy role"]
    assert world.launches() == []

    world.now += 60
    (answer,) = world.say(CAROL, f"approve {request_id}", Place("test", "#ops", False))
    (record,) = world.launches()
    assert answer == f"carol: approved {request_id}: deploying thor for alice (deployment {record['id']})"
    approval = f"{request_id} approved by carol (test carol!carol@ops.example.com) at 2027-01-15 08:01:00 UTC"
    assert (record["kind"], record["options"]["force"], record["options"]["approval"]) == ("deploy", True, approval)
    assert record["requested_by"] == "alice (test alice!alice@ops.example.com)", "the asker stays the requester"
    request = world.store.approval(request_id)
    assert request is not None
    assert (request["state"], request["approved_by"], request["approved_at"], request["deployment_id"]) == (
        "approved",
        "carol (test carol!carol@ops.example.com)",
        world.now,
        record["id"],
    )
    runner = DeploymentRunner(world.orchestrator.config, world.store)
    host_vars = runner._host_vars(record["kind"], record["hosts"], record["options"])
    assert host_vars["thor"]["jarvis_approval"] == approval, "the cmdb stage writes it to jarvisApproval"

    (again,) = world.say(person("dave", "dave@ops.example.com"), f"approve {request_id}")
    assert again.startswith(f"sorry dave, {request_id} (deploying thor for alice) was approved already by carol")
    assert len(world.launches()) == 1


def test_a_request_expires(world: ChatWorld) -> None:
    request_id = asked(world.say(ALICE, f"deploy {world.design('thor')}"))
    world.now += 15 * 60
    (answer,) = world.say(CAROL, f"approve {request_id}")
    assert answer == (
        f"sorry carol, {request_id} (deploying thor for alice) has expired "
        "(it was open until 2027-01-15 08:15:00 UTC): ask again"
    )
    assert world.launches() == []
    assert (world.store.approval(request_id) or {})["state"] == "expired"
    assert world.say(CAROL, "approve r-000000") == ["carol: there is no approval request r-000000"]


@pytest.mark.parametrize(
    ("kind", "text", "verb"),
    [
        ("redeploy", "redeploy thor confirm", "redeploying"),
        ("destroy", "destroy thor confirm", "destroying"),
        ("deploy", "resume thor", "resuming"),
    ],
)
def test_redeploy_destroy_and_resume_of_a_production_host_wait_too(
    world: ChatWorld, kind: str, text: str, verb: str
) -> None:
    world.deployed("thor", ALICE, "failed" if text.startswith("resume") else "ready")
    world.launched.clear()
    request_id = asked(world.say(ALICE, text))
    assert world.launches() == []
    (answer,) = world.say(CAROL, f"approve {request_id}")
    (record,) = world.launches()
    assert answer == f"carol: approved {request_id}: {verb} thor for alice (deployment {record['id']})"
    assert (record["kind"], record["options"]["force"]) == (kind, True)
    assert record["options"]["approval"].startswith(f"{request_id} approved by carol (test carol!carol@")


def test_a_cluster_with_one_production_host_waits_as_a_whole(world: ChatWorld) -> None:
    cluster = world.designs / "pair.yml"
    cluster.write_text(_pair())
    (line,) = world.say(ALICE, f"deploy {cluster}")
    assert line.startswith("thor is in production: ")
    assert world.launches() == []
    world.production.add("odin")
    (line,) = world.say(ALICE, f"deploy {cluster}")
    assert line.startswith("odin, thor are in production: ")


def _pair() -> str:
    hosts = [
        f"  - {{hostname: {name}, fqdn: {name}.example.com, provider: ec2, image: ami-0123456789abcdef0, "
        "region: us-east-1, size: t3.micro}"
        for name in ("odin", "thor")
    ]
    return "instances:\n" + "\n".join(hosts) + "\n"


def test_non_production_hosts_start_at_once_unforced(world: ChatWorld) -> None:
    (line,) = world.say(ALICE, f"deploy {world.design('loki')}")
    (record,) = world.launches()
    assert line == f"alice: deploying loki from {world.design('loki')} (deployment {record['id']})"
    assert record["options"]["force"] is False
    assert "approval" not in record["options"]


def test_after_approval_both_places_hear_it_and_a_private_asker_only_as_itself(world: ChatWorld) -> None:
    private = Place("test", "alice", True)
    request_id = asked(world.say(ALICE, f"deploy {world.design('thor')}", private))
    world.say(CAROL, f"approve {request_id}", Place("test", "#ops", False))
    (record,) = world.launches()
    subscriptions = {(sub["target"], sub["identity"]) for sub in world.store.open_subscriptions()}
    assert subscriptions == {("alice", "alice!alice@ops.example.com"), ("#ops", "")}

    # The announcer delivers alice's private lines only while the nick alice is hers.
    world.store.add_event(record["id"], "failed", "REFUSED by 127.0.0.1", "thor", "dns")
    backend = MemoryBackend()
    backend.holders["alice"] = "alice!m@evil.example.org"  # someone else took the nick
    asyncio.run(Announcer(world.store, {"test": backend}).once())
    assert backend.lines("#ops") == ["thor FAILED at stage dns: REFUSED by 127.0.0.1"]
    assert backend.lines("alice") == []
    assert [text for place, text in backend.dropped] == ["thor FAILED at stage dns: REFUSED by 127.0.0.1"]


def test_the_time_to_approve_is_configurable(world: ChatWorld) -> None:
    world.core.approval_minutes = 5
    (line,) = world.say(ALICE, f"deploy {world.design('thor')}")
    assert line.endswith("within 5 minutes")
    assert "within 5 minutes" in world.say(ALICE, "help")[-1]
    config = dataclasses.replace(world.orchestrator.config, bot={"approval_minutes": 5})
    assert load_bot_config(config).approval_minutes == 5
    assert load_bot_config(dataclasses.replace(config, bot={})).approval_minutes == 15
    for wrong in (0, "15", True, -1, 100000):
        with pytest.raises(ConfigError, match="bot.approval_minutes: expected a number of minutes"):
            load_bot_config(dataclasses.replace(config, bot={"approval_minutes": wrong}))
