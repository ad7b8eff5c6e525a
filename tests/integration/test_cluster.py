"""One design, three providers, one ansible-runner run: a cluster deployed in one pass."""

from __future__ import annotations

import socket
import subprocess
import sys
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
