"""A deploy acts only on what jarvis created for the host: a name taken by someone else is refused, then adopted.

Against the sandbox's real providers (moto's EC2, the Linode emulator, the vCenter simulator), slapd and named:
an instance, an A record or a CMDB entry under the design's host name that jarvis did not make is refused at
production_check, the first stage, with one line naming it, and nothing is changed (no instance, DNS record,
CMDB entry or root password). The same deploy with ``adopt`` (an admin's decision) takes it over and leaves the
owner marks: at the provider and in the CMDB (jarvisOwner). A production host is refused without ``force``.
Every test deploys its own host, at most once for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.query
import dns.tsigkeyring
import dns.update
import ldap3
import pytest
import yaml
from linode_api4 import Instance, LinodeClient
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from orchestrator import DeploymentRunner, DeploymentStore, load_design_file
from orchestrator.config import Config
from orchestrator.run_options import RunOptions
from orchestrator.store import HostStatus
from tests.support.world import ec2_client, ldap_entry, query

pytestmark = pytest.mark.integration

ADOPT_HINT = "an admin can adopt it (--adopt on the CLI, adopt in chat, -e jarvis_adopt=true in a plain run)"


def design_file(tmp_path: Path, hostname: str, provider: str) -> Path:
    path = tmp_path / f"{hostname}.yml"
    host = {"hostname": hostname, "fqdn": f"{hostname}.websages.com", "provider": provider}
    path.write_text(yaml.safe_dump({"instances": [{**host, "image": "Debian 12", "region": "Atlanta", "size": 512}]}))
    return path


def deploy(config: Config, design: Path, **options: Any) -> HostStatus:
    """One run of DESIGN's one host through the runner, as chat and the CLI start it; its final status."""
    store = DeploymentStore(config.store_path)
    running = DeploymentRunner(config, store).start(
        load_design_file(design, config.mappings), "pytest", RunOptions(**options)
    )
    running.wait(timeout=900)
    (host,) = store.deployment_hosts(running.id)
    return host


def assert_refused_before_anything(config: Config, world: dict, host: HostStatus, line: str) -> None:
    """HOST failed at production_check with LINE, and nothing of jarvis's exists for it."""
    assert (host.state, host.stage) == ("failed", "production_check"), (host.state, host.stage, host.reason)
    assert host.reason == line
    stages = {stage.stage: stage.state for stage in host.stages}
    assert stages["credentials"] == stages["instance"] == "not_run"
    assert not (config.secrets_dir / f"{host.fqdn}.yml").exists(), "no root password was made"
    assert ldap_entry(world, host.hostname) is None, "no CMDB entry was made"


# --- the providers, spoken to with their own SDKs, as someone else would ---------------------------------


