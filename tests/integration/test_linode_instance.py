"""jarvis.deploy.linode_instance against the sandbox's Linode API, whose Linodes are real hosts answering SSH."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from linode_api4 import Instance, LinodeClient

from sandbox import linode
from tests.support.ansible import ansible_env, run_module
from tests.support.hosts import containers, wait_container_gone
from tests.support.ssh import host_key, make_key, ssh, ssh_banner, wait_ssh_gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ed25519 key pair whose public half root's authorized_keys get."""
    return make_key(tmp_path_factory.mktemp("linode-key"))


def create_args(label: str, key: Path, **extra: Any) -> dict[str, Any]:
    return {
        "label": label,
        "region": "us-east",
        "type": "g6-nanode-1",
        "image": "linode/debian12",
        "authorized_keys": [key.with_suffix(".pub").read_text().strip()],
        "tags": ["jarvis-test"],
        **extra,
    }


def linode_instance(info: linode.LinodeInfo, args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Run the module with credentials from the environment; no run may ever print the token."""
    result = run_module("linode_instance", args, env=info.env(), **kwargs)
    assert info.token not in result["_stdout"]
    return result


def api(info: linode.LinodeInfo) -> LinodeClient:
    return LinodeClient(info.token, base_url=info.base_url, retry=False)


def test_running_in_four_beats_gives_a_host_that_answers_ssh(linode_sandbox: linode.LinodeInfo, ssh_key: Path) -> None:
    args = create_args("web1", ssh_key)

    planned = linode_instance(linode_sandbox, args, check=True, diff=True)
    assert planned.get("failed") is not True, planned.get("msg")
    assert planned["changed"] is True
    assert planned["instance"] == {}
    assert planned["actions"] == ["create a g6-nanode-1 Linode of linode/debian12 in us-east for web1"]
    assert planned["diff"]["before"] == {"state": "absent"}
    assert planned["diff"]["after"]["state"] == "running"

    created = linode_instance(linode_sandbox, args, diff=True)
    assert created["changed"] is True
    instance = created["instance"]
    assert instance["state"] == "running"
    assert instance["label"] == "web1"
    assert (instance["region"], instance["type"], instance["image"]) == ("us-east", "g6-nanode-1", "linode/debian12")
    assert instance["tags"] == ["jarvis-test"]
    assert instance["kernel"] == linode.DEFAULT_KERNEL
    assert isinstance(instance["config_id"], int)
    assert instance["private_ip"] is None
    address = ipaddress.ip_address(instance["public_ip"])
    assert address in ipaddress.ip_network(linode_sandbox.subnet)
    assert int(address) - int(ipaddress.ip_network(linode_sandbox.subnet).network_address) >= 4
    assert instance["ipv6"].startswith("2600:3c02::f03c:")
    assert created["actions"] == [f"created Linode {instance['id']} (g6-nanode-1, linode/debian12) in us-east for web1"]
    assert created["diff"]["after"]["state"] == "running"

    for check in (True, False):
        again = linode_instance(linode_sandbox, args, check=check)
        assert again["changed"] is False
        assert again["actions"] == []
        assert again["instance"] == instance

    ip = instance["public_ip"]
    assert ssh_banner(ip).startswith(b"SSH-2.0-OpenSSH")
    login = ssh(ip, ssh_key, "hostname")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "web1"
    assert containers(linode_sandbox)[linode_sandbox.container_name(instance["id"])] == "running"


def test_stopped_then_running_then_absent_follow_the_host(linode_sandbox: linode.LinodeInfo, ssh_key: Path) -> None:
    args = create_args("web2", ssh_key)
    instance = linode_instance(linode_sandbox, args)["instance"]
    ip, container = instance["public_ip"], linode_sandbox.container_name(instance["id"])
    ssh_banner(ip)

    stopped = linode_instance(linode_sandbox, {**args, "state": "stopped"})
    assert stopped["changed"] is True
    assert stopped["instance"]["state"] == "offline"
    assert stopped["actions"] == [f"shut down Linode {instance['id']} of web2"]
    wait_ssh_gone(ip)
    assert containers(linode_sandbox)[container] != "running"
    assert linode_instance(linode_sandbox, {**args, "state": "stopped"})["changed"] is False
    assert linode_instance(linode_sandbox, {**args, "state": "present"})["changed"] is False

    started = linode_instance(linode_sandbox, args)
    assert started["changed"] is True
    assert started["actions"] == [f"booted Linode {instance['id']} of web2"]
    assert started["instance"] == instance
    ssh_banner(ip)
    assert ssh(ip, ssh_key, "true").returncode == 0

    gone = linode_instance(linode_sandbox, {"label": "web2", "state": "absent"}, diff=True)
    assert gone["changed"] is True
    assert gone["instance"] == {}
    assert gone["actions"] == [f"deleted Linode {instance['id']} of web2"]
    assert gone["diff"]["before"]["state"] == "running"
    assert gone["diff"]["after"] == {"state": "absent"}
    wait_container_gone(linode_sandbox, container, "its Linode was deleted")
    wait_ssh_gone(ip)
    assert linode_instance(linode_sandbox, {"label": "web2", "state": "absent"})["changed"] is False


def test_a_new_kernel_reboots_the_running_linode_once(linode_sandbox: linode.LinodeInfo, ssh_key: Path) -> None:
    args = create_args("web3", ssh_key)
    instance = linode_instance(linode_sandbox, args)["instance"]
    linode_id = instance["id"]
    args["kernel"] = "linode/grub2"

    planned = linode_instance(linode_sandbox, args, check=True, diff=True)
    assert planned["changed"] is True
    assert planned["actions"] == [
        f"set the kernel of Linode {linode_id} of web3 to linode/grub2",
        f"reboot Linode {linode_id} of web3 so kernel linode/grub2 takes effect",
    ]
    assert planned["diff"]["before"]["kernel"] == linode.DEFAULT_KERNEL
    assert planned["diff"]["after"]["kernel"] == "linode/grub2"

    changed = linode_instance(linode_sandbox, args)
    assert changed["changed"] is True
    assert changed["actions"] == [
        f"set the kernel of Linode {linode_id} of web3 to linode/grub2",
        f"rebooted Linode {linode_id} of web3 so kernel linode/grub2 takes effect",
    ]
    assert changed["instance"] == {**instance, "kernel": "linode/grub2"}
    config = api(linode_sandbox).load(Instance, linode_id).configs[0]
    assert config.id == instance["config_id"]
    assert config.kernel.id == "linode/grub2"

    for check in (True, False):
        again = linode_instance(linode_sandbox, args, check=check)
        assert again["changed"] is False, again["actions"]
    assert ssh(instance["public_ip"], ssh_key, "true").returncode == 0


def test_rebuild_gives_a_new_host_with_new_host_keys(linode_sandbox: linode.LinodeInfo, ssh_key: Path) -> None:
    args = create_args("web4", ssh_key)
    instance = linode_instance(linode_sandbox, args)["instance"]
    ip = instance["public_ip"]
    old_key = host_key(ip)
    assert ssh(ip, ssh_key, "touch /root/from-before-the-rebuild").returncode == 0

    rebuilt = linode_instance(linode_sandbox, {**args, "rebuild": True})
    assert rebuilt["changed"] is True
    assert rebuilt["actions"] == [f"rebuilt Linode {instance['id']} of web4 from linode/debian12"]
    assert rebuilt["instance"]["state"] == "running"
    assert rebuilt["instance"]["public_ip"] == ip
    assert rebuilt["instance"]["id"] == instance["id"]
    assert rebuilt["instance"]["config_id"] != instance["config_id"]  # a rebuild makes a new config profile

    new_key = host_key(ip)
    assert new_key != old_key
    login = ssh(ip, ssh_key, "test -e /root/from-before-the-rebuild && echo kept || echo fresh")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "fresh"


def test_a_bad_region_fails_with_linodes_field_and_reason(linode_sandbox: linode.LinodeInfo, ssh_key: Path) -> None:
    result = linode_instance(linode_sandbox, create_args("bad-region", ssh_key, region="mars-north"))
    assert result["failed"] is True
    assert result["msg"] == "creating a Linode for bad-region failed: Linode API: region: Region does not exist"
    assert result["changed"] is False
    assert "Traceback" not in result["_stdout"]
    assert not api(linode_sandbox).linode.instances(Instance.label == "bad-region")


def test_a_bad_token_or_endpoint_fails_clearly_without_leaking_the_token(linode_sandbox: linode.LinodeInfo) -> None:
    wrong = run_module("linode_instance", {"label": "web1"}, env={**linode_sandbox.env(), "LINODE_API_TOKEN": "0" * 64})
    assert wrong["failed"] is True
    assert wrong["msg"] == "looking up the Linode web1 failed: Linode API: Invalid Token"

    dead = "http://127.0.0.1:9/v4"
    unreachable = run_module("linode_instance", {"label": "web1"}, env={**linode_sandbox.env(), "LINODE_API_URL": dead})
    assert unreachable["failed"] is True
    assert unreachable["msg"] == f"looking up the Linode web1 failed: cannot connect to {dead}"
    assert linode_sandbox.token not in unreachable["_stdout"]


def test_credentials_come_through_the_linode_action_group(linode_sandbox: linode.LinodeInfo) -> None:
    """module_defaults for group/jarvis.deploy.linode reach the module, with no environment to fall back on."""
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "connection": "local",
            "module_defaults": {
                "group/jarvis.deploy.linode": {"api_token": linode_sandbox.token, "api_url": linode_sandbox.base_url}
            },
            "tasks": [{"jarvis.deploy.linode_instance": {"label": "nobody-here", "state": "absent"}}],
        }
    ]
    env = {key: value for key, value in ansible_env().items() if not key.startswith("LINODE_")}
    env["ANSIBLE_STDOUT_CALLBACK"] = "jarvis_test_json"
    with tempfile.TemporaryDirectory(prefix="jarvis-linode-") as tmp:
        playbook = Path(tmp) / "play.json"
        playbook.write_text(json.dumps(play))
        proc = subprocess.run(
            ["ansible-playbook", "-i", "localhost,", str(playbook)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    assert linode_sandbox.token not in proc.stdout + proc.stderr


def test_the_owner_mark_is_a_tag_hashed_past_50_characters(linode_sandbox: linode.LinodeInfo, ssh_key: Path) -> None:
    owner = "a-rather-long-hostname.of-a-department.websages.com"  # jarvis-owner:<it> would be 64 characters
    args = create_args("web5", ssh_key, owner=owner, state="present", wait=False)
    instance = linode_instance(linode_sandbox, args)["instance"]
    mark = "jarvis-owner:sha256:" + hashlib.sha256(owner.encode()).hexdigest()[:30]
    assert instance["tags"] == sorted(["jarvis-test", mark]) and instance["owner"] == owner
    assert linode_instance(linode_sandbox, args)["changed"] is False
    unknown = linode_instance(linode_sandbox, {"label": "web5", "state": "absent"}, check=True)
    assert unknown["instance"]["owner"] == mark[len("jarvis-owner:") :], "without owner, the hash reads as itself"

    theirs = {**args, "owner": "web5.websages.com"}
    refused = linode_instance(linode_sandbox, {**theirs, "state": "absent"}, check=True)
    assert refused["failed"] is True and refused["instance"]["id"] == instance["id"]
    assert refused["msg"].startswith(f"Linode {instance['id']} (label web5) carries the owner mark of sha256:")
    adopted = linode_instance(linode_sandbox, {**theirs, "adopt": True})
    assert adopted["changed"] is True and adopted["instance"]["owner"] == "web5.websages.com"
    assert adopted["instance"]["tags"] == ["jarvis-owner:web5.websages.com", "jarvis-test"], "one owner tag"
    gone = linode_instance(linode_sandbox, {"label": "web5", "owner": "web5.websages.com", "state": "absent"})
    assert gone["changed"] is True
