"""EC2 for the sandbox: a moto server whose instances become real podman hosts reachable over SSH.

``start()`` runs ``python -m sandbox.ec2`` as a daemon: moto's EC2 API on 127.0.0.1 plus a reconcile
loop that makes one container follow each instance (running, stopped, terminated) at the instance's
private IP on a podman network of its own. Only private IPs are used: the public 54.x addresses moto
invents belong to real machines on the internet.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import gzip
import logging
import os
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sandbox import hosts
from sandbox._process import SandboxError
from sandbox._provider import HostNetwork, Provider, become_daemon, container_name, reconcile_until

__all__ = ["IMAGE_NAME", "REGION", "Ec2Info", "cloud_config", "main", "start", "stop"]

REGION = "us-east-1"
IMAGE_NAME = "jarvis-sandbox-debian-12"
VPC_CIDR = hosts.SANDBOX_RANGE  # the moto VPC spans every sandbox host network
_RECONCILE_EVERY = 0.2
_API_ERRORS = (ClientError, BotoCoreError)
# Moto's EC2 rejects unknown AMIs and instance types only with these set, as AWS always does.
_MOTO_ENV = {"MOTO_ENABLE_AMI_VALIDATION": "true", "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true"}

log = logging.getLogger("sandbox.ec2")


@dataclass(frozen=True)
class Ec2Info:
    """Where the sandbox's EC2 answers, its fake credentials, and the resources start() created in it."""

    endpoint_url: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    vpc_id: str
    subnet_id: str
    security_group_id: str
    image_id: str
    network: str
    subnet: str
    gateway: str
    prefix: str

    def env(self) -> dict[str, str]:
        """The environment variables boto3 and ``jarvis.deploy.ec2_instance`` fall back to."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def container_name(self, instance_id: str) -> str:
        """The podman container that plays instance INSTANCE_ID."""
        return container_name(self.prefix, instance_id)


_PROVIDER = Provider(
    daemon="ec2",
    module="sandbox.ec2",
    info_file="ec2.json",
    info_type=Ec2Info,
    port_of=lambda info: int(info.endpoint_url.rsplit(":", 1)[1]),
    title="the sandbox EC2",
)


def start(state_dir: Path, prefix: str, timeout: float = 60.0) -> Ec2Info:
    """Start moto + reconciler with state under STATE_DIR, containers named PREFIX-<instance id>.

    Reuses a sandbox EC2 already running there with the same prefix. Builds the host image first if
    this machine has none (about a minute, once).
    """
    state_dir = state_dir.resolve()
    running = _PROVIDER.reuse(state_dir, prefix)
    if running is not None:
        return running
    network = _PROVIDER.new_hosts(state_dir, prefix)
    return _PROVIDER.launch(
        state_dir,
        network,
        lambda port: _create_world(f"http://127.0.0.1:{port}", network),
        timeout,
        env=_MOTO_ENV,
        errors=_API_ERRORS,
    )


def stop(state_dir: Path) -> None:
    """Stop the daemon in STATE_DIR, then remove every host container it made and its network."""
    _PROVIDER.stop(state_dir)


def _create_world(endpoint_url: str, network: HostNetwork) -> Ec2Info:
    """Create the VPC, subnet, security group and AMI that deployments launch hosts into."""
    access_key = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret_key = secrets.token_urlsafe(30)
    ec2 = _client(endpoint_url, access_key, secret_key)
    try:
        return _create_resources(ec2, endpoint_url, access_key, secret_key, network)
    finally:
        ec2.close()  # else its pooled sockets are left to the garbage collector


def _create_resources(
    ec2: Any,
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    network: HostNetwork,
) -> Ec2Info:
    prefix = network.prefix
    tags = [{"Key": "Name", "Value": f"jarvis-sandbox-{prefix}"}]
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])["Vpc"][
        "VpcId"
    ]
    subnet_id = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=str(network.subnet),
        AvailabilityZone=f"{REGION}a",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}],
    )["Subnet"]["SubnetId"]
    group_id = ec2.create_security_group(
        GroupName=f"jarvis-sandbox-{prefix}-hosts", Description="SSH to the sandbox hosts", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    image_id = ec2.register_image(
        Name=IMAGE_NAME,
        Description=f"Debian 12 (bookworm) minbase with sshd: podman image {hosts.IMAGE}",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
    )["ImageId"]
    return Ec2Info(
        endpoint_url=endpoint_url,
        region=REGION,
        access_key=access_key,
        secret_key=secret_key,
        vpc_id=vpc_id,
        subnet_id=subnet_id,
        security_group_id=group_id,
        image_id=image_id,
        network=network.name,
        subnet=str(network.subnet),
        gateway=network.gateway,
        prefix=prefix,
    )


def _client(endpoint_url: str, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
    )


# --- the daemon: moto plus the reconcile loop ------------------------------------------------------


def cloud_config(user_data: bytes) -> dict[str, Any]:
    """The ``#cloud-config`` document in an instance's user data (gzip allowed), or {} if there is none."""
    if user_data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            user_data = gzip.decompress(user_data)
    text = user_data.decode("utf-8", errors="replace")
    if not text.lstrip().startswith("#cloud-config"):
        return {}
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return document if isinstance(document, dict) else {}


