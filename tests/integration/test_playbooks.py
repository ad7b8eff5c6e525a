"""playbooks/deploy.yml, redeploy.yml and destroy.yml run by plain ansible-playbook against the sandbox.

No orchestrator: the design is an extra vars file (the seed's legacy ``instance:`` format), the site
settings come from ``jarvis vars`` and the credentials from ``jarvis env``'s environment variables or an
Ansible Vault file, as the README shows. The stages the playbook runs must be jarvis's, in its order.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import Any

import pytest
import yaml

from orchestrator.credentials import CREDENTIAL_ENV
from orchestrator.stages import playbook_stages, stage_of_task_path
from tests.support.ansible import REPO, ansible_env
from tests.support.world import ec2_client, ldap_entry, on_host, query, set_production

pytestmark = pytest.mark.integration

# Every credential variable: a run "with vault credentials" must not find them in its environment.
SECRET_ENV = {name for group in CREDENTIAL_ENV.values() for name in group.values()}

HOST = "vidar"
DESIGN = {
    "instance": {
        "hostname": HOST,
        "fqdn": f"{HOST}.websages.com",
        "provider": "EC2",
        "guestid": "Debian 6",
        "datacenter": "Atlanta",
        "size": 512,
        "sshpubkey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOeAGDN0WmIZi5BTuSuqzmkE9n0VqEbJTZ4jT8Q5lmm7 ops@example.com",
    }
}


def jarvis(jarvis_env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=jarvis_env, check=True
    )
    return proc.stdout


@pytest.fixture(scope="module")
def site(jarvis_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the README has a user prepare: the design, `jarvis vars` output and `jarvis env` exports."""
    directory = tmp_path_factory.mktemp("playbooks")
    design = directory / f"{HOST}.yml"
    design.write_text(yaml.safe_dump(DESIGN))
    site_vars = directory / "site.yml"
    site_vars.write_text(jarvis(jarvis_env, "vars"))
    exports = {}
    for line in jarvis(jarvis_env, "env").splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0]
    return {"dir": directory, "design": design, "site_vars": site_vars, "exports": exports}


def playbook(site: dict[str, Any], name: str, *extra: str, credentials_env: bool = True) -> dict[str, Any]:
    """Run playbooks/NAME with the design and site vars; the JSON report of every task, plus rc and output."""
    env = {k: v for k, v in ansible_env({"ANSIBLE_STDOUT_CALLBACK": "jarvis_test_json"}).items() if k not in SECRET_ENV}
    env.update({k: v for k, v in site["exports"].items() if credentials_env or k not in SECRET_ENV})
    argv = ["ansible-playbook", str(REPO / "playbooks" / name), "-e", f"@{site['design']}"]
    argv += ["-e", f"@{site['site_vars']}", *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)  # noqa: S603
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"ansible-playbook gave no JSON:\n{proc.stdout}\n{proc.stderr}") from exc
    report["rc"], report["output"] = proc.returncode, proc.stdout + proc.stderr
    return report


def stages_run(report: dict[str, Any]) -> list[str]:
    """The stages whose tasks reached the host, in order (one entry per stage)."""
    seen: list[str] = []
    for play in report["plays"]:
        for task in play["tasks"]:
            stage = stage_of_task_path(task["task"]["path"])
            if stage and HOST in task["hosts"] and stage != "validate" and stage not in seen:
                seen.append(stage)
    return seen


def failure(report: dict[str, Any]) -> str | None:
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(HOST, {})
            if result.get("failed"):
                return str(result.get("msg"))
    return None


