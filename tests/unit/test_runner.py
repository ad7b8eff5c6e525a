"""The deployment runner with a scripted executor: what a run records, and what a resume hands back.

The executor here plays the events a playbook would send (the real playbook runs in the integration
tests); what is checked is the runner's part: recording, the lease, the stage tracker's outcome, and the
job a resume builds (its stages and the variables the first run's findings become).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import Config
from orchestrator.design import parse_design
from orchestrator.errors import DeploymentError
from orchestrator.job import CancelCheck, EventHandler, Job
from orchestrator.report import status_text
from orchestrator.run_options import DEFAULT_RUN, RunOptions
from orchestrator.runner import DeploymentRunner
from orchestrator.service import Orchestrator
from orchestrator.store import DeploymentStore

TASKS = "/x/ansible_collections/jarvis/deploy/roles/pipeline/tasks"
DESIGN = """
instance: {hostname: loki, fqdn: loki.example.com, provider: EC2, guestid: ami-0123456789abcdef0,
           datacenter: Atlanta, size: 512}
"""
INSTANCE = {"id": "i-1", "state": "running", "private_ip": "10.0.0.5", "public_ip": None}


def event(kind: str, stage: str, action: str = "jarvis.deploy.ec2_instance", **result: Any) -> dict[str, Any]:
    data = {"host": "loki", "task_path": f"{TASKS}/{stage}.yml:3", "task_action": action, "res": result}
    return {"event": kind, "event_data": data}


class Scripted:
    """Plays EVENTS for every job and ends with STATUS; keeps the jobs it was given."""

    runs_here = True

    def __init__(self, events: list[dict[str, Any]], status: str) -> None:
        self.events, self.status, self.jobs = events, status, list[Job]()

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        self.jobs.append(job)
        for item in self.events:
            on_event(item)
        return self.status


FAILS_AT_SSH = [
    event("runner_on_start", "instance"),
    event("runner_on_ok", "instance", changed=True, instance=INSTANCE),
    event("runner_on_start", "address", "ansible.builtin.set_fact"),
    event("runner_on_ok", "address", "ansible.builtin.set_fact", ansible_facts={"jarvis_ip": "10.0.0.5"}),
    event("runner_on_start", "ssh", "jarvis.deploy.ssh_hostkeys"),
    event("runner_on_failed", "ssh", "jarvis.deploy.ssh_hostkeys", msg="timed out waiting for port 22"),
]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(home=tmp_path / "home")


def run(config: Config, executor: Scripted, options: RunOptions = DEFAULT_RUN) -> str:
    runner = DeploymentRunner(config, DeploymentStore(config.store_path), executor)
    running = runner.start(parse_design(DESIGN, "loki.yml"), "alice (irc)", options)
    return running.wait(timeout=30)


def test_a_failed_stage_is_recorded_with_its_reason_and_what_came_before(config: Config) -> None:
    assert run(config, Scripted(FAILS_AT_SSH, "failed")) == "failed"
    loki = DeploymentStore(config.store_path).host_status("loki")
    states = {stage.stage: stage.state for stage in loki.stages}
    assert (loki.state, loki.stage, loki.reason) == ("failed", "ssh", "timed out waiting for port 22")
    assert states["validate"] == "ok" and states["instance"] == "changed" and states["dns"] == "not_run"
    assert loki.facts["instance_id"] == "i-1" and loki.facts["ip"] == "10.0.0.5"


def test_a_resume_runs_from_the_failed_stage_with_what_the_first_run_learned(config: Config) -> None:
    first = Scripted(FAILS_AT_SSH, "failed")
    run(config, first)
    store = DeploymentStore(config.store_path)
    runner = DeploymentRunner(config, store, again := Scripted([], "successful"))
    resumed = runner.run_recorded(runner.record_resume("loki", "bob (irc)"))
    resumed.wait(timeout=30)
    (job,) = again.jobs
    # the guard, the cheap credentials stage (it hands a provider its stored password), then from the failed one
    assert [stage.id for stage in job.stages][:3] == ["production_check", "credentials", "ssh"]
    variables = job.host_vars["loki"]
    assert variables["jarvis_instance"] == INSTANCE
    assert variables["jarvis_ip"] == variables["ansible_host"] == "10.0.0.5"
    assert store.deployment(resumed.id)["options"]["from_stage"] == "ssh"


def test_a_host_that_ended_ready_is_not_resumed(config: Config) -> None:
    done = [event("runner_on_start", "ready", "ansible.builtin.debug"), event("runner_on_ok", "ready", "debug")]
    assert run(config, Scripted(done, "successful")) == "successful"
    runner = DeploymentRunner(config, DeploymentStore(config.store_path), Scripted([], "successful"))
    with pytest.raises(DeploymentError, match="no failed or interrupted deployment to resume .ready."):
        runner.record_resume("loki", "bob (irc)")


def test_a_recorded_deployment_runs_once(config: Config) -> None:
    store = DeploymentStore(config.store_path)
    runner = DeploymentRunner(config, store, Scripted([], "successful"))
    deployment_id = runner.record(parse_design(DESIGN, "loki.yml"), "alice (irc)")
    runner.run_recorded(deployment_id).wait(timeout=30)
    with pytest.raises(DeploymentError, match="does not run again"):
        runner.run_recorded(deployment_id)


def test_the_options_asked_for_are_what_the_job_gets(config: Config) -> None:
    executor = Scripted([], "successful")
    run(config, executor, RunOptions(kind="redeploy", force=True, adopt=True))
    (job,) = executor.jobs
    assert job.kind == "redeploy" and job.stages[0].id == "production_check"
    assert job.host_vars["loki"]["jarvis_force"] is True and job.host_vars["loki"]["jarvis_adopt"] is True
    assert job.host_vars["loki"]["jarvis_production"] is False  # no CMDB configured: not production


OTHER = """\
instance: {hostname: odin, fqdn: odin.example.com, provider: EC2, guestid: ami-0123456789abcdef0,
           datacenter: Atlanta, size: 512}
"""


def test_a_deployment_beyond_the_run_slots_waits_queued_then_runs_and_a_cancel_ends_it_unrun(config: Config) -> None:
    config.parallel_runs = 1
    store = DeploymentStore(config.store_path)
    busy = DeploymentRunner(config, store, Scripted([], "successful"))
    holder = busy.record(parse_design(OTHER, "odin.yml"), "bob (irc)")
    assert store.take_run_slot(holder, 1) == 0  # another deployment holds the one slot

    executor = Scripted([], "successful")
    waiting = DeploymentRunner(config, store, executor).start(parse_design(DESIGN, "loki.yml"), "alice (irc)")
    waiting.wait(timeout=0.5)
    assert not waiting.finished
    loki = Orchestrator(config, store).host_status("loki")
    assert (loki.state, loki.queued) == ("pending", 1)
    assert "loki: queued, next for a run slot" in status_text(loki)
    store.set_deployment_state(holder, "successful")
    assert waiting.wait(timeout=30) == "successful" and len(executor.jobs) == 1

    holder = busy.record(parse_design(OTHER, "odin.yml"), "bob (irc)")
    store.take_run_slot(holder, 1)
    never = Scripted([], "successful")
    canceled = DeploymentRunner(config, store, never).start(parse_design(DESIGN, "loki.yml"), "alice (irc)")
    canceled.cancel()
    assert canceled.wait(timeout=30) == "canceled" and never.jobs == []
    assert store.host_status("loki").state == "canceled"
