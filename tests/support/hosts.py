"""Real hosts for tests that run modules ON a host: one sandbox EC2 instance each, reachable as root."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import boto3
import pytest

from sandbox import ec2, hosts
from tests.support.ssh import ssh

__all__ = ["containers", "launch_host", "wait_container_gone"]


def launch_host(info: ec2.Ec2Info, name: str, key: Path) -> str:
    """Launch an instance named NAME whose root accepts KEY; return its IP once root can log in.

    Goes to the EC2 API directly (no ansible-playbook round trip): the host is the fixture, not the
    module under test.
    """
    user_data = f"#cloud-config\nhostname: {name}\nssh_authorized_keys:\n  - {key.with_suffix('.pub').read_text()}"
    client = boto3.client(
        "ec2",
        endpoint_url=info.endpoint_url,
        region_name=info.region,
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
    )
    try:
        launched = client.run_instances(
            ImageId=info.image_id,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=info.subnet_id,
            SecurityGroupIds=[info.security_group_id],
            UserData=user_data,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
        )
    finally:
        client.close()
    ip: str = launched["Instances"][0]["PrivateIpAddress"]
    login = ssh(ip, key, "true")
    assert login.returncode == 0, f"root cannot log in to {name} at {ip}: {login.stderr}"
    return ip


class _Provider(Protocol):
    """A sandbox provider's info: its containers are named after its prefix."""

    @property
    def prefix(self) -> str: ...


def containers(info: _Provider) -> dict[str, str]:
    """The provider's host containers, name -> podman state."""
    return hosts.list_hosts(f"{info.prefix}-")


def wait_container_gone(info: _Provider, name: str, why: str, timeout: float = 15.0) -> None:
    """Wait until the host container NAME is removed (WHY: what removed its instance)."""
    deadline = time.monotonic() + timeout
    while name in containers(info):
        if time.monotonic() > deadline:
            pytest.fail(f"container {name} still there {timeout:.0f}s after {why}")
        time.sleep(0.2)
