"""jarvis.deploy.vsphere_instance against the sandbox vCenter, whose VMs are real hosts answering SSH."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from sandbox import vsphere
from tests.support.ansible import run_module
from tests.support.hosts import containers, wait_container_gone
from tests.support.ssh import make_key, ssh, ssh_banner, wait_ssh_gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ed25519 key pair whose public half goes into the VMs' authorized keys."""
    return make_key(tmp_path_factory.mktemp("vsphere-key"))


def clone_args(info: vsphere.VsphereInfo, name: str, key: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "template": info.template,
        "datacenter": info.datacenter,
        "cluster": info.cluster,
        "datastore": info.datastore,
        "network": info.network,
        "domain": "sandbox.test",
        "authorized_keys": [key.with_suffix(".pub").read_text().strip()],
        "wait_timeout": 60,
        **extra,
    }


def vsphere_instance(info: vsphere.VsphereInfo, args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Run the module with credentials from the environment; no run may ever print the password."""
    result = run_module("vsphere_instance", args, env=info.env(), **kwargs)
    assert info.password not in result["_stdout"]
    return result


def test_running_in_four_beats_gives_a_host_that_answers_ssh(
    vsphere_sandbox: vsphere.VsphereInfo, ssh_key: Path
) -> None:
    info = vsphere_sandbox
    args = clone_args(info, "web1", ssh_key, cpus=2, memory_mb=2048)

    planned = vsphere_instance(info, args, check=True, diff=True)
    assert planned.get("failed") is not True, planned.get("msg")
    assert planned["changed"] is True
    assert planned["instance"] == {}
    assert planned["actions"] == [f"clone VM web1 from template {info.template}", "power on VM web1"]
    assert planned["diff"]["before"] == {"state": "absent"}
    assert planned["diff"]["after"] == {
        "name": "web1",
        "state": "running",
        "cpus": 2,
        "memory_mb": 2048,
        "datacenter": info.datacenter,
        "owner": None,
    }

    created = vsphere_instance(info, args)
    assert created.get("failed") is not True, created.get("msg")
    assert created["changed"] is True
    instance = created["instance"]
    vm_id = instance["id"]
    assert vm_id.startswith("vm-")
    assert instance == {
        "id": vm_id,
        "name": "web1",
        "state": "running",
        "private_ip": instance["private_ip"],
        "public_ip": None,
        "cpus": 2,
        "memory_mb": 2048,
        "datacenter": info.datacenter,
        "owner": None,
    }
    ip = instance["private_ip"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(info.subnet)
    assert int(ipaddress.ip_address(ip)) - int(ipaddress.ip_network(info.subnet).network_address) >= 4
    assert created["actions"] == [
        f"cloned VM web1 ({vm_id}) from template {info.template}",
        f"powered on VM web1 ({vm_id})",
    ]

    for check in (True, False):
        again = vsphere_instance(info, args, check=check)
        assert again["changed"] is False
        assert again["actions"] == []
        assert again["instance"] == instance

    assert ssh_banner(ip).startswith(b"SSH-2.0-OpenSSH")
    login = ssh(ip, ssh_key, "hostname")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "web1"
    assert containers(info)[info.container_name(vm_id)] == "running"


def test_a_static_ip_and_hostname_are_honoured(vsphere_sandbox: vsphere.VsphereInfo, ssh_key: Path) -> None:
    info = vsphere_sandbox
    ip = str(ipaddress.ip_network(info.subnet).network_address + 200)
    args = clone_args(
        info, "db1.sandbox.test", ssh_key, hostname="database1", ip=ip, netmask="255.255.255.0", gateway=info.gateway
    )

    created = vsphere_instance(info, args)
    assert created.get("failed") is not True, created.get("msg")
    assert created["instance"]["private_ip"] == ip
    login = ssh(ip, ssh_key, "hostname")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "database1"


def test_stop_start_and_destroy_follow_the_host(vsphere_sandbox: vsphere.VsphereInfo, ssh_key: Path) -> None:
    info = vsphere_sandbox
    args = clone_args(info, "web2", ssh_key)
    instance = vsphere_instance(info, args)["instance"]
    vm_id, ip = instance["id"], instance["private_ip"]
    container = info.container_name(vm_id)
    ssh_banner(ip)

    stopped = vsphere_instance(info, {**args, "state": "stopped"})
    assert stopped["changed"] is True
    assert stopped["actions"] == [f"powered off VM web2 ({vm_id})"]
    assert stopped["instance"]["state"] == "stopped"
    assert stopped["instance"]["private_ip"] is None
    wait_ssh_gone(ip)
    assert containers(info)[container] != "running"
    assert vsphere_instance(info, {**args, "state": "stopped"})["changed"] is False
    assert vsphere_instance(info, {**args, "state": "present"})["changed"] is False

    started = vsphere_instance(info, args)
    assert started["changed"] is True
    assert started["actions"] == [f"powered on VM web2 ({vm_id})"]
    assert started["instance"]["state"] == "running"
    assert started["instance"]["private_ip"] == ip
    ssh_banner(ip)
    assert ssh(ip, ssh_key, "true").returncode == 0

    gone = vsphere_instance(info, {"name": "web2", "state": "absent"}, diff=True)
    assert gone["changed"] is True
    assert gone["instance"] == {}
    assert gone["actions"] == [f"powered off VM web2 ({vm_id})", f"destroyed VM web2 ({vm_id})"]
    assert gone["diff"]["after"] == {"state": "absent"}
    wait_container_gone(info, container, "its VM was destroyed")
    assert vsphere_instance(info, {"name": "web2", "state": "absent"})["changed"] is False


def test_cpus_and_memory_change_while_powered_off(vsphere_sandbox: vsphere.VsphereInfo, ssh_key: Path) -> None:
    info = vsphere_sandbox
    args = clone_args(info, "app1", ssh_key, cpus=1, memory_mb=1024)
    vm_id = vsphere_instance(info, args)["instance"]["id"]

    running = vsphere_instance(info, {**args, "cpus": 2})
    assert running["changed"] is False
    assert running["instance"]["cpus"] == 1
    assert any("resizes a VM only while it is powered off" in w for w in running.get("warnings", []))

    resized = vsphere_instance(info, {**args, "cpus": 2, "memory_mb": 2048, "state": "stopped"})
    assert resized["changed"] is True
    assert resized["actions"] == [
        f"powered off VM app1 ({vm_id})",
        f"reconfigured VM app1 ({vm_id}): 1 -> 2 CPUs, 1024 -> 2048 MB",
    ]
    assert (resized["instance"]["cpus"], resized["instance"]["memory_mb"]) == (2, 2048)
    assert vsphere_instance(info, {"name": "app1", "state": "absent"})["changed"] is True


def test_a_missing_template_fails_clearly(vsphere_sandbox: vsphere.VsphereInfo, ssh_key: Path) -> None:
    args = clone_args(vsphere_sandbox, "bad1", ssh_key, template="no-such-template")
    for check in (True, False):
        result = vsphere_instance(vsphere_sandbox, args, check=check)
        assert result["failed"] is True
        assert result["msg"] == f"template no-such-template not found in datacenter {vsphere_sandbox.datacenter}"
        assert "Traceback" not in result["_stdout"]
    assert vsphere_instance(vsphere_sandbox, {"name": "bad1", "state": "absent"})["changed"] is False


def test_bad_logins_fail_clearly_without_leaking_the_password(vsphere_sandbox: vsphere.VsphereInfo) -> None:
    info = vsphere_sandbox
    where = f"{info.host}:{info.port}"

    wrong = run_module("vsphere_instance", {"name": "web1"}, env={**info.env(), "VMWARE_PASSWORD": "not-it"})
    assert wrong["failed"] is True
    assert (
        wrong["msg"]
        == f"logging in to vCenter {where} as {info.username} failed: vim.fault.InvalidLogin: Login failure"
    )

    untrusted = vsphere_instance(info, {"name": "web1", "validate_certs": True})
    assert untrusted["failed"] is True
    assert untrusted["msg"].startswith(f"cannot connect to vCenter {where}: its certificate is not trusted")

    dead = run_module("vsphere_instance", {"name": "web1"}, env={**info.env(), "VMWARE_PORT": "9"})
    assert dead["failed"] is True
    assert dead["msg"].startswith(f"cannot connect to vCenter {info.host}:9: ")
    for result in (wrong, untrusted, dead):
        assert info.password not in result["_stdout"]


def test_the_owner_mark_is_a_line_of_the_vms_notes(vsphere_sandbox: vsphere.VsphereInfo, ssh_key: Path) -> None:
    info = vsphere_sandbox
    args = clone_args(info, "web6", ssh_key, owner="web6.websages.com", state="stopped")
    planned = vsphere_instance(info, args, check=True, diff=True)
    assert planned["diff"]["after"]["owner"] == "web6.websages.com"
    instance = vsphere_instance(info, args)["instance"]
    assert instance["owner"] == "web6.websages.com"
    assert vsphere_instance(info, args)["changed"] is False

    theirs = {**args, "owner": "web6.example.org"}
    refused = vsphere_instance(info, {**theirs, "state": "absent"}, check=True)
    assert refused["failed"] is True and refused["instance"]["id"] == instance["id"]
    assert refused["msg"] == (
        f"VM web6 ({instance['id']}) carries the owner mark of web6.websages.com: jarvis did not create it for "
        "web6.example.org; adopt: true takes it over"
    )
    adopted = vsphere_instance(info, {**theirs, "adopt": True})
    assert adopted["changed"] is True and adopted["instance"]["owner"] == "web6.example.org"
    assert adopted["actions"] == [
        f"adopted VM web6 ({instance['id']}) (owner mark of web6.websages.com) for web6.example.org"
    ]
    assert vsphere_instance(info, theirs)["changed"] is False
    assert vsphere_instance(info, {**theirs, "state": "absent"})["changed"] is True