def instances(world: dict) -> list[str]:
    """The ids of the sandbox EC2 instances named HOST that are not terminated."""
    client = ec2_client(world)
    try:
        found = client.describe_instances(Filters=[{"Name": "tag:Name", "Values": [HOST]}])
    finally:
        client.close()
    return [
        instance["InstanceId"]
        for reservation in found["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("terminated", "shutting-down")
    ]


@pytest.fixture(scope="module")
def deployed(site: dict[str, Any], world: dict) -> dict[str, Any]:
    report = playbook(site, "deploy.yml")
    assert report["rc"] == 0, report["output"][-3000:]
    return report


def test_deploy_runs_jarvis_stages_and_the_host_is_up(deployed: dict[str, Any], world: dict) -> None:
    assert stages_run(deployed) == [stage.id for stage in playbook_stages("deploy")]
    [ip] = query(world, f"{HOST}.websages.com", "A")
    assert on_host(world, ip, "hostname").strip() == HOST
    entry = ldap_entry(world, HOST)
    assert entry is not None and entry["ipHostNumber"] == [ip] and entry["jarvisDeployedBy"] == ["ansible-playbook"]


def test_the_deployed_host_is_in_the_inventory(deployed: dict[str, Any], site: dict[str, Any], world: dict) -> None:
    """What the README shows: `eval "$(jarvis env)"`, then ansible-inventory -i inventory/ldap.yml."""

    def inventory(*args: str) -> str:
        argv = ["ansible-inventory", "-i", str(REPO / "inventory" / "ldap.yml"), *args]
        env = ansible_env(site["exports"])
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=True).stdout  # noqa: S603

    graph = inventory("--graph")
    assert f"|  |--{HOST}" in graph and "@provider_ec2:" in graph and "@not_production:" in graph
    [ip] = query(world, f"{HOST}.websages.com", "A")
    host_vars = json.loads(inventory("--host", HOST))
    assert host_vars["ansible_host"] == ip and "jarvis_cmdb_provider" in host_vars


def test_deploy_again_changes_nothing(deployed: dict[str, Any], site: dict[str, Any], world: dict) -> None:
    before = instances(world)
    again = playbook(site, "deploy.yml", "--tags", "instance,address,ssh,dns")
    assert again["rc"] == 0, again["output"][-3000:]
    changed = [
        task["task"]["name"]
        for play in again["plays"][1:]
        for task in play["tasks"]
        if task["hosts"].get(HOST, {}).get("changed")
    ]
    assert changed == [] and instances(world) == before


def test_redeploy_with_vault_credentials_honours_the_production_flag(
    deployed: dict[str, Any], site: dict[str, Any], world: dict, jarvis_env: dict[str, str]
) -> None:
    password = site["dir"] / "vault-password"
    password.write_text("correct horse battery staple\n")
    credentials = site["dir"] / "credentials.yml"
    plain = jarvis(jarvis_env, "vars", "--credentials")
    subprocess.run(
        ["ansible-vault", "encrypt", "--vault-password-file", str(password), "--output", str(credentials), "-"],
        input=plain,
        text=True,
        check=True,
        capture_output=True,
    )
    assert world["ldap"]["bind_password"] not in credentials.read_text()
    vault = ["-e", f"@{credentials}", "--vault-password-file", str(password)]
    old = instances(world)

    set_production(world, HOST, True)
    refused = playbook(site, "redeploy.yml", *vault, credentials_env=False)
    assert refused["rc"] != 0 and "is in production" in (failure(refused) or ""), refused["output"][-2000:]
    assert stages_run(refused) == ["production_check"] and instances(world) == old

    report = playbook(site, "redeploy.yml", *vault, "-e", "jarvis_force=true", credentials_env=False)
    assert report["rc"] == 0, report["output"][-3000:]
    assert stages_run(report) == [stage.id for stage in playbook_stages("redeploy")]
    new = instances(world)
    assert len(new) == 1 and new != old
    assert world["ldap"]["bind_password"] not in report["output"]


def test_destroy_forgets_the_host(deployed: dict[str, Any], site: dict[str, Any], world: dict) -> None:
    set_production(world, HOST, False)
    report = playbook(site, "destroy.yml")
    assert report["rc"] == 0, report["output"][-3000:]
    assert stages_run(report) == [stage.id for stage in playbook_stages("destroy")]
    assert instances(world) == []
    assert query(world, f"{HOST}.websages.com", "A") == []
    assert ldap_entry(world, HOST) is None
    again = playbook(site, "destroy.yml")
    assert again["rc"] == 0, again["output"][-3000:]
