"""The walking skeleton end to end: examples/loki.yml deployed on the sandbox's EC2, for real.

Everything here talks to the sandbox's real slapd, named, moto EC2 and the podman host that the
instance becomes; nothing is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import ldap3
import pytest

from orchestrator import DeploymentRunner, DeploymentStore, load_config, load_design_file
from orchestrator.config import Config
from orchestrator.events import Transition
from orchestrator.run_options import RunOptions
from sandbox import world as sandbox_world
from tests.support.secrets import assert_no_secret, assert_private_modes, home_files, known_secrets, stored_root_secrets
from tests.support.ssh import ssh
from tests.support.world import ec2_client, query

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LOKI = REPO / "examples" / "loki.yml"
SSHFP_ALGORITHMS = {"ssh-rsa": 1, "ssh-dss": 2, "ecdsa-sha2-nistp256": 3, "ssh-ed25519": 4}


def deploy(config: Config, design_path: Path, check: bool = False) -> tuple[str, list[Transition]]:
    store = DeploymentStore(config.store_path)
    transitions: list[Transition] = []
    design = load_design_file(design_path, config.mappings)
    running = DeploymentRunner(config, store).start(
        design, "pytest", RunOptions(check=check), listener=transitions.append
    )
    assert running.wait(timeout=600) in ("successful", "failed")
    return running.id, transitions


@pytest.fixture(scope="module")
def first_deploy(jarvis_config: Config) -> tuple[str, list[Transition]]:
    return deploy(jarvis_config, LOKI)


def real_host_keys(ip: str) -> list[str]:
    scan = subprocess.run(["ssh-keyscan", "-T", "5", ip], capture_output=True, text=True, check=True)
    return [line.split(" ", 1)[1] for line in scan.stdout.splitlines() if line and not line.startswith("#")]


def test_loki_deploys_and_is_ready(first_deploy: tuple[str, list[Transition]], jarvis_config: Config) -> None:
    deployment_id, transitions = first_deploy
    host = DeploymentStore(jarvis_config.store_path).host_status("loki")
    assert host is not None and host.deployment_id == deployment_id
    assert host.state == "ready", host.reason
    started = [t.stage for t in transitions if t.state == "running"]
    assert started == [
        "production_check",
        "credentials",
        "instance",
        "address",
        "ssh",
        "dns",
        "mounts",
        "kernel",
        "boot_kernel",
        "root_keypair",
        "cmdb",
        "gitosis",
        "puppet_install",
        "puppet_run",
        "ready",
    ]
    assert transitions[-1].state == "ready"
    states = {stage.stage: stage.state for stage in host.stages}
    assert states["validate"] == "ok"
    assert states["mounts"] == states["puppet_run"] == "skipped"  # loki.yml asks for neither
    assert states["root_keypair"] == states["gitosis"] == "changed"
    assert states["kernel"] == "ok" and states["boot_kernel"] == "ok"
    assert host.facts["instance_id"].startswith("i-")


def test_dns_name_answers_ssh_with_matching_sshfp(
    first_deploy: tuple[str, list[Transition]], world: dict, jarvis_config: Config
) -> None:
    host = DeploymentStore(jarvis_config.store_path).host_status("loki")
    assert host is not None
    (ip,) = query(world, "loki.websages.com", "A")
    assert ip == host.facts["ip"]
    with socket.create_connection((ip, 22), timeout=5) as conn:
        assert conn.recv(64).startswith(b"SSH-2.0-")
    expected = []
    for key in real_host_keys(ip):
        kind, blob = key.split()[:2]
        digest = hashlib.sha256(base64.b64decode(blob)).hexdigest()
        expected.append(f"{SSHFP_ALGORITHMS[kind]} 2 {digest}")
    assert query(world, "loki.websages.com", "SSHFP") == sorted(expected)
    reverse = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    assert query(world, reverse, "PTR") == ["loki.websages.com."]


def test_ldap_entry_is_written(first_deploy: tuple[str, list[Transition]], world: dict) -> None:
    ldap = world["ldap"]
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:  # not `with`: ldap3's context manager leaves an auto-bound connection open
        conn.search(ldap["hosts_dn"], "(cn=loki)", attributes=["*"])
        (entry,) = conn.entries
    finally:
        conn.unbind()
    assert entry.jarvisFqdn.value == "loki.websages.com"
    assert entry.jarvisProvider.value == "ec2"
    assert entry.jarvisInstanceId.value.startswith("i-")
    assert len(entry.jarvisSshHostKey.values) >= 1


def test_second_run_changes_nothing_and_reuses_the_instance(
    first_deploy: tuple[str, list[Transition]], jarvis_config: Config
) -> None:
    store = DeploymentStore(jarvis_config.store_path)
    first = store.deployment_hosts(first_deploy[0])[0]
    second_id, _ = deploy(jarvis_config, LOKI)
    second = store.deployment_hosts(second_id)[0]
    assert second.state == "ready", second.reason
    assert second.facts["instance_id"] == first.facts["instance_id"]
    states = {stage.stage: stage.state for stage in second.stages}
    assert states["instance"] == states["dns"] == states["cmdb"] == states["credentials"] == "ok"


def test_status_from_another_process(first_deploy: tuple[str, list[Transition]], jarvis_env: dict) -> None:
    text = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "status", "loki"],
        capture_output=True,
        text=True,
        env=jarvis_env,
        check=True,
    ).stdout
    assert text.startswith("loki: ready")
    assert "dns" in text and "no boot kernel to set" in text
    payload = json.loads(
        subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "status", "loki", "--json"],
            capture_output=True,
            text=True,
            env=jarvis_env,
            check=True,
        ).stdout
    )
    assert payload["state"] == "ready" and payload["host"] == "loki"
    assert [stage["stage"] for stage in payload["stages"]][:3] == ["validate", "production_check", "credentials"]


def test_secrets_never_leak(
    first_deploy: tuple[str, list[Transition]], jarvis_config: Config, jarvis_env: dict, world: dict
) -> None:
    deployed = sorted(path.stem for path in jarvis_config.secrets_dir.glob("*.yml"))  # loki and this session's others
    assert "loki.websages.com" in deployed
    secrets = {
        **known_secrets(jarvis_config, deployed),  # the vault password, every host's root password and its hash
        "TSIG secret": world["dns"]["tsig_secret"],
        "LDAP bind password": world["ldap"]["bind_password"],
        "AWS secret key": world["ec2"]["secret_key"],
    }
    cli = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "deploy", str(LOKI)],
        capture_output=True,
        text=True,
        env=jarvis_env,
    )
    assert cli.returncode == 0, cli.stderr
    places = home_files(jarvis_config)
    assert any(p.name == "command" for p in places), "the runner's artifacts should be scanned"
    assert any(p.suffix == ".json" and "job_events" in p.parts for p in places)
    assert any(p.name == "jarvis.db" for p in places)
    logs = list(Path(world["state_dir"]).rglob("*.log"))
    assert logs, "the sandbox servers' logs should be scanned"
    assert_no_secret(secrets, places + logs, {"jarvis deploy stdout": cli.stdout, "jarvis deploy stderr": cli.stderr})
    assert_private_modes(jarvis_config.home)


def test_root_password_is_set_over_ssh_never_in_user_data(
    first_deploy: tuple[str, list[Transition]], jarvis_config: Config, world: dict
) -> None:
    """Any local user of an EC2 instance can read its user data: root's password goes over SSH instead."""
    host = DeploymentStore(jarvis_config.store_path).host_status("loki")
    assert host is not None and host.state == "ready", host and host.reason
    root = stored_root_secrets(jarvis_config, "loki.websages.com")
    client = ec2_client(world)
    try:
        attribute = client.describe_instance_attribute(InstanceId=host.facts["instance_id"], Attribute="userData")
    finally:
        client.close()
    user_data = base64.b64decode(attribute["UserData"]["Value"]).decode()
    assert user_data.startswith("#cloud-config\n") and "hostname: loki\n" in user_data, user_data
    assert "ssh_authorized_keys:" in user_data, user_data
    assert root["root_password"] not in user_data and root["root_password_hash"] not in user_data
    assert "$6$" not in user_data and "chpasswd" not in user_data, user_data
    shadow = ssh(host.facts["ip"], Path(world["ssh_key"]), "getent shadow root")
    assert shadow.returncode == 0, shadow.stderr
    assert shadow.stdout.split(":")[1] == root["root_password_hash"]


