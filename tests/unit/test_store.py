"""The status store on its own: a deployment's life, its locks, what an interrupt makes final, chat records."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from orchestrator.leases import this_process
from orchestrator.locks import HostBusy
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore
from orchestrator.store_schema import MIGRATIONS

HOSTS = [
    {"hostname": "odin", "fqdn": "odin.example.com", "provider": "ec2"},
    {"hostname": "thor", "fqdn": "thor.example.com", "provider": "linode"},
]


@pytest.fixture
def store(tmp_path: Path) -> DeploymentStore:
    return DeploymentStore(tmp_path / "state" / "jarvis.db")


def record(store: DeploymentStore, hosts: list[dict[str, str]] = HOSTS, kind: str = "deploy", **more: object) -> str:
    return store.create_deployment(
        hosts, list(deploy_stages(kind)), source="cluster.yml", requested_by="alice (irc)", kind=kind, **more
    )


def test_a_deployment_records_every_host_with_every_stage_pending(store: DeploymentStore) -> None:
    deployment_id = record(store)
    hosts = store.deployment_hosts(deployment_id)
    assert [host.hostname for host in hosts] == ["odin", "thor"]
    assert [stage.stage for stage in hosts[0].stages] == [stage.id for stage in deploy_stages()]
    assert {stage.state for host in hosts for stage in host.stages} == {"pending"}
    assert store.deployment(deployment_id)["state"] == "pending"


def test_stages_run_and_end_and_the_host_finishes(store: DeploymentStore) -> None:
    deployment_id = record(store)
    store.start_stage(deployment_id, "odin", "instance")
    assert store.host_status("odin").stage == "instance"
    store.end_stage(deployment_id, "odin", "instance", "changed", None, ["created i-1"])
    store.merge_facts(deployment_id, "odin", {"instance_id": "i-1"})
    store.merge_facts(deployment_id, "odin", {"ip": "10.0.0.5"})
    store.finish_host(deployment_id, "odin", "ready")
    odin = store.host_status("odin")
    states = {stage.stage: stage.state for stage in odin.stages}
    assert odin.state == "ready" and odin.facts == {"instance_id": "i-1", "ip": "10.0.0.5"}
    assert states["instance"] == "changed" and states["dns"] == "not_run"  # pending ones did not run
    assert next(stage for stage in odin.stages if stage.stage == "instance").actions == ["created i-1"]


def test_a_failed_stage_fails_its_host_with_the_reason(store: DeploymentStore) -> None:
    deployment_id = record(store)
    store.start_stage(deployment_id, "thor", "dns")
    store.end_stage(deployment_id, "thor", "dns", "failed", "REFUSED")
    thor = store.host_status("thor")
    assert (thor.state, thor.stage, thor.reason) == ("failed", "dns", "REFUSED")


def test_events_are_numbered_in_order_per_deployment(store: DeploymentStore) -> None:
    first, second = record(store, HOSTS[:1]), record(store, HOSTS[1:])
    for text in ("one", "two"):
        store.add_event(first, "running", text, "odin", "instance")
    store.add_event(second, "running", "other", "thor", "instance")
    assert [(event["seq"], event["text"]) for event in store.events(first)] == [(1, "one"), (2, "two")]
    assert [event["text"] for event in store.events(first, after=1)] == ["two"]


def test_a_second_run_on_a_held_host_is_refused_and_records_nothing(store: DeploymentStore) -> None:
    first = record(store)
    with pytest.raises(HostBusy, match="thor"):
        record(store, HOSTS[1:])
    assert [host.deployment_id for host in store.active_hosts()] == [first, first]
    record(store, HOSTS[1:], kind="plan")  # a plan changes nothing: it takes no lock
    store.finish_host(first, "thor", "ready")
    assert record(store, HOSTS[1:])  # its lock went with the host's end


def test_what_an_old_owner_writes_after_an_interrupt_is_ignored(store: DeploymentStore) -> None:
    deployment_id = record(store, owner=this_process())
    store.start_stage(deployment_id, "odin", "cmdb")
    interrupted = store.interrupt(deployment_id, "jarvis lost it")
    assert ("odin", "cmdb") in interrupted
    store.finish_host(deployment_id, "odin", "ready")
    store.merge_facts(deployment_id, "odin", {"ip": "10.0.0.9"})
    odin = store.host_status("odin")
    assert (odin.state, odin.reason) == ("interrupted", "jarvis lost it") and "ip" not in odin.facts
    assert store.cancel_requested(deployment_id)  # its playbook, if it still runs somewhere, must stop
    assert record(store)  # the hosts are free again


def test_a_claim_takes_the_lease_once(store: DeploymentStore) -> None:
    deployment_id = record(store)
    assert store.claim(deployment_id, this_process())
    assert store.deployment(deployment_id)["owner"] == this_process()


def test_the_last_build_of_a_host_and_of_a_source(store: DeploymentStore) -> None:
    cluster = record(store, design_text="instances: []", design_digest="d1", design_source="https://gist/raw/1")
    record(store, kind="plan")
    assert store.last_build("odin").deployment_id == cluster
    assert store.last_build_of_source(["https://gist/raw/1"]).deployment_id == cluster
    store.finish_host(cluster, "odin", "ready")
    pick = record(store, HOSTS[:1], options={"scope": "host"})
    assert store.last_build("odin").deployment_id == pick
    assert store.last_build_of_source(["cluster.yml"]).deployment_id == cluster  # a pick is not the cluster


def test_subscriptions_and_approvals(store: DeploymentStore) -> None:
    deployment_id = record(store)
    store.subscribe(deployment_id, "irc", "#ops", private=False)
    store.subscribe(deployment_id, "irc", "#ops", private=False)  # once
    assert [sub["target"] for sub in store.open_subscriptions()] == ["#ops"]
    store.advance_subscription(deployment_id, "irc", "#ops", 3, done=True)
    assert store.open_subscriptions() == []
    request_id = store.create_approval(
        kind="redeploy", hosts=["odin"], launch={}, requested_by="alice", requester={}, minutes=1, now=100.0
    )
    assert store.claim_approval(request_id, "bob", now=110.0) == "approved"
    assert store.claim_approval(request_id, "carol", now=111.0) == "was approved"
    late = store.create_approval(kind="destroy", hosts=["thor"], launch={}, requested_by="a", requester={}, minutes=1)
    assert store.claim_approval(late, "bob", now=10**10) == "was expired"


def test_the_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jarvis.db"
    DeploymentStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_store_of_an_older_jarvis_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE deployments (id TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, "
        "requested_by TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    db.execute("INSERT INTO deployments VALUES ('old-1', 'deploy', 'loki.yml', 'me', 'successful', 1.0)")
    db.commit()
    db.close()
    store = DeploymentStore(path)
    old = store.deployment("old-1")
    assert old is not None and old["hosts"] == [] and old["owner"] is None
    assert {column for column, _ in MIGRATIONS} <= set(old) | {"hosts_json", "options_json", "owner_json"}
