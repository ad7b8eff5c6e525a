"""Leases, host locks and the reaper: a deployment whose process is gone is noticed, said and ended.

Real processes stand in for jarvis's (a child Python that is killed), and a real SQLite store.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.config import Config
from orchestrator.leases import Owner, lost, owner_of, process_start, this_process
from orchestrator.locks import HostBusy
from orchestrator.reaper import reap
from orchestrator.service import Orchestrator
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore

HOSTS = [{"hostname": "kill1", "fqdn": "kill1.example.com", "provider": "ec2"}]


def record(store: DeploymentStore, owner: Owner | None, hosts: list[dict] = HOSTS, kind: str = "deploy") -> str:
    return store.create_deployment(
        hosts, list(deploy_stages(kind)), source="kill1.yml", requested_by="alice (cli)", kind=kind, owner=owner
    )


def dead_owner() -> Owner:
    """The owner record of a process that has ended (a real one, so its pid and start time are real)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = owner_of(child.pid)
    child.wait()
    assert owner is not None
    return owner


@pytest.fixture
def store(tmp_path: Path) -> DeploymentStore:
    return DeploymentStore(tmp_path / "status.db")


def test_a_live_process_holds_its_lease_however_late_its_heartbeat() -> None:
    me = this_process()
    assert lost(me, heartbeat_at=0.0, now=time.time(), lease_seconds=5) is None
    assert process_start(me.pid) == me.started


def test_an_ended_process_or_a_reused_pid_loses_it() -> None:
    assert "ended without finishing it" in (lost(dead_owner(), time.time(), time.time(), 60) or "")
    reused = dataclasses.replace(this_process(), started=this_process().started + 1)
    assert "ended without finishing it" in (lost(reused, time.time(), time.time(), 60) or "")
    rebooted = dataclasses.replace(this_process(), boot="another-boot")
    assert "restarted" in (lost(rebooted, time.time(), time.time(), 60) or "")
    assert "older than leases" in (lost(None, None, time.time(), 60) or "")


def test_an_owner_on_another_machine_is_judged_by_its_heartbeat() -> None:
    elsewhere = dataclasses.replace(this_process(), machine="worker-2.example.com")
    now = time.time()
    assert lost(elsewhere, now - 10, now, 60) is None
    assert lost(elsewhere, now - 61, now, 60) == (
        f"its process {elsewhere.pid} on worker-2.example.com has not renewed its lease for 61 s (lease: 60 s)"
    )


def test_one_pipeline_per_host_and_the_refusal_names_the_holder(store: DeploymentStore) -> None:
    first = record(store, this_process())
    with pytest.raises(HostBusy) as refused:
        record(store, this_process(), HOSTS + [{"hostname": "odin", "fqdn": "odin.example.com", "provider": "ec2"}])
    assert str(refused.value).startswith(
        f"kill1 is held by deployment {first} (deploy asked by alice (cli), pending) since "
    )
    assert "an admin can 'jarvis unlock HOST'" in str(refused.value)
    assert store.lock_holders(["odin"]) == [], "a refused run locks nothing"
    record(store, this_process(), kind="plan")  # a plan changes nothing: it takes no lock
    store.finish_host(first, "kill1", "ready")
    second = record(store, this_process())
    store.set_deployment_state(second, "failed")
    assert store.lock_holders(["kill1"]) == []


def test_the_reaper_interrupts_what_a_dead_process_ran_and_ends_what_it_left(
    store: DeploymentStore, tmp_path: Path
) -> None:
    deployment_id = record(store, dead_owner())
    store.set_deployment_state(deployment_id, "running")
    store.start_stage(deployment_id, "kill1", "cmdb")
    # What a dead owner leaves: a process whose command line names the deployment (as ansible-playbook's does).
    runs = tmp_path / "runs"
    environment = {"AWX_ISOLATED_DATA_DIR": str(runs / deployment_id / "artifacts" / deployment_id)}
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=environment)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(runs / deployment_id)])
    (tmp_path / "private").mkdir()
    (interrupted,) = reap(store, tmp_path, lease_seconds=60)
    assert interrupted.deployment_id == deployment_id and interrupted.hosts == [("kill1", "cmdb")]
    assert leftover.pid in interrupted.ended
    assert leftover.wait(timeout=10) == -9
    assert bystander.poll() is None, "a process that merely names the run is not jarvis's run"
    bystander.kill()
    bystander.wait()
    host = store.host_status("kill1")
    assert host is not None and (host.state, host.stage) == ("interrupted", "cmdb")
    assert host.reason is not None and host.reason.startswith("jarvis lost it: its process ")
    assert {stage.stage: stage.state for stage in host.stages}["cmdb"] == "interrupted"
    (event,) = [event for event in store.events(deployment_id) if event["kind"] == "interrupted"]
    assert (event["hostname"], event["stage"]) == ("kill1", "cmdb")
    assert store.lock_holders(["kill1"]) == []
    assert reap(store, tmp_path) == [], "seen once"
    # What the dead owner would still write is ignored: the interrupted state is final.
    store.end_stage(deployment_id, "kill1", "cmdb", "ok")
    store.finish_host(deployment_id, "kill1", "ready")
    store.set_deployment_state(deployment_id, "successful")
    assert (store.host_status("kill1") or pytest.fail()).state == "interrupted"
    assert (store.deployment(deployment_id) or {}).get("state") == "interrupted"


def test_a_live_owner_is_left_alone(store: DeploymentStore, tmp_path: Path) -> None:
    deployment_id = record(store, this_process())
    assert reap(store, tmp_path) == []
    assert (store.deployment(deployment_id) or {})["state"] == "pending"


def test_unlock_interrupts_the_holder_and_says_who(tmp_path: Path) -> None:
    orchestrator = Orchestrator(Config(home=tmp_path))
    odin = {"hostname": "odin", "fqdn": "odin.example.com", "provider": "ec2"}
    deployment_id = record(orchestrator.store, this_process(), HOSTS + [odin])
    said = orchestrator.unlock("kill1", "root (cli)")
    assert said.startswith(f"unlocked kill1: kill1 is held by deployment {deployment_id} (deploy asked by alice")
    assert said.endswith("now interrupted, 'resume kill1' continues it; odin goes on")
    assert orchestrator.store.lock_holders(["kill1", "odin"])[0]["hostname"] == "odin"
    assert (orchestrator.store.host_status("kill1") or pytest.fail()).reason == "unlocked by hand by root (cli)"
    assert orchestrator.store.host_cancels(deployment_id) == {"kill1"}
    with pytest.raises(Exception, match="kill1 is not locked"):
        orchestrator.unlock("kill1", "root (cli)")


def test_chat_says_a_host_was_interrupted_and_how_to_go_on(store: DeploymentStore, tmp_path: Path) -> None:
    from bot.announcer import ENDED, event_line

    deployment_id = record(store, dead_owner())
    store.start_stage(deployment_id, "kill1", "cmdb")
    reap(store, tmp_path)
    (event,) = [event for event in store.events(deployment_id) if event["kind"] == "interrupted"]
    line = event_line(event, store)
    assert line is not None and line.startswith("kill1 INTERRUPTED at stage cmdb: jarvis lost it: its process ")
    assert line.endswith("; 'resume kill1' continues it")
    assert (store.deployment(deployment_id) or {})["state"] in ENDED, "the place that asked hears the end"


def test_a_killed_process_not_yet_collected_by_its_parent_has_lost_its_lease() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = owner_of(child.pid)
    child.kill()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":  # a zombie until waited for
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "ended without finishing it" in (lost(owner, time.time(), time.time(), 60) or "")
    child.wait()