def test_plan_changes_nothing(jarvis_config: Config, world: dict, tmp_path: Path) -> None:
    design = tmp_path / "odin.yml"
    design.write_text(LOKI.read_text().replace("loki", "odin"))
    deployment_id, transitions = deploy(jarvis_config, design, check=True)
    host = DeploymentStore(jarvis_config.store_path).deployment_hosts(deployment_id)[0]
    assert host.state == "planned"
    stages = {stage.stage: stage for stage in host.stages}
    assert stages["instance"].state == "changed"
    assert any("odin" in action for action in stages["instance"].actions)
    assert stages["dns"].state == "not_run"
    assert query(world, "odin.websages.com", "A") == []
    assert DeploymentStore(jarvis_config.store_path).host_status("odin") is None  # plans are not deployments


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("hostname: loki", "hostname: 'loki;rm -rf /'"), "instance.hostname"),
        (("hostname: loki", "hostname: 'loki)(cn=*'"), "instance.hostname"),
        (("provider: EC2", "provider: Rackspace"), "instance.provider"),
        (("size: 512", "size: huge"), "instance.size"),
        (("fqdn: loki.websages.com", "fqdn: [loki"), "design"),
    ],
)
def test_bad_designs_are_refused_before_anything_runs(
    change: tuple[str, str], field: str, jarvis_env: dict, jarvis_config: Config, tmp_path: Path
) -> None:
    design = tmp_path / "bad.yml"
    design.write_text(LOKI.read_text().replace(*change))
    runs_before = sorted(os.listdir(jarvis_config.runs_dir)) if jarvis_config.runs_dir.exists() else []
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "deploy", str(design)],
        capture_output=True,
        text=True,
        env=jarvis_env,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"jarvis: {field}:"), proc.stderr
    runs_after = sorted(os.listdir(jarvis_config.runs_dir)) if jarvis_config.runs_dir.exists() else []
    assert runs_after == runs_before