def ec2_instances_named(world: dict, hostname: str) -> dict[str, dict[str, str]]:
    """The live instances whose Name or jarvis:host tag is HOSTNAME: id -> tags."""
    found: dict[str, dict[str, str]] = {}
    for tag in ("Name", "jarvis:host"):
        pages = ec2_client(world).describe_instances(
            Filters=[
                {"Name": f"tag:{tag}", "Values": [hostname]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )
        for reservation in pages["Reservations"]:
            for instance in reservation["Instances"]:
                found[instance["InstanceId"]] = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return found


def public_key(world: dict) -> str:
    return Path(world["ssh_key"] + ".pub").read_text().strip()


def linode_client(world: dict) -> LinodeClient:
    return LinodeClient(world["linode"]["token"], base_url=world["linode"]["base_url"], retry=False)


def vcenter(world: dict) -> Any:
    info = world["vsphere"]
    return SmartConnect(
        host=info["host"],
        port=info["port"],
        user=info["username"],
        pwd=info["password"],
        disableSslCertValidation=True,  # the simulator's self-signed certificate
    )


def vm_named(content: Any, name: str) -> Any:
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next((vm for vm in view.view if vm.name == name), None)
    finally:
        view.DestroyView()


def dns_update(world: dict, name: str, address: str) -> None:
    info = world["dns"]
    keyring = dns.tsigkeyring.from_text({info["tsig_key_name"]: info["tsig_secret"]})
    update = dns.update.UpdateMessage("websages.com", keyring=keyring, keyalgorithm=info["tsig_algorithm"])
    update.replace(name + ".", 300, "A", address)  # absolute: a name without the dot is relative to the zone
    assert dns.query.tcp(update, info["server"], port=info["port"], timeout=5).rcode() == 0


def ldap_add(world: dict, hostname: str, attributes: dict[str, Any]) -> None:
    ldap = world["ldap"]
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        assert conn.add(f"cn={hostname},{ldap['hosts_dn']}", attributes=attributes), conn.result
    finally:
        conn.unbind()


# --- an instance someone else runs under the host's name, on each provider -------------------------------


def test_an_ec2_instance_someone_else_runs_is_refused_then_adopted(
    jarvis_config: Config, world: dict, tmp_path: Path
) -> None:
    name, fqdn = "stray-ec2", "stray-ec2.websages.com"
    info = world["ec2"]
    launched = ec2_client(world).run_instances(
        ImageId=info["image_id"],
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=info["subnet_id"],
        SecurityGroupIds=[info["security_group_id"]],
        UserData=f"#cloud-config\nssh_authorized_keys:\n  - {public_key(world)}\n",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )
    theirs = launched["Instances"][0]["InstanceId"]
    design = design_file(tmp_path, name, "ec2")

    refused = deploy(jarvis_config, design)
    assert_refused_before_anything(
        jarvis_config,
        world,
        refused,
        f"instance {theirs} (Name={name}, no owner mark) at ec2 was not created by jarvis for {fqdn}; {ADOPT_HINT}",
    )
    assert ec2_instances_named(world, name) == {theirs: {"Name": name}}, "no instance made, none tagged"
    assert query(world, fqdn, "A") == []

    adopted = deploy(jarvis_config, design, adopt=True)
    assert adopted.state == "ready", (adopted.stage, adopted.reason)
    assert adopted.facts["instance_id"] == theirs
    tags = ec2_instances_named(world, name)[theirs]
    assert (tags["jarvis:owner"], tags["jarvis:host"]) == (fqdn, name)
    assert ldap_entry(world, name)["jarvisOwner"] == [fqdn]
    assert query(world, fqdn, "A") == [adopted.facts["ip"]]
    notes = {stage.stage: stage for stage in adopted.stages}
    assert notes["production_check"].detail == f"{fqdn} adopts instance {theirs} (Name={name}, no owner mark) at ec2"
    assert any(action.startswith(f"adopted instance {theirs}") for action in notes["instance"].actions)


def test_a_linode_someone_else_made_is_refused_then_adopted(jarvis_config: Config, world: dict, tmp_path: Path) -> None:
    name, fqdn = "stray-linode", "stray-linode.websages.com"
    client = linode_client(world)
    made = client.linode.instance_create(
        "g6-nanode-1",
        "us-southeast",
        image="linode/debian12",
        label=name,
        root_pass="Their-own-root-pass-1",
        authorized_keys=[public_key(world)],
        tags=["billing"],
    )
    theirs = made.id
    design = design_file(tmp_path, name, "linode")

    refused = deploy(jarvis_config, design)
    assert_refused_before_anything(
        jarvis_config,
        world,
        refused,
        f"instance {theirs} (label={name}, no owner mark) at linode was not created by jarvis for {fqdn}; "
        + ADOPT_HINT,
    )
    assert query(world, fqdn, "A") == []
    assert [linode.id for linode in client.linode.instances() if linode.label == name] == [theirs]
    assert client.load(Instance, theirs).tags == ["billing"]

    adopted = deploy(jarvis_config, design, adopt=True)
    assert adopted.state == "ready", (adopted.stage, adopted.reason)
    assert adopted.facts["instance_id"] == theirs
    assert sorted(client.load(Instance, theirs).tags) == ["billing", f"jarvis-owner:{fqdn}"]
    assert ldap_entry(world, name)["jarvisOwner"] == [fqdn]


def test_a_vsphere_vm_someone_else_made_is_refused_then_adopted(
    jarvis_config: Config, world: dict, tmp_path: Path
) -> None:
    name, fqdn = "stray-vm", "stray-vm.websages.com"
    info = world["vsphere"]
    si = vcenter(world)
    try:
        content = si.RetrieveContent()
        template = vm_named(content, info["template"])
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.ClusterComputeResource], True)
        cluster = next(c for c in view.view if c.name == info["cluster"])
        view.DestroyView()
        keys = vim.option.OptionValue(key="guestinfo.jarvis.authorized_keys", value=public_key(world))
        spec = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(pool=cluster.resourcePool),
            config=vim.vm.ConfigSpec(annotation="Sam's build box", extraConfig=[keys]),
            powerOn=True,
        )
        WaitForTask(template.CloneVM_Task(folder=template.parent, name=name, spec=spec))
        theirs = vm_named(content, name)._moId
    finally:
        Disconnect(si)
    design = design_file(tmp_path, name, "vsphere")

    refused = deploy(jarvis_config, design)
    assert_refused_before_anything(
        jarvis_config,
        world,
        refused,
        f"instance {theirs} (name={name}, no owner mark) at vsphere was not created by jarvis for {fqdn}; "
        + ADOPT_HINT,
    )
    assert query(world, fqdn, "A") == []

    adopted = deploy(jarvis_config, design, adopt=True)
    assert adopted.state == "ready", (adopted.stage, adopted.reason)
    assert adopted.facts["instance_id"] == theirs
    si = vcenter(world)
    try:
        vms = [vm for vm in [vm_named(si.RetrieveContent(), name)] if vm is not None]
        assert [vm._moId for vm in vms] == [theirs], "the same VM, no second one"
        assert vms[0].config.annotation == f"Sam's build box\njarvis-owner: {fqdn}"
    finally:
        Disconnect(si)
    assert ldap_entry(world, name)["jarvisOwner"] == [fqdn]


