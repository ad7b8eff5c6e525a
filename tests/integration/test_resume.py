"""Resume: a deployment that failed at puppet continues from there once the cause is fixed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator import DeploymentRunner, DeploymentStore, load_design_file
from orchestrator.config import Config
from orchestrator.errors import DeploymentError

pytestmark = pytest.mark.integration

DESIGN = {
    "instances": [
        {
            "hostname": "bil",
            "fqdn": "bil.websages.com",
            "provider": "ec2",
            "image": "Debian 12",
            "region": "Atlanta",
            "size": 512,
            # Needs a file the host does not have yet: puppet fails until someone puts it there.
            "puppet": {"manifest": "file { '/etc/jarvis-resumed': source => '/root/seed.txt' }\n"},
        }
    ]
}


def resume(env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "resume", "bil"], capture_output=True, text=True, env=env
    )


def test_resume_continues_from_the_failed_stage(
    jarvis_config: Config, jarvis_env: dict, world: dict, tmp_path: Path
) -> None:
    design = tmp_path / "bil.yml"
    design.write_text(yaml.safe_dump(DESIGN))
    store = DeploymentStore(jarvis_config.store_path)
    runner = DeploymentRunner(jarvis_config, store)
    failed_run = runner.start(load_design_file(design, jarvis_config.mappings), "pytest")
    failed_run.wait(timeout=600)
    failed = store.deployment_hosts(failed_run.id)[0]
    assert (failed.state, failed.stage) == ("failed", "puppet_run"), failed.reason
    assert failed.reason and failed.reason.startswith("puppet apply failed")

    ip = failed.facts["ip"]
    # The recorded host key is checked on a resume: a host showing another key is not logged in to.
    known_hosts = jarvis_config.home / "known_hosts" / "bil.websages.com"
    recorded = known_hosts.read_text()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    known_hosts.write_text(f"{ip} {(tmp_path / 'other.pub').read_text()}")
    pinned = resume(jarvis_env)
    assert pinned.returncode != 0
    refused = store.host_status("bil")
    assert refused is not None and (refused.state, refused.stage) == ("failed", "puppet_run")
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in (refused.reason or ""), refused.reason
    known_hosts.write_text(recorded)

    subprocess.run(
        ["ssh", "-i", world["ssh_key"], "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        + [f"root@{ip}", "echo seeded > /root/seed.txt"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    proc = resume(jarvis_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resumed = store.host_status("bil")
    assert resumed is not None and resumed.state == "ready" and resumed.deployment_id != failed.deployment_id
    assert resumed.facts["instance_id"] == failed.facts["instance_id"], "no second instance"
    states = {stage.stage: (stage.state, stage.detail) for stage in resumed.stages}
    assert states["instance"] == ("skipped", f"done in {refused.deployment_id}")
    assert states["dns"][0] == states["ssh"][0] == "skipped"
    assert states["puppet_run"][0] == "changed" and states["ready"][0] == "ok"
    started = [line.split()[3].rstrip(":") for line in proc.stdout.splitlines() if " -> " in line]
    assert started[:3] == ["production_check", "credentials", "puppet_run"], started
    with pytest.raises(DeploymentError, match="no failed or interrupted deployment to resume"):
        runner.record_resume("bil", "pytest")
