"""jarvis.deploy.ec2_instance against the sandbox EC2, whose instances are real hosts answering SSH."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from sandbox import ec2
from tests.support.ansible import run_module
from tests.support.hosts import containers, wait_container_gone
from tests.support.ssh import make_key, ssh, ssh_banner, wait_ssh_gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ed25519 key pair whose public half goes into the instances' cloud-config."""
    return make_key(tmp_path_factory.mktemp("ec2-key"))


def launch_args(info: ec2.Ec2Info, name: str, key: Path, **extra: Any) -> dict[str, Any]:
    user_data = f"#cloud-config\nhostname: {name}\nssh_authorized_keys:\n  - {key.with_suffix('.pub').read_text()}"
    return {
        "name": name,
        "image_id": info.image_id,
        "instance_type": "t3.micro",
        "subnet_id": info.subnet_id,
        "security_group_ids": [info.security_group_id],
        "user_data": user_data,
        "tags": {"env": "test"},
        **extra,
    }


def ec2_instance(info: ec2.Ec2Info, args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Run the module with credentials from the environment; no run may ever print the secret."""
    result = run_module("ec2_instance", args, env=info.env(), **kwargs)
    assert info.secret_key not in result["_stdout"]
    return result


def test_running_in_four_beats_gives_a_host_that_answers_ssh(ec2_sandbox: ec2.Ec2Info, ssh_key: Path) -> None:
    args = launch_args(ec2_sandbox, "web1", ssh_key)

    planned = ec2_instance(ec2_sandbox, args, check=True, diff=True)
    assert planned.get("failed") is not True, planned.get("msg")
    assert planned["changed"] is True
    assert planned["instance"] == {}
    assert planned["actions"] == [f"launch a t3.micro instance of {ec2_sandbox.image_id} for web1"]
    assert planned["diff"]["before"] == {"state": "absent"}
    assert planned["diff"]["after"]["state"] == "running"

    launched = ec2_instance(ec2_sandbox, args)
    assert launched["changed"] is True
    instance = launched["instance"]
    assert instance["state"] == "running"
    assert instance["tags"] == {"Name": "web1", "jarvis:host": "web1", "env": "test"}
    assert instance["image_id"] == ec2_sandbox.image_id
    assert instance["subnet_id"] == ec2_sandbox.subnet_id
    assert ipaddress.ip_address(instance["private_ip"]) in ipaddress.ip_network(ec2_sandbox.subnet)
    assert instance["private_ip"] != ec2_sandbox.gateway
    assert launched["actions"] == [f"launched instance {instance['id']} (t3.micro, {ec2_sandbox.image_id}) for web1"]

    for check in (True, False):
        again = ec2_instance(ec2_sandbox, args, check=check)
        assert again["changed"] is False
        assert again["actions"] == []
        assert again["instance"] == instance

    ip = instance["private_ip"]
    assert ssh_banner(ip).startswith(b"SSH-2.0-OpenSSH")
    login = ssh(ip, ssh_key, "hostname")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "web1"
    assert containers(ec2_sandbox)[ec2_sandbox.container_name(instance["id"])] == "running"


def test_stop_start_and_terminate_follow_the_host(ec2_sandbox: ec2.Ec2Info, ssh_key: Path) -> None:
    args = launch_args(ec2_sandbox, "web2", ssh_key)
    instance = ec2_instance(ec2_sandbox, args)["instance"]
    ip, container = instance["private_ip"], ec2_sandbox.container_name(instance["id"])
    ssh_banner(ip)

    stopped = ec2_instance(ec2_sandbox, {**args, "state": "stopped"})
    assert stopped["changed"] is True
    assert stopped["instance"]["state"] == "stopped"
    assert stopped["actions"] == [f"stopped instance {instance['id']} of web2"]
    wait_ssh_gone(ip)
    assert containers(ec2_sandbox)[container] != "running"
    assert ec2_instance(ec2_sandbox, {**args, "state": "stopped"})["changed"] is False
    assert ec2_instance(ec2_sandbox, {**args, "state": "present"})["changed"] is False

    started = ec2_instance(ec2_sandbox, args)
    assert started["changed"] is True
    assert started["instance"]["state"] == "running"
    assert started["instance"]["private_ip"] == ip
    ssh_banner(ip)
    assert ssh(ip, ssh_key, "true").returncode == 0

    gone = ec2_instance(ec2_sandbox, {"name": "web2", "state": "absent"}, diff=True)
    assert gone["changed"] is True
    assert gone["instance"] == {}
    assert gone["actions"] == [f"terminated instance {instance['id']} of web2"]
    assert gone["diff"]["after"] == {"state": "absent"}
    wait_container_gone(ec2_sandbox, container, "its instance was terminated")
    assert ec2_instance(ec2_sandbox, {"name": "web2", "state": "absent"})["changed"] is False


@pytest.mark.parametrize(
    ("override", "error_code"),
    [({"image_id": "ami-0123456789abcdef0"}, "InvalidAMIID"), ({"instance_type": "t9.huge"}, "InvalidInstanceType")],
)
def test_a_bad_launch_fails_with_awss_error(
    ec2_sandbox: ec2.Ec2Info, ssh_key: Path, override: dict[str, str], error_code: str
) -> None:
    result = ec2_instance(ec2_sandbox, launch_args(ec2_sandbox, "bad", ssh_key, **override))
    assert result["failed"] is True
    assert result["msg"].startswith(f"launching an instance of bad failed: {error_code}")
    assert "Traceback" not in result["_stdout"]
    assert ec2_instance(ec2_sandbox, {"name": "bad", "state": "absent"})["changed"] is False


def test_an_unreachable_endpoint_fails_clearly_without_leaking_the_secret(ec2_sandbox: ec2.Ec2Info) -> None:
    dead = "http://127.0.0.1:9"
    result = run_module("ec2_instance", {"name": "web1"}, env={**ec2_sandbox.env(), "AWS_ENDPOINT_URL": dead})
    assert result["failed"] is True
    assert result["msg"] == f"looking up the instance of web1 failed: cannot connect to {dead}"
    assert ec2_sandbox.secret_key not in result["_stdout"]


def test_the_owner_mark_is_set_checked_in_every_mode_and_adopted(ec2_sandbox: ec2.Ec2Info, ssh_key: Path) -> None:
    args = launch_args(ec2_sandbox, "web3", ssh_key, owner="Web3.websages.com.", state="present", wait=False)
    instance = ec2_instance(ec2_sandbox, args)["instance"]
    assert (instance["owner"], instance["tags"]["jarvis:owner"]) == ("web3.websages.com", "web3.websages.com")
    assert ec2_instance(ec2_sandbox, args)["changed"] is False

    theirs = {**args, "owner": "web3.example.org"}
    refusal = (
        f"instance {instance['id']} (Name=web3) carries the owner mark of web3.websages.com: jarvis did not create "
        "it for web3.example.org; adopt: true takes it over"
    )
    for extra, check in (({}, False), ({"state": "absent"}, True), ({"state": "absent"}, False)):
        refused = ec2_instance(ec2_sandbox, {**theirs, **extra}, check=check)
        assert (refused["failed"], refused["msg"], refused["changed"]) == (True, refusal, False)
        assert refused["instance"]["id"] == instance["id"], "the refusal still says what exists"

    adopted = ec2_instance(ec2_sandbox, {**theirs, "adopt": True})
    assert adopted["changed"] is True
    assert adopted["actions"] == [
        f"adopted instance {instance['id']} (Name=web3) (owner mark of web3.websages.com) for web3.example.org",
        f"tagged instance {instance['id']}: jarvis:owner=web3.example.org",
    ]
    assert adopted["instance"]["owner"] == "web3.example.org"
    gone = ec2_instance(ec2_sandbox, {"name": "web3", "owner": "web3.example.org", "state": "absent", "wait": False})
    assert gone["changed"] is True
