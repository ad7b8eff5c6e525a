"""The orchestrator's side of ownership and the production guard: every run that changes or plans a host starts
with production_check, which gets the CMDB facts, the confirmation and the adoption; whose a CMDB entry is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator._collection import cmdb_rules
from orchestrator.events import StageTracker
from orchestrator.runner import DeploymentRunner, _resumed_stages
from orchestrator.stages import KINDS, deploy_stages, playbook_stages
from orchestrator.store import DeploymentStore

TASKS = "/x/ansible_collections/jarvis/deploy/roles/pipeline/tasks"
HOST = {"hostname": "db1", "fqdn": "db1.websages.com", "provider": "ec2", "standby": None}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_run_starts_with_production_check(kind: str) -> None:
    assert [stage.id for stage in deploy_stages(kind)][:2] == ["validate", "production_check"]
    assert playbook_stages(kind)[0].id == "production_check"


def test_a_resume_runs_production_check_again() -> None:
    run = [stage.id for stage in _resumed_stages("deploy", "dns")]
    assert run[:3] == ["production_check", "credentials", "dns"]
    assert "production_check" not in [stage.id for stage in _resumed_stages("deploy", "dns", skipped=True)]


def host_vars(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    runner = DeploymentRunner.__new__(DeploymentRunner)  # no executor, store or LDAP: the CMDB says nothing
    runner.config = SimpleNamespace(credentials={})  # type: ignore[assignment]
    return runner._host_vars(kind, [HOST], options)["db1"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gets_the_production_facts_the_confirmation_and_the_adoption(kind: str) -> None:
    found = host_vars(kind, {"force": False})
    found.pop("jarvis_rotate_credentials", None)  # a redeploy's own
    assert found == {"jarvis_production": False, "jarvis_standby": "", "jarvis_force": False, "jarvis_adopt": False}
    adopted = host_vars(kind, {"force": True, "adopt": True})
    assert (adopted["jarvis_force"], adopted["jarvis_adopt"]) == (True, True)


@pytest.mark.parametrize(
    ("entry", "owner"),
    [
        ({"objectClass": ["device", "jarvisHost"], "jarvisOwner": ["DB1.websages.com."]}, "db1.websages.com"),
        ({"objectClass": ["device", "ipHost", "jarvisHost"], "jarvisFqdn": ["db1.websages.com"]}, "db1.websages.com"),
        ({"objectClass": ["device"], "jarvisFqdn": ["db1.websages.com"]}, None),
        ({"objectClass": ["device", "jarvisHost"]}, None),
        ({}, None),
    ],
)
def test_a_cmdb_entry_is_owned_by_jarvis_owner_else_by_the_fqdn_of_a_jarvis_entry(
    entry: dict[str, list[str]], owner: str | None
) -> None:
    assert cmdb_rules.decode_host(entry)["owner"] == owner  # the one CMDB decoder, the collection's


def test_a_look_that_changes_nothing_adds_no_actions_to_its_stage() -> None:
    """production_check's instance lookups run in check mode with state=absent: their planned
    "terminate" is no action of the stage (changed_when: false)."""
    store = DeploymentStore(":memory:")
    deployment = store.create_deployment([HOST], list(deploy_stages()), source="t", requested_by="me")
    track = StageTracker(store, deployment, ["db1"], lambda text: text)

    def event(kind: str, **data: object) -> None:
        track.handle(
            {"event": kind, "event_data": {"host": "db1", "task_path": f"{TASKS}/production_check.yml:3", **data}}
        )

    event("runner_on_start")
    event("runner_on_ok", res={"changed": False, "actions": ["terminate instance i-0abc of db1"]})
    track.handle(
        {
            "event": "runner_on_start",
            "event_data": {"host": "db1", "task_path": f"{TASKS}/credentials.yml:3"},
        }
    )
    host = store.host_status("db1")
    assert host is not None
    check = {stage.stage: stage for stage in host.stages}["production_check"]
    assert (check.state, check.actions) == ("ok", [])
