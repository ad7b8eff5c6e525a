"""jarvis.deploy.ldap_host against the sandbox's real slapd, checked with ldap3 directly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ldap3
import pytest

from sandbox._process import free_port
from sandbox.slapd import LdapInfo
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY_B = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKeyB"
DESIGN = "hostname: loki\nprovider: ec2\nsize: t3.micro\n"


@pytest.fixture
def ldap_env(slapd_server: LdapInfo) -> dict[str, str]:
    """The module's connection settings, passed the way the orchestrator passes them: environment."""
    return {
        "JARVIS_LDAP_URI": slapd_server.uri,
        "JARVIS_LDAP_BIND_DN": slapd_server.bind_dn,
        "JARVIS_LDAP_BIND_PASSWORD": slapd_server.bind_password,
        "JARVIS_LDAP_HOSTS_DN": slapd_server.hosts_dn,
    }


@pytest.fixture
def directory(slapd_server: LdapInfo) -> Iterator[ldap3.Connection]:
    """An admin connection of the test's own, to look at what the module really wrote."""
    server = ldap3.Server(slapd_server.uri, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, slapd_server.bind_dn, slapd_server.bind_password, auto_bind=True)
    yield conn
    conn.unbind()


def host_entry(conn: ldap3.Connection, info: LdapInfo, name: str) -> dict[str, list[str]] | None:
    """The entry cn=NAME under ou=Hosts as {attribute: sorted values}, or None."""
    if not conn.search(f"cn={name},{info.hosts_dn}", "(objectClass=*)", ldap3.BASE, attributes=["*"]):
        return None
    raw = conn.response[0]["raw_attributes"]
    return {attr: sorted(v.decode() for v in values) for attr, values in raw.items()}


def snapshot(conn: ldap3.Connection, info: LdapInfo) -> list[tuple[str, dict[str, list[str]]]]:
    """Every entry of the directory with its operational attributes (entryCSN moves on any write)."""
    conn.search(info.base_dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["*", "+"])
    return sorted(
        (item["dn"], {a: sorted(v.decode() for v in vs) for a, vs in item["raw_attributes"].items()})
        for item in conn.response
    )


