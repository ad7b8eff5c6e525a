"""One design, three providers, one ansible-runner run: a cluster deployed in one pass."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import pytest
import yaml

from orchestrator import DeploymentRunner, DeploymentStore, load_design_file
from orchestrator.config import Config

pytestmark = pytest.mark.integration

CLUSTER = {
    "defaults": {"image": "Debian 12", "region": "Atlanta", "size": 1024, "dns": {"zone": "websages.com"}},
    "instances": [
        {"hostname": "frigg", "fqdn": "frigg.websages.com", "provider": "Linode"},
        {"hostname": "sif", "fqdn": "sif.websages.com", "provider": "linode", "size": 2048},
        {"hostname": "tyr", "fqdn": "tyr.websages.com", "provider": "EC2"},
        {"hostname": "bragi", "fqdn": "bragi.websages.com", "provider": "vmware"},
    ],
}


def resolve(world: dict, name: str) -> list[str]:
    request = dns.message.make_query(name, "A")
    response = dns.query.tcp(request, world["dns"]["server"], port=world["dns"]["port"], timeout=5)
    return [rdata.to_text() for rrset in response.answer for rdata in rrset]


def test_a_mixed_cluster_deploys_in_one_run(jarvis_config: Config, world: dict, tmp_path: Path) -> None:
    design_file = tmp_path / "cluster.yml"
    design_file.write_text(yaml.safe_dump(CLUSTER))
    design = load_design_file(design_file, jarvis_config.mappings)
    store = DeploymentStore(jarvis_config.store_path)
    running = DeploymentRunner(jarvis_config, store).start(design, "pytest")
    running.wait(timeout=900)

    hosts = {host.hostname: host for host in store.deployment_hosts(running.id)}
    assert {name: host.state for name, host in hosts.items()} == dict.fromkeys(hosts, "ready"), {
        name: host.reason for name, host in hosts.items()
    }
    assert {host.provider for host in hosts.values()} == {"linode", "ec2", "vsphere"}
    runs = list((jarvis_config.runs_dir / running.id / "artifacts").iterdir())
    assert len(runs) == 1, "one ansible-runner run for the whole cluster"
    for name, host in hosts.items():
        (ip,) = resolve(world, f"{name}.websages.com")
        assert ip == host.facts["ip"]
        with socket.create_connection((ip, 22), timeout=10) as conn:
            assert conn.recv(64).startswith(b"SSH-2.0-"), name
        assert len({h.facts["ip"] for h in hosts.values()}) == len(hosts)


def test_one_failing_host_does_not_stop_the_others(jarvis_env: dict, tmp_path: Path) -> None:
    design = {
        "defaults": {"provider": "ec2", "image": "Debian 12", "region": "Atlanta", "size": 512},
        "instances": [
            {"hostname": "ullr", "fqdn": "ullr.websages.com"},
            {"hostname": "hod", "fqdn": "hod.websages.com", "image": "ami-0123456789abcdef0"},
        ],
    }
    design_file = tmp_path / "two.yml"
    design_file.write_text(yaml.safe_dump(design))
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "deploy", str(design_file)],
        capture_output=True,
        text=True,
        env=jarvis_env,
    )
    assert proc.returncode == 1
    assert "1 of 2 hosts ready; failed: hod" in proc.stdout
    assert "ullr.websages.com: READY" in proc.stdout
    assert "hod.websages.com: FAILED" in proc.stdout and "failed at stage instance" in proc.stdout


def test_cancel_of_one_host_of_a_two_host_run_lets_the_other_end_ready(
    jarvis_env: dict, jarvis_config: Config, world: dict, tmp_path: Path
) -> None:
    """`jarvis cancel thor13` while odin13 and thor13 deploy in one (local) run: thor13 stops at its next stage
    boundary, odin13 ends ready; then `jarvis destroy --cluster FILE` names both hosts and tears them down."""
    design = {
        "defaults": {"provider": "ec2", "image": "Debian 12", "region": "Atlanta", "size": 512},
        "instances": [
            {"hostname": "odin13", "fqdn": "odin13.websages.com"},
            {"hostname": "thor13", "fqdn": "thor13.websages.com"},
        ],
    }
    design_file = tmp_path / "pair.yml"
    design_file.write_text(yaml.safe_dump(design))

    def jarvis(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "orchestrator.cli", *args]
        return subprocess.run(argv, capture_output=True, text=True, env=jarvis_env, timeout=900)  # noqa: S603

    store = DeploymentStore(jarvis_config.store_path)
    deploying = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "orchestrator.cli", "deploy", str(design_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=jarvis_env,
    )
    try:
        deadline = time.monotonic() + 120
        while (host := store.host_status("thor13")) is None or host.stage in (None, "validate"):
            assert deploying.poll() is None and time.monotonic() < deadline, "thor13 never started"
            time.sleep(0.2)
        canceled = jarvis("cancel", "thor13")
        assert canceled.returncode == 0, canceled.stderr
        assert canceled.stdout.startswith(f"canceling thor13 alone (deployment {host.deployment_id}) at its next stage")
        assert canceled.stdout.rstrip().endswith("; odin13 goes on")
        output, _ = deploying.communicate(timeout=900)
    finally:
        if deploying.poll() is None:
            deploying.kill()
    assert deploying.returncode == 1 and "1 of 2 hosts ready; canceled: thor13" in output, output
    odin, thor = store.host_status("odin13"), store.host_status("thor13")
    assert odin is not None and odin.state == "ready", odin and odin.reason
    assert thor is not None and (thor.state, thor.reason) == ("canceled", "canceled alone by request"), thor
    assert {stage.stage: stage.state for stage in thor.stages}[thor.stage or ""] == "not_run", "stopped before it"
    assert resolve(world, "odin13.websages.com") == [odin.facts["ip"]]

    status = json.loads(jarvis("status", "odin13", "--json").stdout)
    digest = hashlib.sha256(design_file.read_bytes()).hexdigest()
    assert status["design"] == {"digest": digest, "source": str(design_file)}

    destroyed = jarvis("destroy", "--cluster", str(design_file))
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    listed = destroyed.stdout.splitlines()[0]
    assert listed == f"destroying cluster {design_file} ({odin.deployment_id}): odin13, thor13"
    assert "2 of 2 hosts destroyed" in destroyed.stdout
    assert resolve(world, "odin13.websages.com") == []