# --- a DNS name and a CMDB entry that are someone else's, the production guard ---------------------------


def test_an_a_record_pointing_elsewhere_is_refused_then_adopted(
    jarvis_config: Config, world: dict, tmp_path: Path
) -> None:
    name, fqdn = "stray-dns", "stray-dns.websages.com"
    dns_update(world, fqdn, "192.0.2.7")
    design = design_file(tmp_path, name, "ec2")

    refused = deploy(jarvis_config, design)
    assert_refused_before_anything(
        jarvis_config,
        world,
        refused,
        f"A record {fqdn} -> 192.0.2.7 was not created by jarvis for {fqdn}; {ADOPT_HINT}",
    )
    assert ec2_instances_named(world, name) == {}
    assert query(world, fqdn, "A") == ["192.0.2.7"]

    adopted = deploy(jarvis_config, design, adopt=True)
    assert adopted.state == "ready", (adopted.stage, adopted.reason)
    assert query(world, fqdn, "A") == [adopted.facts["ip"]]
    (instance,) = ec2_instances_named(world, name).values()
    assert instance["jarvis:owner"] == fqdn


def test_a_cmdb_entry_someone_else_keeps_is_refused_then_adopted(
    jarvis_config: Config, world: dict, tmp_path: Path
) -> None:
    name, fqdn = "stray-cmdb", "stray-cmdb.websages.com"
    ldap_add(
        world,
        name,
        {"objectClass": ["device", "ipHost"], "cn": name, "ipHostNumber": "192.0.2.8", "description": "billing's"},
    )
    theirs = ldap_entry(world, name)
    design = design_file(tmp_path, name, "ec2")

    refused = deploy(jarvis_config, design)
    assert (refused.state, refused.stage) == ("failed", "production_check")
    dn = f"cn={name},{world['ldap']['hosts_dn']}"
    assert refused.reason == f"CMDB entry {dn} (no jarvis owner) was not created by jarvis for {fqdn}; {ADOPT_HINT}"
    assert ldap_entry(world, name) == theirs, "the entry is left as it was"
    assert ec2_instances_named(world, name) == {} and query(world, fqdn, "A") == []
    assert not (jarvis_config.secrets_dir / f"{fqdn}.yml").exists()

    adopted = deploy(jarvis_config, design, adopt=True)
    assert adopted.state == "ready", (adopted.stage, adopted.reason)
    entry = ldap_entry(world, name)
    assert entry is not None
    assert (entry["jarvisOwner"], entry["ipHostNumber"]) == ([fqdn], [adopted.facts["ip"]])
    assert "jarvisHost" in entry["objectClass"] and entry["description"] == ["billing's"]


def test_deploying_a_production_host_needs_force(jarvis_config: Config, world: dict, tmp_path: Path) -> None:
    """The guard holds for deploy as for redeploy and destroy; a plan only looks, so it is not guarded."""
    name, fqdn = "prod-guard", "prod-guard.websages.com"
    ldap_add(
        world,
        name,
        {
            "objectClass": ["device", "jarvisHost"],
            "cn": name,
            "jarvisFqdn": fqdn,
            "jarvisOwner": fqdn,
            "jarvisProduction": "TRUE",
        },
    )
    design = design_file(tmp_path, name, "ec2")

    refused = deploy(jarvis_config, design)
    assert (refused.state, refused.stage) == ("failed", "production_check")
    assert refused.reason == (
        f"{fqdn} is in production (jarvisProduction is TRUE): changing it needs --force by an admin on the CLI, "
        "approve in chat, or -e jarvis_force=true in a plain run"
    )
    assert ec2_instances_named(world, name) == {} and query(world, fqdn, "A") == []
    assert not (jarvis_config.secrets_dir / f"{fqdn}.yml").exists()

    planned = deploy(jarvis_config, design, check=True)
    assert planned.state == "planned", (planned.stage, planned.reason)
    assert ec2_instances_named(world, name) == {}

    forced = deploy(jarvis_config, design, force=True)
    assert forced.state == "ready", (forced.stage, forced.reason)
    entry = ldap_entry(world, name)
    assert entry is not None and entry["jarvisOwner"] == [fqdn]
    assert [value.upper() for value in entry["jarvisProduction"]] == ["TRUE"], "still in production"
