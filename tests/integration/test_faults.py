"""Crash safety against the real sandbox: kill a jarvis process, or stop a server, mid-deployment; then recover.

A few purposeful scenarios, one per victim and one per provider (the whole matrix is
tests/bench/bench_faults.py): the CLI killed right after the EC2 create call and before the store knew the
instance (a resume must find it by its owner mark, not make a second one); a worker killed at the Linode
host's address stage (its ansible-playbook lives on until the next jarvis process ends it); the
ansible-playbook itself killed at the vSphere VM's cmdb stage; slapd stopped during the cmdb stage. Each must be
shown interrupted or failed (never running), leave no process and no staged credentials, and end ready after
``jarvis resume`` with exactly one instance and DNS and the CMDB right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Config
from tests.support import faults

pytestmark = pytest.mark.integration

SCENARIOS = [
    faults.Fault("cli", "instance", "ec2"),
    faults.Fault("worker", "address", "linode"),
    faults.Fault("playbook", "cmdb", "vsphere"),
    faults.Fault("slapd", "cmdb", "ec2"),
]


@pytest.mark.parametrize("fault", SCENARIOS, ids=lambda fault: f"{fault.victim}-{fault.point}-{fault.provider}")
def test_a_fault_is_noticed_and_resume_finishes_with_one_instance(
    fault: faults.Fault, world: dict, jarvis_config: Config, jarvis_env: dict, tmp_path: Path
) -> None:
    outcome = faults.run(world, jarvis_config, jarvis_env, fault, tmp_path)
    print(faults.table([outcome]))
    expected = "failed" if fault.victim in ("playbook", "slapd") else "interrupted"
    # "address" is the moment the instance stage ends: the kill lands in address, or in ssh right after it.
    points = ("address", "ssh") if fault.point == "address" else (fault.point,)
    assert outcome.seen == expected and outcome.stage in points, (outcome.stage, outcome.reason)
    if expected == "interrupted":
        assert outcome.reason.startswith("jarvis lost it: its process "), outcome.reason
    assert outcome.leftovers == [], "nothing of the deployment runs on"
    assert outcome.staged == [], "no staged credentials are left"
    assert outcome.resumed == "ready", outcome.resume_output
    assert outcome.instances == 1, "exactly one instance at the provider"
    assert outcome.dns_ok and outcome.cmdb_ok
