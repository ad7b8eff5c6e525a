"""The bot's commands end to end over the in-memory backend: real designs, real deployments.

Designs come from a real HTTPS server (a gist host stand-in: the public internet is not
reachable here), from the sandbox's real slapd and from files; deployments run in worker
processes against the sandbox. The real IRC and XMPP backends are tested in their own files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import ldap3
import pytest

from bot.app import Bot
from bot.backends.memory import MemoryBackend
from bot.core import Command, addressed_command
from bot.sources import SourceError, UrlPolicy, fetch_url, gist_raw_url
from orchestrator.config import Config
from sandbox import designs
from tests.integration.fixtures_designs import publish

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OPERATOR = "alice!alice@127.0.0.1"
SECOND = "bob!bob@127.0.0.1"  # another operator: the second person of a production host's change
STRANGER = "mallory!m@203.0.113.9"


@pytest.fixture(scope="module")
def bot_config(jarvis_config: Config, design_server: designs.DesignServerInfo) -> Config:
    return dataclasses.replace(
        jarvis_config,
        bot={
            "nick": "jarvis",
            "access": {"destroy": [f"test:{OPERATOR}", f"test:{SECOND}"], "status": ["test:*!*@*"]},
            "sources": {
                "urls": {"allowed_hosts": ["127.0.0.1"], "allow_private": True, "ca_file": design_server.ca_file},
                "directories": [design_server.directory],
            },
        },
    )


class Session:
    """A bot with a memory backend, run in a loop of its own; say things, wait for answers."""

    def __init__(self, config: Config) -> None:
        self.backend = MemoryBackend()
        self.bot = Bot(config, [self.backend])
        self.bot.announcer.interval = 0.05
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(self.bot.run())

    def say(self, text: str, who: str = OPERATOR, room: str | None = "#ops") -> None:
        self.loop.run_until_complete(self.backend.say(text, who=who, room=room))
        self.loop.run_until_complete(asyncio.sleep(0.05))

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 120, since: int = 0) -> str:
        """The first line said (from the SINCE-th on) that PREDICATE accepts; the bot runs meanwhile."""
        deadline = time.monotonic() + timeout
        seen = since
        while time.monotonic() < deadline:
            lines = self.backend.lines()
            for line in lines[seen:]:
                if predicate(line):
                    return line
            seen = len(lines)
            self.loop.run_until_complete(asyncio.sleep(0.1))
        raise AssertionError(f"nothing matched within {timeout}s; the bot said:\n" + "\n".join(self.backend.lines()))

    def close(self) -> None:
        self.loop.run_until_complete(self.bot.stop())
        self.loop.run_until_complete(self.task)
        self.loop.close()


@pytest.fixture
def session(bot_config: Config) -> Iterator[Session]:
    chat = Session(bot_config)
    yield chat
    chat.close()


def test_addressing() -> None:
    assert addressed_command("jarvis: deploy x", "jarvis", private=False) == Command("deploy", ["x"])
    assert addressed_command("Jarvis, status", "jarvis", private=False).name == "status"  # type: ignore[union-attr]
    assert addressed_command("status please", "jarvis", private=False) is None
    assert addressed_command("status", "jarvis", private=True).name == "status"  # type: ignore[union-attr]


def test_deploy_from_a_url_announces_every_stage_and_ready(
    session: Session, design_server: designs.DesignServerInfo
) -> None:
    session.say(f"jarvis: deploy {publish(design_server, 'baldr')}")
    started = session.wait_for(lambda line: "deploying baldr" in line)
    assert "deployment" in started
    ready = session.wait_for(lambda line: line.startswith("baldr is ready at 10.201."))
    assert "SHA256:" in ready
    stages = [line.split(": ", 1)[1].split(" - ")[0] for line in session.backend.lines() if line.startswith("baldr: ")]
    assert stages == [
        "production_check",
        "credentials",
        "instance",
        "address",
        "ssh",
        "dns",
        "mounts",
        "kernel",
        "boot_kernel",
        "root_keypair",
        "cmdb",
        "gitosis",
        "puppet_install",
        "puppet_run",
    ]
    session.say("jarvis: status baldr")
    assert session.wait_for(lambda line: line.startswith("baldr: ready at 10.201."))


def test_deploy_from_ldap(session: Session, world: dict) -> None:
    ldap = world["ldap"]
    document = (REPO / "examples" / "loki.yml").read_text().replace("loki", "forseti")
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        conn.add(
            f"cn=forseti,{ldap['hosts_dn']}",
            ["device", "jarvisHost"],
            {"cn": "forseti", "jarvisDesign": document},
        )
        assert conn.result["result"] == 0, conn.result
    finally:
        conn.unbind()
    session.say("deploy cn=forseti", room=None)
    assert session.wait_for(lambda line: "deploying forseti from cn=forseti" in line)
    assert session.wait_for(lambda line: line.startswith("forseti is ready at"))
    assert all(place.private and place.target == "alice" for place, _ in session.backend.sent)


def test_strangers_may_ask_status_but_not_deploy(session: Session, design_server: designs.DesignServerInfo) -> None:
    url = publish(design_server, "vali")
    session.say(f"jarvis: deploy {url}", who=STRANGER)
    assert (
        session.wait_for(lambda line: line.startswith("sorry"))
        == f"sorry mallory, deploying {url} needs the deploy role"
    )
    session.say("jarvis: status vali", who=STRANGER)
    assert session.wait_for(lambda line: line == "vali: no deployment recorded")
    session.say("jarvis: dance", who=STRANGER)
    assert session.wait_for(lambda line: "unknown command 'dance'" in line and "help" in line)
    session.say("jarvis: deploy /etc/passwd")
    assert session.wait_for(lambda line: "not under a design directory" in line)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("huge.yml", "limit is"),
        ("bomb.yml", "aliases"),
        ("redirect?to=https://gist.github.example/x", "not an allowed design host"),
        ("missing.yml", "404"),
    ],
)
def test_hostile_design_urls_are_refused(
    session: Session, design_server: designs.DesignServerInfo, path: str, problem: str
) -> None:
    publish(design_server, "huge", "# " + "x" * 70000)
    bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    bomb += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    publish(design_server, "bomb", "\n".join(bomb))
    session.say(f"jarvis: deploy {design_server.url}{path}")
    assert session.wait_for(lambda line: line.startswith("alice: ") and problem in line, timeout=20)
    assert "deploying" not in " ".join(session.backend.lines())


def test_url_policy_refuses_private_addresses_and_plain_http(design_server: designs.DesignServerInfo) -> None:
    strict = UrlPolicy(allowed_hosts=["127.0.0.1"], ca_file=design_server.ca_file)
    with pytest.raises(SourceError, match="loopback or private"):
        fetch_url(publish(design_server, "vali"), strict)
    with pytest.raises(SourceError, match="only https"):
        fetch_url(f"http://127.0.0.1:{design_server.port}/vali.yml", strict)
    with pytest.raises(SourceError, match="credentials in URLs"):
        fetch_url(f"https://u:p@127.0.0.1:{design_server.port}/vali.yml", strict)
    # The sandbox's CA is the only one trusted for it: without it the TLS check fails.
    untrusted = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True)
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        fetch_url(publish(design_server, "vali"), untrusted)


def test_gist_pages_become_raw_urls() -> None:
    # Pure rewriting: gist.github.com itself is on the public internet, which is not reachable here.
    assert gist_raw_url("https://gist.github.com/912450") == "https://gist.githubusercontent.com/912450/raw"
    assert gist_raw_url("https://gist.github.com/whitejs/912450") == (
        "https://gist.githubusercontent.com/whitejs/912450/raw"
    )
    assert gist_raw_url("https://example.com/912450") == "https://example.com/912450"


def test_a_restarted_bot_finishes_the_announcements(
    bot_config: Config, design_server: designs.DesignServerInfo
) -> None:
    first = Session(bot_config)
    first.say(f"jarvis: deploy {publish(design_server, 'hoenir')}")
    first.wait_for(lambda line: line.startswith("hoenir: instance"))
    first.close()  # the bot goes away mid-deployment; the worker process goes on

    second = Session(bot_config)
    try:
        assert second.wait_for(lambda line: line.startswith("hoenir is ready at"))
        announced = [line for line in first.backend.lines() + second.backend.lines() if line.startswith("hoenir: ")]
        assert len(announced) == len(set(announced)), "no stage announced twice"
    finally:
        second.close()


def test_cancel_and_status_of_everything(session: Session, design_server: designs.DesignServerInfo) -> None:
    session.say(f"jarvis: deploy {publish(design_server, 'vidar')}")
    session.wait_for(lambda line: "deploying vidar" in line)
    session.say("jarvis: status")
    assert session.wait_for(lambda line: line.startswith("vidar: running") or line.startswith("vidar: pending"))
    session.say("jarvis: cancel vidar")
    assert session.wait_for(lambda line: "canceling vidar" in line or "no deployment running" in line)


def test_redeploying_a_production_host_needs_a_second_person(
    session: Session, design_server: designs.DesignServerInfo, world: dict
) -> None:
    """The CMDB (the sandbox's slapd) says production: alice's redeploy waits until bob approves it."""
    session.say(f"jarvis: deploy {publish(design_server, 'ullr2')}")
    session.wait_for(lambda line: line.startswith("ullr2 is ready at"))
    ldap = world["ldap"]
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        conn.modify(f"cn=ullr2,{ldap['hosts_dn']}", {"jarvisProduction": [(ldap3.MODIFY_REPLACE, ["TRUE"])]})
    finally:
        conn.unbind()
    start = len(session.backend.lines())
    session.say("jarvis: redeploy ullr2")  # no 'confirm' step first: the approval is the one gate
    request_id = approval_asked(session, "ullr2", since=start)
    session.say(f"jarvis: approve {request_id}")
    assert session.wait_for(lambda line: "is your own request" in line, since=start).startswith(
        f"sorry alice, {request_id} (redeploying ullr2 for alice) is your own request"
    )
    session.say(f"jarvis: approve {request_id}", who=SECOND)
    approved = session.wait_for(lambda line: line.startswith(f"bob: approved {request_id}"), since=start)
    deployment_id = approved.rsplit("(deployment ", 1)[1].rstrip(")")
    assert session.wait_for(lambda line: line.startswith("ullr2: production_check"), since=start)
    assert session.wait_for(lambda line: line.startswith("ullr2 is ready at"), timeout=300, since=start)
    record = session.bot.orchestrator.store.deployment(deployment_id)
    assert record is not None and record["kind"] == "redeploy" and record["options"]["force"] is True
    assert record["options"]["approval"].startswith(f"{request_id} approved by bob (test {SECOND}) at ")
    assert record["requested_by"] == f"alice (test {OPERATOR})"


def test_destroying_a_production_host_needs_a_second_person(session: Session) -> None:
    """ullr2, redeployed by the test above and still in production, is destroyed from chat."""
    session.say("jarvis: destroy ullr2")
    assert session.wait_for(lambda line: "say destroy <host> confirm" in line)
    session.say("jarvis: destroy nobody-here confirm")
    assert session.wait_for(lambda line: line.startswith("nobody-here: no deployment recorded"))
    start = len(session.backend.lines())
    session.say("jarvis: destroy ullr2 confirm")
    request_id = approval_asked(session, "ullr2", since=start)
    assert not any("destroying ullr2" in line for line in session.backend.lines()[start:])
    session.say(f"jarvis: approve {request_id}", who=SECOND)
    assert session.wait_for(lambda line: line.startswith(f"bob: approved {request_id}: destroying ullr2 for alice"))
    assert session.wait_for(lambda line: line.startswith("ullr2: forget"), since=start)
    assert session.wait_for(lambda line: line.startswith("ullr2 is destroyed"), timeout=300, since=start)
    session.say("jarvis: status ullr2")
    assert session.wait_for(lambda line: line.startswith("ullr2: destroyed at"))


def approval_asked(session: Session, host: str, since: int) -> str:
    """The request id of the approval the bot asked for about HOST (said from the SINCE-th line on)."""
    line = session.wait_for(lambda line: line.startswith(f"{host} is in production: a second person"), since=since)
    match = re.fullmatch(
        rf"{host} is in production: a second person with the destroy role must say 'approve (r-[0-9a-f]{{6}})' "
        r"within 15 minutes",
        line,
    )
    assert match, line
    return match[1]
