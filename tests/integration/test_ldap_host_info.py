"""jarvis.deploy.ldap_host_info against the sandbox's real slapd: what a redeploy reads from the CMDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox._process import free_port
from sandbox.slapd import LdapInfo
from tests.integration.fixtures_ldap import hosts_ou
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration

DESIGN = "hostname: vidar\nprovider: ec2\nroles: [web]\n"
VIDAR = {
    "fqdn": "vidar.websages.com",
    "ip": ["10.201.100.21", "10.201.100.20"],
    "provider": "ec2",
    "instance_id": "i-0123456789abcdef1",
    "region": "us-east-1",
    "ssh_fingerprints": ["SHA256:bbbb", "SHA256:aaaa"],
    "root_public_key": "ssh-ed25519 AAAAroot root@vidar",
    "kernel": "6.1.0-31-amd64",
    "deployed_by": "whitejs",
    "production": True,
    "roles": ["web", "cache"],
    "attributes": {"jarvisStandby": "odin.websages.com", "jarvisDesign": DESIGN},
}


@pytest.fixture(scope="module")
def cmdb(slapd_server: LdapInfo) -> Iterator[dict[str, Any]]:
    """An OU of this module's own with the host vidar written by ldap_host; the env to reach it."""
    with hosts_ou(slapd_server, "info") as ou:
        written = run_module("ldap_host", {"name": "vidar", **VIDAR}, env=ou.env)
        assert not written.get("failed"), written.get("msg")
        yield {"env": ou.env, "hosts_dn": ou.hosts_dn, "conn": ou.conn, "entry": written["entry"]}


def read(cmdb: dict[str, Any], name: str, *, check: bool = False) -> dict[str, Any]:
    result = run_module("ldap_host_info", {"name": name}, check=check, env=cmdb["env"])
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result


def test_an_entry_is_read_and_decoded(cmdb: dict[str, Any]) -> None:
    result = read(cmdb, "vidar")
    assert result["exists"] is True
    assert result["dn"] == f"cn=vidar,{cmdb['hosts_dn']}"
    host = result["host"]
    deployed_at = host.pop("deployed_at")
    assert host == {
        "fqdn": "vidar.websages.com",
        "ip": ["10.201.100.20", "10.201.100.21"],
        "provider": "ec2",
        "instance_id": "i-0123456789abcdef1",
        "region": "us-east-1",
        "roles": ["cache", "web"],
        "production": True,
        "standby": "odin.websages.com",
        "kernel": "6.1.0-31-amd64",
        "root_public_key": "ssh-ed25519 AAAAroot root@vidar",
        "ssh_fingerprints": ["SHA256:aaaa", "SHA256:bbbb"],
        "deployed_by": "whitejs",
        "owner": "vidar.websages.com",  # no jarvisOwner: a jarvisHost entry is its jarvisFqdn's
        "approval": None,
    }
    stored = cmdb["entry"]["jarvisDeployedAt"][0]
    assert deployed_at == f"{stored[:4]}-{stored[4:6]}-{stored[6:8]}T{stored[8:10]}:{stored[10:12]}:{stored[12:14]}Z"
    assert result["attributes"] == cmdb["entry"], "the raw attributes are the entry as ldap_host wrote it"
    assert result["attributes"]["jarvisDesign"] == [DESIGN.strip()]


def test_check_mode_reads_the_same(cmdb: dict[str, Any]) -> None:
    assert read(cmdb, "vidar", check=True)["host"] == read(cmdb, "vidar")["host"]


def test_a_missing_host_is_no_error(cmdb: dict[str, Any]) -> None:
    for check in (True, False):
        result = read(cmdb, "nobody", check=check)
        assert result["exists"] is False
        assert result["attributes"] == {}
        assert result["host"]["production"] is False
        assert result["host"]["standby"] is None
        assert result["host"]["roles"] == [] and result["host"]["ip"] == []


def test_user_password_is_left_out(cmdb: dict[str, Any]) -> None:
    secret = "{SSHA}do-not-show-" + uuid.uuid4().hex
    dn = f"cn=vali,{cmdb['hosts_dn']}"
    assert cmdb["conn"].add(
        dn, ["device", "jarvisHost", "simpleSecurityObject"], {"cn": "vali", "userPassword": secret}
    )
    result = read(cmdb, "vali")
    assert result["exists"] is True
    assert "userPassword" not in result["attributes"]
    assert result["attributes"]["cn"] == ["vali"]
    assert secret not in result["_stdout"]


def test_hostile_names_are_refused_before_the_server_is_asked(cmdb: dict[str, Any]) -> None:
    # The server is unreachable: a refusal that tried to connect would fail differently.
    env = {**cmdb["env"], "JARVIS_LDAP_URI": f"ldap://127.0.0.1:{free_port()}"}
    for name in ("vidar)(cn=*", "*", "vidar,ou=x"):
        result = run_module("ldap_host_info", {"name": name}, env=env)
        assert result.get("failed")
        assert "is not a hostname label" in result["msg"]


def test_wrong_password_fails_without_leaking_it(cmdb: dict[str, Any], slapd_server: LdapInfo) -> None:
    wrong = "not-the-password-8e2b41"
    result = run_module("ldap_host_info", {"name": "vidar"}, env={**cmdb["env"], "JARVIS_LDAP_BIND_PASSWORD": wrong})
    assert result.get("failed")
    assert f"LDAP bind as {slapd_server.bind_dn} to {slapd_server.uri} failed: invalidCredentials" in result["msg"]
    assert wrong not in result["_stdout"]
    assert slapd_server.bind_password not in result["_stdout"]
