"""A redeploy of a host deployed earlier, through every stage, against the sandbox's real servers.

Ends with: a new instance, DNS pointing at it with new SSHFP records, the LDAP entry updated, root's
key in gitosis-admin's latest commit, puppet's file on the host, the fstab entry mounted, the
Alertmanager silence created and expired, and the CNAME moved to the standby and back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import ldap3
import pytest
import yaml

from orchestrator import DeploymentRunner, DeploymentStore, load_design_file
from orchestrator.config import Config
from orchestrator.events import Transition
from orchestrator.run_options import RunOptions
from orchestrator.stages import deploy_stages
from tests.support.world import ldap_entry, on_host, query, set_production

pytestmark = pytest.mark.integration

DESIGN = {
    "instances": [
        {
            "hostname": "heimdall",
            "fqdn": "heimdall.websages.com",
            "provider": "ec2",
            "image": "Debian 12",
            "region": "Atlanta",
            "size": 512,
            "gitosis_admin": "gitosis@freyr.websages.com:gitosis-admin.git",
            "standby": "thor.websages.com",
            "mounts": [{"src": "tmpfs", "path": "/srv/cache", "fstype": "tmpfs", "opts": "size=16m"}],
            "puppet": {"manifest": "file { '/etc/jarvis-managed': content => \"managed by puppet\\n\" }\n"},
        }
    ]
}


def run(config: Config, design: Path, kind: str, force: bool = False) -> tuple[str, list[Transition]]:
    store = DeploymentStore(config.store_path)
    heard: list[Transition] = []
    loaded = load_design_file(design, config.mappings)
    running = DeploymentRunner(config, store).start(
        loaded, "pytest", RunOptions(kind=kind, force=force), listener=heard.append
    )
    running.wait(timeout=900)
    return running.id, heard


def dns_update(world: dict, build: object) -> None:
    info = world["dns"]
    keyring = dns.tsigkeyring.from_text({info["tsig_key_name"]: info["tsig_secret"]})
    update = dns.update.UpdateMessage("websages.com", keyring=keyring, keyalgorithm=info["tsig_algorithm"])
    build(update)  # type: ignore[operator]
    response = dns.query.tcp(update, info["server"], port=info["port"], timeout=5)
    assert response.rcode() == 0


def test_redeploy_runs_every_stage(jarvis_config: Config, world: dict, tmp_path: Path) -> None:
    design = tmp_path / "heimdall.yml"
    design.write_text(yaml.safe_dump(DESIGN))
    store = DeploymentStore(jarvis_config.store_path)

    first_id, _ = run(jarvis_config, design, "deploy")
    first = store.deployment_hosts(first_id)[0]
    assert first.state == "ready", first.reason
    dns_update(world, lambda update: update.replace("www2", 300, "CNAME", "heimdall.websages.com."))
    set_production(world, "heimdall", True)

    refused_id, _ = run(jarvis_config, design, "redeploy")
    refused = store.deployment_hosts(refused_id)[0]
    assert (refused.state, refused.stage) == ("failed", "production_check")
    assert "in production" in (refused.reason or "")

    redeploy_id, heard = run(jarvis_config, design, "redeploy", force=True)
    host = store.deployment_hosts(redeploy_id)[0]
    assert host.state == "ready", (host.stage, host.reason)
    started = [t.stage for t in heard if t.state == "running"]
    assert started[:6] == ["production_check", "move_pointers", "silence", "power_off", "delete", "credentials"]
    assert started[-2:] == ["unsilence", "ready"]
    stages = {stage.stage: stage for stage in host.stages}

    # A new instance, and DNS pointing at it with the new host's SSHFP records.
    assert host.facts["instance_id"] != first.facts["instance_id"]
    ip = host.facts["ip"]
    assert query(world, "heimdall.websages.com", "A") == [ip]
    keys = subprocess.run(["ssh-keyscan", "-T", "5", "-t", "ed25519", ip], capture_output=True, text=True).stdout
    blob = keys.split()[2]
    assert f"4 2 {hashlib.sha256(base64.b64decode(blob)).hexdigest()}" in query(world, "heimdall.websages.com", "SSHFP")

    # The CNAME went to the standby during the run and came back.
    assert any("to thor.websages.com." in action for action in stages["move_pointers"].actions)
    assert query(world, "www2.websages.com", "CNAME") == ["heimdall.websages.com."]

    # The CMDB entry, gitosis-admin, puppet, fstab.
    ldap = world["ldap"]
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        conn.search(ldap["hosts_dn"], "(cn=heimdall)", attributes=["*"])
        (entry,) = conn.entries
    finally:
        conn.unbind()
    assert entry.jarvisInstanceId.value == host.facts["instance_id"]
    root_key = on_host(world, ip, "cat /root/.ssh/id_ed25519.pub").strip()
    assert entry.jarvisRootPublicKey.value == root_key
    repo = world["git"]["repo_path"]
    committed = subprocess.run(
        ["git", "--git-dir", repo, "show", "HEAD:keydir/root@heimdall.websages.com.pub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert committed == root_key
    assert on_host(world, ip, "cat /etc/jarvis-managed") == "managed by puppet\n"
    assert "/srv/cache" in on_host(world, ip, "grep /srv/cache /etc/fstab")
    assert on_host(world, ip, "findmnt -n -o FSTYPE /srv/cache").strip() == "tmpfs"

    # The silence was made for this run and is over.
    manager = world["alertmanager"]
    request = urllib.request.Request(f"{manager['url']}/api/v2/silences")
    token = base64.b64encode(f"{manager['username']}:{manager['password']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the sandbox's own server
        silences = [s for s in json.load(response) if redeploy_id in s["comment"]]
    assert [s["status"]["state"] for s in silences] == ["expired"]


def test_destroy_tears_the_host_down_and_forgets_it(jarvis_env: dict, world: dict) -> None:
    """After the redeploy above: `jarvis destroy`, refused for a production host until --force."""

    def jarvis(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "orchestrator.cli", *args]
        return subprocess.run(argv, capture_output=True, text=True, env=jarvis_env, timeout=900)  # noqa: S603

    refused = jarvis("destroy", "heimdall")
    assert refused.returncode == 1 and "in production" in refused.stdout, refused.stdout + refused.stderr
    assert query(world, "heimdall.websages.com", "A") != []

    destroyed = jarvis("destroy", "heimdall", "--force")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    status = json.loads(jarvis("status", "heimdall", "--json").stdout)
    assert status["state"] == "destroyed"
    assert [stage["stage"] for stage in status["stages"]] == [stage.id for stage in deploy_stages("destroy")]
    assert query(world, "heimdall.websages.com", "A") == [] and query(world, "heimdall.websages.com", "SSHFP") == []
    assert query(world, "www2.websages.com", "CNAME") == ["thor.websages.com."], "pointers stay at the standby"
    assert ldap_entry(world, "heimdall") is None
    keydir = subprocess.run(
        ["git", "--git-dir", world["git"]["repo_path"], "ls-tree", "--name-only", "HEAD", "keydir/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "root@heimdall.websages.com.pub" not in keydir
