# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decoding of a CMDB host entry that ldap_host_info and the ldap inventory plugin share."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.jarvis.deploy.plugins.module_utils._ldap import HOST_FACTS, decode_host, without_secrets
from ansible_collections.jarvis.deploy.plugins.modules import ldap_host_info

EMPTY = {
    "fqdn": None,
    "ip": [],
    "provider": None,
    "instance_id": None,
    "region": None,
    "roles": [],
    "production": False,
    "standby": None,
    "kernel": None,
    "root_public_key": None,
    "ssh_fingerprints": [],
    "deployed_at": None,
    "deployed_by": None,
    "owner": None,
    "approval": None,
}


def test_a_full_entry_is_decoded():
    entry = {
        "objectClass": ["device", "ipHost", "jarvisHost"],
        "cn": ["loki"],
        "ipHostNumber": ["10.201.100.11", "10.201.100.10"],
        "jarvisFqdn": ["loki.websages.com"],
        "jarvisProvider": ["ec2"],
        "jarvisInstanceId": ["i-0123456789abcdef0"],
        "jarvisRegion": ["us-east-1"],
        "jarvisRole": ["web", "cache", "web"],
        "jarvisProduction": ["TRUE"],
        "jarvisStandby": ["odin.websages.com"],
        "jarvisKernel": ["6.1.0-31-amd64"],
        "jarvisRootPublicKey": ["ssh-ed25519 AAAAroot root@loki"],
        "jarvisSshFingerprint": ["SHA256:bbbb", "SHA256:aaaa"],
        "jarvisDeployedAt": ["20250101120000Z"],
        "jarvisDeployedBy": ["whitejs"],
        "jarvisDesign": ["hostname: loki"],
        "jarvisOwner": ["Loki.WebSages.com."],
        "jarvisApproval": ["r-1a2b approved by irc:alice!~a@ops at 2026-01-01T12:00:00Z"],
    }
    assert decode_host(entry) == {
        "fqdn": "loki.websages.com",
        "ip": ["10.201.100.10", "10.201.100.11"],
        "provider": "ec2",
        "instance_id": "i-0123456789abcdef0",
        "region": "us-east-1",
        "roles": ["cache", "web"],
        "production": True,
        "standby": "odin.websages.com",
        "kernel": "6.1.0-31-amd64",
        "root_public_key": "ssh-ed25519 AAAAroot root@loki",
        "ssh_fingerprints": ["SHA256:aaaa", "SHA256:bbbb"],
        "deployed_at": "2025-01-01T12:00:00Z",
        "deployed_by": "whitejs",
        "owner": "loki.websages.com",
        "approval": "r-1a2b approved by irc:alice!~a@ops at 2026-01-01T12:00:00Z",
    }


@pytest.mark.parametrize(
    ("entry", "owner"),
    [
        # An entry of a jarvis older than owner marks: its own class and fqdn say whose it is.
        ({"objectClass": ["device", "ipHost", "jarvisHost"], "jarvisFqdn": ["Loki.websages.com"]}, "loki.websages.com"),
        ({"objectclass": ["JARVISHOST"], "jarvisfqdn": ["loki.websages.com"]}, "loki.websages.com"),
        # Not jarvis's: another class, or no fqdn to own.
        ({"objectClass": ["device"], "jarvisFqdn": ["loki.websages.com"]}, None),
        ({"objectClass": ["device", "jarvisHost"]}, None),
        # jarvisOwner wins over the fqdn.
        ({"objectClass": ["jarvisHost"], "jarvisFqdn": ["a.websages.com"], "jarvisOwner": ["x.org"]}, "x.org"),
    ],
)
def test_the_owner_is_jarvis_owner_else_the_fqdn_of_a_jarvis_entry(entry, owner):
    assert decode_host(entry)["owner"] == owner


def test_an_empty_entry_gives_every_fact_its_empty_value():
    assert decode_host({}) == EMPTY
    assert [key for key, _attribute, _kind in HOST_FACTS] == list(EMPTY)


def test_attribute_names_are_case_insensitive():
    facts = decode_host({"JARVISPRODUCTION": ["true"], "iphostnumber": ["10.0.0.1"], "JarvisRole": ["db"]})
    assert facts["production"] is True
    assert facts["ip"] == ["10.0.0.1"]
    assert facts["roles"] == ["db"]


@pytest.mark.parametrize("value", ["FALSE", "yes", "1", ""])
def test_only_true_is_production(value):
    assert decode_host({"jarvisProduction": [value]})["production"] is False


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("20250101120000Z", "2025-01-01T12:00:00Z"),
        ("20250101120000.123Z", "2025-01-01T12:00:00Z"),
        ("20250101120000+0200", "20250101120000+0200"),
        ("yesterday", "yesterday"),
    ],
)
def test_deployed_at_is_iso_8601_when_it_is_utc(raw, decoded):
    assert decode_host({"jarvisDeployedAt": [raw]})["deployed_at"] == decoded


def test_the_result_is_plain_json():
    facts = decode_host({"jarvisRole": ["web"], "jarvisProduction": ["TRUE"]})
    assert json.loads(json.dumps(facts)) == facts


def test_user_password_is_never_handed_out():
    entry = {"cn": ["loki"], "userPassword": ["{SSHA}secret"], "USERPASSWORD": ["x"]}
    assert without_secrets(entry) == {"cn": ["loki"]}


@pytest.mark.parametrize("name", ["loki)(cn=*", "*", "loki,ou=x", "loki;rm -rf /", "lo ki", "-loki"])
def test_ldap_host_info_refuses_hostile_names_before_any_connection(name, capsys):
    # The URI has no server behind it: a refusal that tried to connect would fail differently.
    args = {"name": name, "server_uri": "ldap://127.0.0.1:1", "hosts_dn": "ou=Hosts,dc=example,dc=com", "timeout": 1}
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        ldap_host_info.main()
    assert exited.value.code == 1
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert "is not a hostname label" in result["msg"]