class Reconciler(hosts.HostReconciler):
    """Makes the podman containers PREFIX-<instance id> follow moto's instances, one pass at a time."""

    errors = (SandboxError, *_API_ERRORS)

    def __init__(self, ec2: Any, network: str, subnet: str, prefix: str) -> None:
        super().__init__(subnet, prefix)
        self._ec2 = ec2
        self._network = network

    def wanted(self) -> dict[str, hosts.WantedHost]:
        wanted = {}
        for instance in self._instances():
            state = instance["State"]["Name"]
            if state in ("shutting-down", "terminated"):
                continue
            if not self.usable_ip(instance["InstanceId"], instance.get("PrivateIpAddress")):
                continue
            name = container_name(self.prefix, instance["InstanceId"])
            power = "running" if state in ("pending", "running") else "stopped"
            wanted[name] = hosts.WantedHost(power, functools.partial(self._create, name, instance))
        return wanted

    def _instances(self) -> Iterable[dict[str, Any]]:
        for page in self._ec2.get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                yield from reservation["Instances"]

    def _create(self, name: str, instance: dict[str, Any]) -> None:
        instance_id = instance["InstanceId"]
        attribute = self._ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        encoded = attribute.get("UserData", {}).get("Value", "")
        try:
            config = cloud_config(base64.b64decode(encoded)) if encoded else {}
        except binascii.Error:
            config = {}
        keys = [str(k) for k in config.get("ssh_authorized_keys") or [] if isinstance(k, str)]
        keys += self._key_pair_keys(instance.get("KeyName"))
        hostname = self._hostname(instance, config)
        hosts.start_host(name, self._network, instance["PrivateIpAddress"], keys, hostname)
        log.info("created %s: %s at %s, %d key(s)", name, hostname, instance["PrivateIpAddress"], len(keys))

    def _key_pair_keys(self, key_name: str | None) -> list[str]:
        """The public key of the instance's key pair, as EC2 puts it into the default user's keys."""
        if not key_name:
            return []
        try:
            pairs = self._ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
        except ClientError:
            return []
        return [p["PublicKey"].strip() for p in pairs if p.get("PublicKey")]

    @staticmethod
    def _hostname(instance: dict[str, Any], config: dict[str, Any]) -> str:
        """cloud-config's hostname as cloud-init would set it, else the Name tag, else EC2's ip-a-b-c-d."""
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
        for candidate in (config.get("hostname"), config.get("fqdn"), tags.get("Name")):
            if hosts.valid_hostname(candidate):
                return str(candidate)
        return "ip-" + str(instance["PrivateIpAddress"]).replace(".", "-")


def main(argv: list[str] | None = None) -> None:
    """Run moto's EC2 on 127.0.0.1:PORT and keep the podman hosts in step until SIGTERM."""
    args = _PROVIDER.arguments(main.__doc__).parse_args(argv)
    stopping = become_daemon(args.state_dir)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per API call, five a second

    os.environ.update(_MOTO_ENV)  # moto reads its settings when first imported
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    log.info("moto EC2 on 127.0.0.1:%d; hosts %s-<instance id> on %s", args.port, args.prefix, args.network)
    ec2 = _client(f"http://127.0.0.1:{args.port}", "sandbox-reconciler", "sandbox-reconciler")
    reconcile_until(stopping, Reconciler(ec2, args.network, args.subnet, args.prefix), _RECONCILE_EVERY)
    server.stop()


if __name__ == "__main__":
    main()
