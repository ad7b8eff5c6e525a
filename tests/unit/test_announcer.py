"""The announcer batches stage starts per place and remembers how far each place got."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.announcer import Announcer
from bot.backends.memory import MemoryBackend
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore


def deployment(store: DeploymentStore, name: str) -> str:
    hosts = [{"hostname": name, "fqdn": f"{name}.example.com", "provider": "ec2"}]
    deployment_id = store.create_deployment(hosts, list(deploy_stages()), source="t", requested_by="alice")
    store.set_deployment_state(deployment_id, "running")
    store.subscribe(deployment_id, "test", "#ops", private=False)
    return deployment_id


def test_stage_starts_of_several_deployments_share_a_line() -> None:
    store = DeploymentStore(":memory:")
    backend = MemoryBackend()
    announcer = Announcer(store, {"test": backend})
    first, second = deployment(store, "eir"), deployment(store, "gna")
    for deployment_id, host in ((first, "eir"), (second, "gna")):
        store.add_event(deployment_id, "running", "write DNS", host, "dns")
    store.add_event(second, "failed", "REFUSED by 127.0.0.1", "gna", "dns")
    asyncio.run(announcer.once())
    assert backend.lines() == [
        "eir, gna: dns - write DNS A, PTR and SSHFP records",
        "gna FAILED at stage dns: REFUSED by 127.0.0.1",
    ]
    asyncio.run(announcer.once())
    assert len(backend.lines()) == 2, "nothing is announced twice"

    store.set_deployment_state(second, "failed")
    asyncio.run(announcer.once())
    assert [sub["deployment_id"] for sub in store.open_subscriptions()] == [first]


def test_a_private_subscription_reaches_only_the_identity_that_asked() -> None:
    """A nick can pass to someone else; the line goes to the identity that asked there, or nowhere."""
    store = DeploymentStore(":memory:")
    backend = MemoryBackend()
    announcer = Announcer(store, {"test": backend})
    hosts = [{"hostname": "eir", "fqdn": "eir.example.com", "provider": "ec2"}]
    deployment_id = store.create_deployment(hosts, list(deploy_stages()), source="t", requested_by="alice")
    store.set_deployment_state(deployment_id, "running")
    store.subscribe(deployment_id, "test", "alice", private=True, identity="alice!alice@ops.example.com")
    backend.holders["alice"] = "alice!alice@ops.example.com"
    store.add_event(deployment_id, "running", "write DNS", "eir", "dns")
    asyncio.run(announcer.once())
    assert backend.lines("alice") == ["eir: dns - write DNS A, PTR and SSHFP records"]

    backend.holders["alice"] = "alice!m@203.0.113.9"  # alice left; mallory took the nick
    store.add_event(deployment_id, "failed", "REFUSED by 127.0.0.1", "eir", "dns")
    asyncio.run(announcer.once())
    assert backend.lines("alice") == ["eir: dns - write DNS A, PTR and SSHFP records"]
    assert [line for _, line in backend.dropped] == ["eir FAILED at stage dns: REFUSED by 127.0.0.1"]
    assert store.open_subscriptions()[0]["last_seq"] == 2, "a dropped line is not held for later"


def test_subscriptions_of_an_older_store_gain_the_identity_column(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute(
        "CREATE TABLE subscriptions (deployment_id TEXT NOT NULL, protocol TEXT NOT NULL, target TEXT NOT NULL, "
        "private INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (deployment_id, protocol, target))"
    )
    old.execute("INSERT INTO subscriptions (deployment_id, protocol, target, private) VALUES ('d1', 'irc', 'bob', 1)")
    old.commit()
    old.close()
    store = DeploymentStore(tmp_path / "old.db")
    store.subscribe("d2", "irc", "alice", private=True, identity="alice!~a@ops.example.com")
    assert [(sub["target"], sub["identity"]) for sub in store.open_subscriptions()] == [
        ("bob", ""),  # kept; it reaches whoever holds the nick, as before
        ("alice", "alice!~a@ops.example.com"),
    ]
    store.close()
