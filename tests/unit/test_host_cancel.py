"""Per-host cancel: ``cancel thor`` of a run that also deploys odin stops thor alone at its next stage boundary.

Every stage block starts with a ``meta: end_host`` whose condition looks for a flag file in the run's
``jarvis_cancel_dir``; the tracker learns which host ended from the hosts the check skipped. The real
ansible-runner runs here use a stand-in for the pipeline role (local connection, debug tasks).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import ansible_runner
import pytest

from orchestrator.config import Config
from orchestrator.errors import DeploymentError
from orchestrator.events import StageTracker, Transition
from orchestrator.render import CANCEL_CONDITION, cancel_check, deployment_inventory, pipeline_play, static_playbook
from orchestrator.runner import RunningDeployment, _cancel_check, _deployment_state, _host_canceler
from orchestrator.service import Orchestrator
from orchestrator.stages import BY_ID, deploy_stages
from orchestrator.store import DeploymentStore

HOSTS = [
    {"hostname": "odin", "fqdn": "odin.example.com", "provider": "ec2"},
    {"hostname": "thor", "fqdn": "thor.example.com", "provider": "ec2"},
]
TASKS = "/x/ansible_collections/jarvis/deploy/roles/pipeline/tasks"


def tracked(hostnames: list[str] | None = None) -> tuple[DeploymentStore, str, StageTracker, list[Transition]]:
    store = DeploymentStore(":memory:")
    hosts = [host for host in HOSTS if hostnames is None or host["hostname"] in hostnames]
    deployment_id = store.create_deployment(hosts, list(deploy_stages()), source="t", requested_by="me")
    heard: list[Transition] = []
    names = [host["hostname"] for host in hosts]
    return store, deployment_id, StageTracker(store, deployment_id, names, lambda text: text, heard.append), heard


def task_start(name: str) -> dict[str, Any]:
    return {"event": "playbook_on_task_start", "event_data": {"task": name}}


def check_start(stage: str) -> dict[str, Any]:
    return task_start(cancel_check(BY_ID[stage])["name"])


def check_skipped(host: str, stage: str) -> dict[str, Any]:
    return {"event": "runner_on_skipped", "event_data": {"host": host, "task": cancel_check(BY_ID[stage])["name"]}}


def stage_task(kind: str, host: str, stage: str) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task_path": f"{TASKS}/{stage}.yml:3", "res": {}}}


def test_every_stage_starts_with_the_cancel_check_also_in_the_static_playbooks() -> None:
    for play in (pipeline_play(), static_playbook("destroy")[1]):
        blocks = [task for task in play["tasks"] if task["name"].startswith("Stage ")]
        assert blocks and all(block["block"][0]["ansible.builtin.meta"] == "end_host" for block in blocks)
        assert all(block["block"][0]["when"] == CANCEL_CONDITION for block in blocks)
    assert CANCEL_CONDITION.startswith("jarvis_cancel_dir is defined and "), "playbooks/ run without it"


def test_a_host_the_check_does_not_skip_has_ended_there() -> None:
    store, deployment_id, track, heard = tracked()
    for event in (
        check_start("credentials"),
        check_skipped("odin", "credentials"),
        check_skipped("thor", "credentials"),
    ):
        track.handle(event)
    for host in ("odin", "thor"):
        track.handle(stage_task("runner_on_start", host, "credentials"))
        track.handle(stage_task("runner_on_ok", host, "credentials"))
    track.cancel_host("thor")
    # The strategy sends a task start per host for a meta task; thor's flag is seen, so thor gets no event.
    for event in (check_start("instance"), check_skipped("odin", "instance"), check_start("instance")):
        track.handle(event)
    assert store.host_status("thor").state == "running"  # type: ignore[union-attr]  # not before every host did it
    track.handle(stage_task("runner_on_start", "odin", "instance"))  # not a task start: still the same check
    track.handle(task_start("Create the instance"))
    thor = store.host_status("thor")
    assert thor is not None and (thor.state, thor.stage, thor.reason) == (
        "canceled",
        "instance",
        "canceled alone by request",
    )
    states = {stage.stage: stage.state for stage in thor.stages}
    assert (states["credentials"], states["instance"], states["ready"]) == ("ok", "not_run", "not_run")
    assert [(t.hostname, t.stage, t.state) for t in heard if t.state == "canceled"] == [
        ("thor", "instance", "canceled")
    ]
    assert store.events(deployment_id)[-1]["kind"] == "canceled"
    assert store.host_status("odin").state == "running"  # type: ignore[union-attr]


def test_a_host_whose_flag_came_too_late_for_a_check_stops_at_the_next() -> None:
    store, _, track, _ = tracked()
    track.cancel_host("thor")
    for event in (
        check_start("credentials"),
        check_skipped("thor", "credentials"),
        check_skipped("odin", "credentials"),
    ):
        track.handle(event)
    track.handle(task_start("Make root's password"))
    assert store.host_status("thor").state == "pending"  # type: ignore[union-attr]
    track.handle(check_start("instance"))
    track.handle(check_skipped("odin", "instance"))
    track.handle({"event": "playbook_on_stats", "event_data": {}})
    assert store.host_status("thor").state == "canceled"  # type: ignore[union-attr]


def test_the_flag_is_set_from_the_store_by_the_cancel_callback(tmp_path: Path) -> None:
    store, deployment_id, track, _ = tracked()
    canceled = _cancel_check(RunningDeployment(deployment_id, ["odin", "thor"]), store, _host_canceler(track, tmp_path))
    assert canceled() is False and not list(tmp_path.iterdir())
    store.request_host_cancel(deployment_id, "thor")
    store.request_host_cancel(deployment_id, "../etc")  # not a host of the run: never a path
    time.sleep(1.05)  # the store is read at most once a second
    assert canceled() is False, "the run goes on"
    assert [path.name for path in tmp_path.iterdir()] == ["thor"]
    assert track._canceled_alone == {"thor"}


# -- real ansible-runner runs ------------------------------------------------------------------------


def run_play(tmp_path: Path, track: StageTracker, cancel_dir: Path | None) -> str:
    """The pipeline's shape (cancel check + stage tasks per stage) over two local hosts; thor sets its own
    flag during its credentials stage, as the orchestrator would mid-run."""
    tasks = tmp_path / "roles" / "pipeline" / "tasks"
    tasks.mkdir(parents=True)
    (tmp_path / "run").mkdir(exist_ok=True)
    for stage in ("credentials", "instance", "ready"):
        (tasks / f"{stage}.yml").write_text(f"- name: Do {stage}\n  ansible.builtin.debug:\n    msg: {stage}\n")
    (tasks / "credentials.yml").write_text(
        (tasks / "credentials.yml").read_text()
        + "- name: Flag thor as the orchestrator would\n"
        + "  ansible.builtin.file:\n"
        + '    path: "{{ jarvis_cancel_dir }}/{{ inventory_hostname }}"\n'
        + "    state: touch\n"
        + "    mode: '0600'\n"
        + "  when: jarvis_cancel_dir is defined and inventory_hostname == 'thor'\n"
    )
    blocks = [
        {
            "name": f"Stage {stage}",
            "block": [
                cancel_check(BY_ID[stage]),
                {"name": stage, "ansible.builtin.import_tasks": str(tasks / f"{stage}.yml")},
            ],
        }
        for stage in ("credentials", "instance", "ready")
    ]
    play = [{"name": "pipeline", "hosts": "jarvis_targets", "gather_facts": False, "tasks": blocks}]
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    site_vars = {"jarvis_cancel_dir": str(cancel_dir)} if cancel_dir else {}
    inventory = deployment_inventory(HOSTS, site_vars, {host["hostname"]: local for host in HOSTS})  # all unsafe

    def handle(event: dict[str, Any]) -> bool:
        track.handle(event)
        return True

    runner = ansible_runner.run(
        private_data_dir=str(tmp_path / "run"),
        playbook=play,
        inventory=inventory,
        event_handler=handle,
        quiet=True,
        suppress_env_files=True,
        envvars={"ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False"},
    )
    track.finish(str(runner.status))
    return str(runner.status)


def test_a_real_run_stops_the_flagged_host_at_its_next_stage_and_finishes_the_other(tmp_path: Path) -> None:
    store, deployment_id, track, _ = tracked()
    cancel_dir = tmp_path / "run" / "cancel"
    cancel_dir.mkdir(parents=True)
    track.cancel_host("thor")
    assert run_play(tmp_path, track, cancel_dir) == "successful"
    odin, thor = store.host_status("odin"), store.host_status("thor")
    assert odin is not None and odin.state == "ready"
    assert thor is not None and (thor.state, thor.stage) == ("canceled", "instance")
    assert {stage.stage: stage.state for stage in thor.stages}["credentials"] == "changed"
    assert _deployment_state("successful", deployment_id, store) == "canceled"


def test_without_a_cancel_dir_the_check_is_false_and_every_host_goes_on(tmp_path: Path) -> None:
    """As in playbooks/, AWX and remote runs: jarvis_cancel_dir is not defined."""
    store, deployment_id, track, _ = tracked()
    track.cancel_host("thor")  # asked, but no flag can be seen: nothing stops
    assert run_play(tmp_path, track, None) == "successful"
    assert [host.state for host in store.deployment_hosts(deployment_id)] == ["ready", "ready"]
    assert _deployment_state("successful", deployment_id, store) == "successful"


# -- what cancel says ----------------------------------------------------------------------------------


@pytest.fixture
def orchestrator(tmp_path: Path) -> Orchestrator:
    return Orchestrator(Config(home=tmp_path / "home"))


def test_cancel_of_a_host_alone_in_its_run_cancels_the_run(orchestrator: Orchestrator) -> None:
    store = orchestrator.store
    deployment_id = store.create_deployment(HOSTS[:1], list(deploy_stages()), source="t", requested_by="me")
    store.start_stage(deployment_id, "odin", "dns")
    assert (
        orchestrator.cancel("odin")
        == f"canceling odin (deployment {deployment_id}) at the next task boundary, in stage dns"
    )
    assert store.cancel_requested(deployment_id) and not store.host_cancels(deployment_id)


def test_cancel_of_one_host_of_a_shared_run_stops_it_alone(orchestrator: Orchestrator) -> None:
    store = orchestrator.store
    deployment_id = store.create_deployment(HOSTS, list(deploy_stages()), source="t", requested_by="me")
    store.start_stage(deployment_id, "thor", "ssh")
    assert orchestrator.cancel("thor") == (
        f"canceling thor alone (deployment {deployment_id}) at its next stage boundary, now in stage ssh; odin goes on"
    )
    assert store.host_cancels(deployment_id) == {"thor"} and not store.cancel_requested(deployment_id)
    store.finish_host(deployment_id, "odin", "failed", "boom", "dns")
    store.request_host_cancel(deployment_id, "nobody")
    assert orchestrator.cancel("thor").startswith("canceling thor (deployment"), "the last one going: the whole run"


def test_an_executor_that_cannot_see_the_flag_refuses_and_names_cancel_cluster(orchestrator: Orchestrator) -> None:
    store = orchestrator.store
    deployment_id = store.create_deployment(HOSTS, list(deploy_stages()), source="t", requested_by="me")
    orchestrator.runner.executor = SimpleNamespace()  # type: ignore[assignment]
    orchestrator.config.executor = {"type": "remote"}
    with pytest.raises(DeploymentError) as refused:
        orchestrator.cancel("odin")
    assert str(refused.value) == (
        f"odin shares deployment {deployment_id} with thor, and the remote executor cannot stop one host of a run: "
        f"'cancel cluster {deployment_id}' stops them all"
    )
    assert orchestrator.cancel_cluster(deployment_id) == (
        f"canceling deployment {deployment_id} (odin, thor) at the next task boundary"
    )
    assert store.cancel_requested(deployment_id)