def deployed_at(entry: dict[str, list[str]]) -> datetime:
    return datetime.strptime(entry["jarvisDeployedAt"][0], "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def next_second(after: datetime) -> None:
    """jarvisDeployedAt has whole seconds: make sure the clock has moved past AFTER's second."""
    delay = (after.timestamp() + 1.05) - time.time()
    if delay > 0:
        time.sleep(delay)


def ok(result: dict[str, Any], changed: bool) -> None:
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is changed, result["actions"]


def test_create_in_four_beats(slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection):
    args = {
        "name": "loki",
        "fqdn": "loki.websages.com",
        "ip": ["10.201.100.11"],
        "provider": "ec2",
        "instance_id": "i-0123456789abcdef0",
        "region": "us-east-1",
        "ssh_host_keys": [KEY_A, KEY_B],
        "ssh_fingerprints": ["SHA256:aaaa", "SHA256:bbbb"],
        "root_public_key": "ssh-ed25519 AAAAroot root@loki",
        "deployed_by": "whitejs",
        "production": False,
        "attributes": {"jarvisStandby": "odin.websages.com", "jarvisDesign": DESIGN},
    }
    dn = f"cn=loki,{slapd_server.hosts_dn}"

    result = run_module("ldap_host", args, check=True, diff=True, env=ldap_env)
    ok(result, changed=True)
    assert result["dn"] == dn
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["jarvisFqdn"] == ["loki.websages.com"]
    assert result["actions"][0].startswith(f"add entry {dn}")
    assert host_entry(directory, slapd_server, "loki") is None

    started = datetime.now(UTC).replace(microsecond=0)
    result = run_module("ldap_host", args, env=ldap_env)
    ok(result, changed=True)
    entry = host_entry(directory, slapd_server, "loki")
    assert entry is not None
    assert entry["objectClass"] == ["device", "ipHost", "jarvisHost"]
    assert entry["cn"] == ["loki"]
    assert entry["ipHostNumber"] == ["10.201.100.11"]
    assert entry["jarvisFqdn"] == ["loki.websages.com"]
    assert entry["jarvisProvider"] == ["ec2"]
    assert entry["jarvisInstanceId"] == ["i-0123456789abcdef0"]
    assert entry["jarvisRegion"] == ["us-east-1"]
    assert entry["jarvisSshHostKey"] == sorted([KEY_A, KEY_B])
    assert entry["jarvisSshFingerprint"] == ["SHA256:aaaa", "SHA256:bbbb"]
    assert entry["jarvisRootPublicKey"] == ["ssh-ed25519 AAAAroot root@loki"]
    assert entry["jarvisDeployedBy"] == ["whitejs"]
    assert entry["jarvisProduction"] == ["FALSE"]
    assert entry["jarvisStandby"] == ["odin.websages.com"]
    assert entry["jarvisDesign"] == [DESIGN.strip()]
    assert started <= deployed_at(entry) <= datetime.now(UTC)
    assert result["entry"] == entry

    ok(run_module("ldap_host", args, check=True, env=ldap_env), changed=False)
    result = run_module("ldap_host", args, env=ldap_env)
    ok(result, changed=False)
    assert result["actions"] == []
    assert host_entry(directory, slapd_server, "loki") == entry


def test_update_moves_deployed_at_and_leaves_the_rest(
    slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection
):
    ok(
        run_module("ldap_host", {"name": "thor", "fqdn": "thor.websages.com", "region": "a"}, env=ldap_env),
        True,
    )
    created = host_entry(directory, slapd_server, "thor")
    assert created is not None
    next_second(deployed_at(created))

    result = run_module("ldap_host", {"name": "thor", "region": "b"}, diff=True, env=ldap_env)
    ok(result, changed=True)
    assert "set jarvisRegion to b" in result["actions"]
    assert result["diff"]["before"]["jarvisRegion"] == ["a"]
    assert result["diff"]["after"]["jarvisRegion"] == ["b"]
    updated = host_entry(directory, slapd_server, "thor")
    assert updated is not None
    assert updated["jarvisRegion"] == ["b"]
    assert updated["jarvisFqdn"] == ["thor.websages.com"], "an option left out must leave its attribute alone"
    assert deployed_at(updated) > deployed_at(created)

    ok(run_module("ldap_host", {"name": "thor", "region": "b"}, env=ldap_env), changed=False)
    assert host_entry(directory, slapd_server, "thor") == updated


def test_host_key_order_does_not_matter(slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection):
    ok(run_module("ldap_host", {"name": "freyja", "ssh_host_keys": [KEY_A, KEY_B]}, env=ldap_env), True)
    before = host_entry(directory, slapd_server, "freyja")
    result = run_module("ldap_host", {"name": "freyja", "ssh_host_keys": [KEY_B, KEY_A]}, env=ldap_env)
    ok(result, changed=False)
    assert host_entry(directory, slapd_server, "freyja") == before


def test_production_is_kept_when_omitted(slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection):
    ok(run_module("ldap_host", {"name": "heimdall", "production": True}, env=ldap_env), changed=True)
    ok(run_module("ldap_host", {"name": "heimdall", "fqdn": "heimdall.websages.com"}, env=ldap_env), True)
    entry = host_entry(directory, slapd_server, "heimdall")
    assert entry is not None
    assert entry["jarvisProduction"] == ["TRUE"]
    assert entry["jarvisFqdn"] == ["heimdall.websages.com"]


def test_missing_object_classes_are_added(
    slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection
):
    assert directory.add(f"cn=njord,{slapd_server.hosts_dn}", ["device"], {"cn": "njord"})
    result = run_module("ldap_host", {"name": "njord", "fqdn": "njord.websages.com"}, env=ldap_env)
    ok(result, changed=True)
    assert "add objectClass jarvisHost" in result["actions"]
    entry = host_entry(directory, slapd_server, "njord")
    assert entry is not None
    assert entry["objectClass"] == ["device", "jarvisHost"]  # ipHost needs an address

    ok(run_module("ldap_host", {"name": "njord", "ip": ["10.201.100.12"]}, env=ldap_env), changed=True)
    entry = host_entry(directory, slapd_server, "njord")
    assert entry is not None
    assert entry["objectClass"] == ["device", "ipHost", "jarvisHost"]


def test_absent_in_four_beats(slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection):
    ok(run_module("ldap_host", {"name": "baldur", "fqdn": "baldur.websages.com"}, env=ldap_env), True)
    args = {"name": "baldur", "state": "absent"}

    result = run_module("ldap_host", args, check=True, env=ldap_env)
    ok(result, changed=True)
    assert result["actions"] == [f"delete entry cn=baldur,{slapd_server.hosts_dn}"]
    assert host_entry(directory, slapd_server, "baldur") is not None
    ok(run_module("ldap_host", args, env=ldap_env), changed=True)
    assert host_entry(directory, slapd_server, "baldur") is None
    ok(run_module("ldap_host", args, check=True, env=ldap_env), changed=False)
    result = run_module("ldap_host", args, env=ldap_env)
    ok(result, changed=False)
    assert result["entry"] == {}


@pytest.mark.parametrize("name", ["loki)(cn=*", "loki,ou=x", "loki;rm -rf /"])
def test_hostile_names_are_refused_before_any_write(
    name: str, slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection
):
    before = snapshot(directory, slapd_server)
    result = run_module("ldap_host", {"name": name, "fqdn": "evil.example.com"}, env=ldap_env)
    assert result.get("failed")
    assert "is not a hostname label" in result["msg"]
    assert snapshot(directory, slapd_server) == before


def test_wrong_password_fails_without_leaking_it(slapd_server: LdapInfo, ldap_env: dict[str, str]):
    wrong = "not-the-password-7f3a9c"
    result = run_module("ldap_host", {"name": "loki"}, env={**ldap_env, "JARVIS_LDAP_BIND_PASSWORD": wrong})
    assert result.get("failed")
    assert "invalidCredentials" in result["msg"]
    assert slapd_server.bind_dn in result["msg"]
    assert wrong not in result["_stdout"]
    assert slapd_server.bind_password not in result["_stdout"]


def test_server_down_fails_clearly(ldap_env: dict[str, str]):
    uri = f"ldap://127.0.0.1:{free_port()}"
    result = run_module("ldap_host", {"name": "loki", "timeout": 2}, env={**ldap_env, "JARVIS_LDAP_URI": uri})
    assert result.get("failed")
    assert f"cannot reach LDAP server {uri}" in result["msg"]
    assert "Traceback" not in result["_stdout"]


def test_schema_violation_names_dn_and_result(
    slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection
):
    result = run_module("ldap_host", {"name": "hermod", "attributes": {"uid": "hermod"}}, env=ldap_env)
    assert result.get("failed")
    assert f"cn=hermod,{slapd_server.hosts_dn}" in result["msg"]
    assert "objectClassViolation" in result["msg"]
    assert host_entry(directory, slapd_server, "hermod") is None


def test_roles_are_a_set_and_an_empty_list_removes_them(
    slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection
):
    args = {"name": "vali", "fqdn": "vali.websages.com", "roles": ["web", "cache"]}
    result = run_module("ldap_host", args, check=True, env=ldap_env)
    ok(result, changed=True)
    assert "set jarvisRole to 2 values (2 added, 0 removed)" in result["actions"]
    assert host_entry(directory, slapd_server, "vali") is None
    ok(run_module("ldap_host", args, env=ldap_env), changed=True)
    entry = host_entry(directory, slapd_server, "vali")
    assert entry is not None
    assert entry["jarvisRole"] == ["cache", "web"]
    ok(run_module("ldap_host", {**args, "roles": ["cache", "web"]}, check=True, env=ldap_env), changed=False)
    ok(run_module("ldap_host", {**args, "roles": ["cache", "web"]}, env=ldap_env), changed=False)

    ok(run_module("ldap_host", {"name": "vali", "fqdn": "vali.websages.com"}, env=ldap_env), changed=False)
    entry = host_entry(directory, slapd_server, "vali")
    assert entry is not None and entry["jarvisRole"] == ["cache", "web"], "roles left out are left alone"

    result = run_module("ldap_host", {"name": "vali", "roles": []}, env=ldap_env)
    ok(result, changed=True)
    assert "remove jarvisRole" in result["actions"]
    entry = host_entry(directory, slapd_server, "vali")
    assert entry is not None and "jarvisRole" not in entry


def test_owner_and_approval_are_recorded(slapd_server: LdapInfo, ldap_env: dict[str, str], directory: ldap3.Connection):
    approval = "r-1a2b3c approved by irc:bob!~bob@ops.example.com at 2026-12-01 10:00:00 UTC"
    args = {"name": "hermod", "fqdn": "hermod.websages.com", "owner": "Hermod.WebSages.com.", "approval": approval}
    result = run_module("ldap_host", args, env=ldap_env)
    ok(result, changed=True)
    assert "set jarvisOwner to hermod.websages.com" in result["actions"]
    entry = host_entry(directory, slapd_server, "hermod")
    assert entry is not None
    assert (entry["jarvisOwner"], entry["jarvisApproval"]) == (["hermod.websages.com"], [approval])
    ok(run_module("ldap_host", {**args, "owner": "hermod.websages.com"}, env=ldap_env), changed=False)
    ok(run_module("ldap_host", {"name": "hermod", "approval": ""}, env=ldap_env), changed=True)
    entry = host_entry(directory, slapd_server, "hermod")
    assert entry is not None and "jarvisApproval" not in entry and entry["jarvisOwner"] == ["hermod.websages.com"]