def test_cli_config_comes_from_the_sandbox(jarvis_env: dict) -> None:
    config = load_config(jarvis_env["JARVIS_CONFIG"])
    assert config.credentials["dns"]["key_name"]


def test_a_failing_stage_is_reported_with_its_reason(jarvis_config: Config, jarvis_env: dict, tmp_path: Path) -> None:
    design = tmp_path / "njord.yml"
    design.write_text(LOKI.read_text().replace("loki", "njord").replace("Debian 6", "ami-0123456789abcdef0"))
    deployment_id, transitions = deploy(jarvis_config, design)
    host = DeploymentStore(jarvis_config.store_path).deployment_hosts(deployment_id)[0]
    assert (host.state, host.stage) == ("failed", "instance")
    assert "InvalidAMIID" in (host.reason or "")
    assert transitions[-1].state == "failed" and transitions[-1].stage == "instance"
    states = {stage.stage: stage.state for stage in host.stages}
    assert states["credentials"] == "changed" and states["dns"] == "not_run"
    status = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "status", "njord"], capture_output=True, text=True, env=jarvis_env
    )
    assert status.returncode == 1
    assert status.stdout.startswith("njord: failed at stage instance: ")


def test_sandbox_status_shows_no_secrets(world: dict) -> None:
    status = json.dumps(sandbox_world.status(Path(world["state_dir"])))
    for secret in (world["dns"]["tsig_secret"], world["ldap"]["bind_password"], world["ec2"]["secret_key"]):
        assert secret not in status
    for password in world["xmpp"]["passwords"].values():
        assert password not in status
    assert json.loads(status)["up"] is True
