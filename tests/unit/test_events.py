"""Task events become stage transitions; the store keeps them; the static playbook stays in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.events import StageTracker, Transition
from orchestrator.render import STATIC_KINDS, static_playbook, static_playbook_text
from orchestrator.stages import deploy_stages, stage_of_task_path
from orchestrator.store import DeploymentStore

REPO = Path(__file__).resolve().parents[2]
TASKS = "/x/ansible_collections/jarvis/deploy/roles/pipeline/tasks"
HOSTS = [
    {"hostname": "loki", "fqdn": "loki.example.com", "provider": "ec2"},
    {"hostname": "odin", "fqdn": "odin.example.com", "provider": "ec2"},
]


def event(kind: str, host: str, stage: str, **data: object) -> dict:
    return {"event": kind, "event_data": {"host": host, "task_path": f"{TASKS}/{stage}.yml:3", **data}}


def tracker() -> tuple[DeploymentStore, StageTracker, list[Transition]]:
    store = DeploymentStore(":memory:")
    deployment = store.create_deployment(HOSTS, list(deploy_stages()), source="t", requested_by="me")
    heard: list[Transition] = []
    redact = lambda text: text.replace("s3cret", "********")  # noqa: E731
    return store, StageTracker(store, deployment, ["loki", "odin"], redact, heard.append), heard


def test_task_paths_name_their_stage() -> None:
    assert stage_of_task_path(f"{TASKS}/dns.yml:12") == "dns"
    assert stage_of_task_path(f"{TASKS}/nonsense.yml:1") is None
    assert stage_of_task_path("/elsewhere/tasks/dns.yml:1") is None
    assert stage_of_task_path(None) is None


def test_stages_start_end_and_fail_per_host() -> None:
    store, track, heard = tracker()
    for host in ("loki", "odin"):
        track.handle(event("runner_on_start", host, "credentials"))
        track.handle(event("runner_on_ok", host, "credentials", res={"changed": True, "actions": ["made one"]}))
        track.handle(event("runner_on_start", host, "instance"))
    track.handle(event("runner_on_failed", "odin", "instance", res={"msg": "quota s3cret exceeded"}))
    track.handle(
        event(
            "runner_on_ok",
            "loki",
            "instance",
            task_action="jarvis.deploy.ec2_instance",
            res={"instance": {"id": "i-1", "private_ip": "10.0.0.4"}},
        )
    )
    track.handle(event("runner_on_start", "loki", "ready"))
    track.handle(event("runner_on_ok", "loki", "ready", res={}))
    track.finish("failed")

    loki = store.host_status("loki")
    odin = store.host_status("odin")
    assert loki is not None and odin is not None
    assert loki.state == "ready" and loki.facts["instance_id"] == "i-1"
    assert {s.stage: s.state for s in loki.stages}["credentials"] == "changed"
    assert odin.state == "failed" and odin.stage == "instance"
    assert odin.reason == "quota ******** exceeded"
    assert {s.stage: s.state for s in odin.stages}["dns"] == "not_run"
    assert [(t.hostname, t.stage, t.state) for t in heard if t.hostname == "odin"][-1] == ("odin", "instance", "failed")


def test_ignored_failures_do_not_fail_the_stage() -> None:
    store, track, _ = tracker()
    track.handle(event("runner_on_start", "loki", "ssh"))
    track.handle(event("runner_on_failed", "loki", "ssh", ignore_errors=True, res={"msg": "x"}))
    track.handle(event("runner_on_start", "loki", "ready"))
    track.handle(event("runner_on_ok", "loki", "ready", res={}))
    track.finish("successful")
    loki = store.host_status("loki")
    assert loki is not None and loki.state == "ready"


def test_a_playbook_that_ends_early_fails_the_hosts_it_left() -> None:
    store, track, _ = tracker()
    track.handle(event("runner_on_start", "loki", "dns"))
    track.finish("canceled")
    loki = store.host_status("loki")
    assert loki is not None and (loki.state, loki.stage) == ("canceled", "dns")


def test_events_of_other_hosts_and_files_are_ignored() -> None:
    store, track, heard = tracker()
    track.handle(event("runner_on_start", "stranger", "dns"))
    track.handle({"event": "runner_on_start", "event_data": {"host": "loki", "task_path": "/tmp/x.yml:1"}})
    assert heard == []


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_static_playbooks_are_generated_from_the_stage_list(kind: str) -> None:
    text = (REPO / "playbooks" / f"{kind}.yml").read_text()
    assert text == static_playbook_text(kind), "run: jarvis playbook --write playbooks"


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_every_playbook_stage_has_its_task_file(kind: str) -> None:
    tasks = REPO / "collections/ansible_collections/jarvis/deploy/roles/pipeline/tasks"
    for play in static_playbook(kind):
        for block in play["tasks"]:
            (imported,) = [task for task in block["block"] if "ansible.builtin.import_role" in task]
            name = imported["ansible.builtin.import_role"]["tasks_from"]
            assert (tasks / f"{name}.yml").exists()


def test_a_store_from_the_first_release_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "old.db")
    old.execute(
        "CREATE TABLE deployments (id TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, "
        "requested_by TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL, ended_at REAL)"
    )
    old.commit()
    old.close()
    store = DeploymentStore(tmp_path / "old.db")
    deployment = store.create_deployment(HOSTS[:1], list(deploy_stages()), source="t", requested_by="me")
    record = store.deployment(deployment)
    assert record is not None and record["hosts"] == HOSTS[:1] and record["cancel_requested"] == 0
