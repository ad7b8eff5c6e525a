"""Looking at the sandbox's real servers from a test: DNS answers, LDAP entries, commands on a host."""

from __future__ import annotations

import subprocess
from typing import Any

import boto3
import dns.message
import dns.query
import dns.rdatatype
import ldap3


def query(world: dict, name: str, rdtype: str) -> list[str]:
    """The sandbox named's answer for NAME/RDTYPE, as sorted text."""
    response = dns.query.tcp(dns.message.make_query(name, rdtype), world["dns"]["server"], port=world["dns"]["port"])
    return sorted(
        rdata.to_text()
        for rrset in response.answer
        for rdata in rrset
        if rrset.rdtype == dns.rdatatype.from_text(rdtype)
    )


def ldap_entry(world: dict, hostname: str) -> dict[str, list[str]] | None:
    """HOSTNAME's entry under the sandbox's ou=Hosts (attribute -> values), None if there is none."""
    ldap = world["ldap"]
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        conn.search(ldap["hosts_dn"], f"(cn={hostname})", attributes=["*"])
        if not conn.entries:
            return None
        return {key: [str(v) for v in values] for key, values in conn.entries[0].entry_attributes_as_dict.items()}
    finally:
        conn.unbind()


def set_production(world: dict, hostname: str, value: bool) -> None:
    """Flag HOSTNAME's CMDB entry as in production (or not), as an operator would."""
    ldap = world["ldap"]
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        conn.modify(
            f"cn={hostname},{ldap['hosts_dn']}",
            {"jarvisProduction": [(ldap3.MODIFY_REPLACE, ["TRUE" if value else "FALSE"])]},
        )
        assert conn.result["result"] == 0, conn.result
    finally:
        conn.unbind()


def on_host(world: dict, ip: str, command: str) -> str:
    """Run COMMAND as root on the sandbox host at IP over SSH; its stdout."""
    return subprocess.run(
        ["ssh", "-i", world["ssh_key"], "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        + ["-o", "BatchMode=yes", f"root@{ip}", command],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def ec2_client(world: dict) -> Any:
    """A boto3 EC2 client of the sandbox's moto server."""
    info = world["ec2"]
    return boto3.client(
        "ec2",
        endpoint_url=info["endpoint_url"],
        region_name=info["region"],
        aws_access_key_id=info["access_key"],
        aws_secret_access_key=info["secret_key"],
    )


def ec2_instances(world: dict, hostname: str) -> list[dict[str, Any]]:
    """The sandbox EC2's instances named HOSTNAME that are not terminated (or terminating)."""
    client = ec2_client(world)
    try:
        found = client.describe_instances(Filters=[{"Name": "tag:Name", "Values": [hostname]}])
    finally:
        client.close()
    return [
        instance
        for reservation in found["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("terminated", "shutting-down")
    ]
