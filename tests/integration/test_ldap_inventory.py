"""The jarvis.deploy.ldap inventory plugin: real ansible-inventory processes against the sandbox's slapd.

The hosts are written by jarvis.deploy.ldap_host (as the cmdb stage writes them) into an OU of this
module's own, so other tests' hosts never show up; the hostile entries are written with ldap3
directly, since ldap_host refuses such names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ldap3.utils.dn import escape_rdn

from sandbox._process import free_port
from sandbox.slapd import LdapInfo
from tests.integration.fixtures_ldap import hosts_ou
from tests.support.ansible import REPO, ansible_env, run_module

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
EXAMPLE = REPO / "inventory" / "ldap.yml"
HOSTILE_CNS = ("evil)(cn=*", "a;b", "x,y", "*")
KERNEL_TEMPLATE = "{{ lookup('pipe', 'touch MARKER') }}"

HOSTS = {
    "loki": {
        "fqdn": "loki.websages.com",
        "ip": ["10.201.100.11"],
        "provider": "ec2",
        "instance_id": "i-0123456789abcdef0",
        "region": "us-east-1",
        "roles": ["web", "db-main"],
        "production": True,
        "kernel": "6.1.0-31-amd64",
        "ssh_fingerprints": ["SHA256:bbbb", "SHA256:aaaa"],
        "root_public_key": "ssh-ed25519 AAAAroot root@loki",
        "deployed_by": "whitejs",
        "attributes": {"jarvisStandby": "odin.websages.com"},
    },
    "odin": {
        "fqdn": "odin.websages.com",
        "ip": ["10.201.100.12"],
        "provider": "linode",
        "region": "us-east",
        "roles": ["web"],
        "production": False,
        "deployed_by": "whitejs",
    },
    # No fqdn, no address, no production flag, no roles: the emptiest host ldap_host writes.
    "thor": {"provider": "vsphere"},
}


@pytest.fixture(scope="module")
def cmdb(slapd_server: LdapInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An OU of its own holding HOSTS (via ldap_host) and hostile entries (via ldap3); env to reach it."""
    marker = tmp_path_factory.mktemp("inventory") / "templated"
    with hosts_ou(slapd_server, "inventory") as ou:
        hosts_dn, env, conn = ou.hosts_dn, ou.env, ou.conn
        for name, args in HOSTS.items():
            result = run_module("ldap_host", {"name": name, **args}, env=env)
            assert not result.get("failed"), result.get("msg")
        for cn in HOSTILE_CNS:
            assert conn.add(
                f"cn={escape_rdn(cn)},{hosts_dn}", ["device", "jarvisHost"], {"cn": cn, "jarvisProvider": "ec2"}
            )
        # A valid name whose values try to become options and templates.
        assert conn.add(
            f"cn=mallory,{hosts_dn}",
            ["device", "ipHost", "jarvisHost"],
            {
                "cn": "mallory",
                "ipHostNumber": "10.0.0.1 -oProxyCommand=touch",
                "jarvisKernel": KERNEL_TEMPLATE.replace("MARKER", str(marker)),
                "jarvisRole": "we b",
            },
        )
        # Not a jarvisHost: not listed.
        assert conn.add(f"cn=printer,{hosts_dn}", ["device"], {"cn": "printer"})
        yield {"env": env, "hosts_dn": hosts_dn, "marker": marker}


def inventory(
    config: Path, *args: str, env: dict[str, str], check: bool = True, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ansible-inventory -i CONFIG ARGS, with the LDAP settings in the environment."""
    proc = subprocess.run(  # noqa: S603
        [str(BIN / "ansible-inventory"), "-i", str(config), *args],
        capture_output=True,
        text=True,
        env=ansible_env({**env, **(extra or {})}),
        timeout=300,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def write_config(path: Path, **options: Any) -> Path:
    path.write_text(yaml.safe_dump({"plugin": "jarvis.deploy.ldap", **options}))
    return path


def unsafe_unwrapped(value: Any) -> Any:
    """ansible-inventory marks values that must never be templated as {"__ansible_unsafe": value}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: unsafe_unwrapped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unsafe_unwrapped(item) for item in value]
    return value


def listed(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --list JSON of PROC with the unsafe marks taken off."""
    result: dict[str, Any] = unsafe_unwrapped(json.loads(proc.stdout))
    return result


def groups_of(listing: dict[str, Any]) -> dict[str, list[str]]:
    return {name: sorted(group.get("hosts", [])) for name, group in listing.items() if name not in ("_meta", "all")}


@pytest.fixture(scope="module")
def listing(cmdb: dict[str, Any]) -> dict[str, Any]:
    """The example config's --list as printed (raw), without the unsafe marks (data), and ansible's stderr."""
    proc = inventory(EXAMPLE, "--list", env=cmdb["env"])
    return {"raw": json.loads(proc.stdout), "data": listed(proc), "stderr": proc.stderr}


def test_groups_by_provider_role_and_production(listing: dict[str, Any]) -> None:
    groups = groups_of(listing["data"])
    assert groups["provider_ec2"] == ["loki"]
    assert groups["provider_linode"] == ["odin"]
    assert groups["provider_vsphere"] == ["thor"]
    assert groups["role_web"] == ["loki", "odin"]
    assert groups["role_db_main"] == ["loki"]
    assert groups["production"] == ["loki"]
    assert groups["not_production"] == ["mallory", "odin", "thor"]


def test_keyed_groups_and_compose_of_the_example_config(listing: dict[str, Any]) -> None:
    groups = groups_of(listing["data"])
    assert groups["region_us_east_1"] == ["loki"]
    assert groups["region_us_east"] == ["odin"]
    assert groups["deployed_by_whitejs"] == ["loki", "odin"]
    hostvars = listing["data"]["_meta"]["hostvars"]
    assert hostvars["loki"]["ansible_user"] == "root"
    assert hostvars["loki"]["ansible_python_interpreter"] == "/usr/bin/python3"


def test_host_vars_are_the_decoded_cmdb_facts(listing: dict[str, Any]) -> None:
    hostvars = listing["data"]["_meta"]["hostvars"]
    loki = {key: value for key, value in hostvars["loki"].items() if key.startswith("jarvis_cmdb_")}
    deployed_at = loki.pop("jarvis_cmdb_deployed_at")
    assert loki == {
        "jarvis_cmdb_fqdn": "loki.websages.com",
        "jarvis_cmdb_ip": ["10.201.100.11"],
        "jarvis_cmdb_provider": "ec2",
        "jarvis_cmdb_instance_id": "i-0123456789abcdef0",
        "jarvis_cmdb_region": "us-east-1",
        "jarvis_cmdb_roles": ["db-main", "web"],
        "jarvis_cmdb_production": True,
        "jarvis_cmdb_standby": "odin.websages.com",
        "jarvis_cmdb_kernel": "6.1.0-31-amd64",
        "jarvis_cmdb_root_public_key": "ssh-ed25519 AAAAroot root@loki",
        "jarvis_cmdb_ssh_fingerprints": ["SHA256:aaaa", "SHA256:bbbb"],
        "jarvis_cmdb_deployed_by": "whitejs",
        "jarvis_cmdb_owner": "loki.websages.com",  # no jarvisOwner: a jarvisHost entry is its jarvisFqdn's
        "jarvis_cmdb_approval": None,
    }
    assert len(deployed_at) == 20 and deployed_at.endswith("Z") and deployed_at[10] == "T"
    assert hostvars["loki"]["ansible_host"] == "10.201.100.11"
    assert "ansible_host" not in hostvars["thor"]
    assert hostvars["thor"]["jarvis_cmdb_production"] is False
    assert hostvars["thor"]["jarvis_cmdb_roles"] == []
    assert hostvars["thor"]["jarvis_cmdb_fqdn"] is None
    assert hostvars["thor"]["jarvis_cmdb_owner"] is None


def test_graph_shows_the_groups(cmdb: dict[str, Any]) -> None:
    graph = inventory(EXAMPLE, "--graph", env=cmdb["env"]).stdout
    assert "@role_web:" in graph
    assert "  |  |--loki" in graph.split("@role_web:")[1].split("@")[0]
    assert "@production:" in graph and "@not_production:" in graph


def test_hostile_entries_are_skipped_with_a_warning(cmdb: dict[str, Any], listing: dict[str, Any]) -> None:
    data, stderr = listing["data"], listing["stderr"]
    hosts = set(data["_meta"]["hostvars"])
    assert hosts == {"loki", "odin", "thor", "mallory"}, "hostile cns and non-jarvisHost entries are not hosts"
    warnings = " ".join(stderr.split())
    for rdn in ("cn=evil)(cn\\3D*", "cn=a\\3Bb", "cn=x\\2Cy", "cn=*"):
        assert f"skipping {rdn},{cmdb['hosts_dn']}: its cn is not a hostname label" in warnings, stderr
    assert f"cn=mallory,{cmdb['hosts_dn']} has no valid IP address" in warnings
    mallory = data["_meta"]["hostvars"]["mallory"]
    assert "ansible_host" not in mallory, "an address that is no IP address never becomes ansible_host"
    assert "role_we_b" in groups_of(data), "group names are sanitized"


def test_directory_values_are_never_templated(cmdb: dict[str, Any], listing: dict[str, Any]) -> None:
    kernel = listing["raw"]["_meta"]["hostvars"]["mallory"]["jarvis_cmdb_kernel"]
    assert kernel == {"__ansible_unsafe": KERNEL_TEMPLATE.replace("MARKER", str(cmdb["marker"]))}
    proc = subprocess.run(  # noqa: S603
        [
            str(BIN / "ansible"),
            "-i",
            str(EXAMPLE),
            "mallory",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "var=jarvis_cmdb_kernel",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(cmdb["env"]),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lookup('pipe'" in proc.stdout
    assert not cmdb["marker"].exists()


def test_hostnames_fqdn_and_use_ip_false(cmdb: dict[str, Any], tmp_path: Path) -> None:
    config = write_config(tmp_path / "fqdn_ldap.yml", hostnames="fqdn", use_ip=False)
    proc = inventory(config, "--list", env=cmdb["env"])
    hostvars = listed(proc)["_meta"]["hostvars"]
    assert set(hostvars) == {"loki.websages.com", "odin.websages.com", "thor", "mallory"}
    assert all("ansible_host" not in values for values in hostvars.values())
    assert f"cn=thor,{cmdb['hosts_dn']} has no valid jarvisFqdn, named 'thor' by its cn" in " ".join(
        proc.stderr.split()
    )


def test_vault_encrypted_bind_password(cmdb: dict[str, Any], tmp_path: Path) -> None:
    vault_password = tmp_path / "vault-password"
    vault_password.write_text("correct horse battery staple\n")
    secret = cmdb["env"]["JARVIS_LDAP_BIND_PASSWORD"]
    encrypted = subprocess.run(  # noqa: S603
        [
            str(BIN / "ansible-vault"),
            "encrypt_string",
            "--vault-password-file",
            str(vault_password),
            "--stdin-name",
            "bind_pw",
        ],
        input=secret,
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    ).stdout
    config = tmp_path / "vaulted_ldap.yml"
    config.write_text(f"plugin: jarvis.deploy.ldap\n{encrypted}\n")
    assert secret not in config.read_text()
    # The file's bind_pw wins over the environment's: a wrong one there proves the vaulted one is used.
    env = {**cmdb["env"], "JARVIS_LDAP_BIND_PASSWORD": "wrong"}
    proc = inventory(config, "--list", "--vault-password-file", str(vault_password), env=env)
    assert "loki" in listed(proc)["_meta"]["hostvars"], proc.stderr + config.read_text()
    assert secret not in proc.stdout + proc.stderr


def test_wrong_password_is_a_clear_error_without_the_password(cmdb: dict[str, Any], slapd_server: LdapInfo) -> None:
    wrong = "not-the-password-5d1c2e"
    proc = inventory(
        EXAMPLE,
        "--list",
        env=cmdb["env"],
        check=False,
        extra={"JARVIS_LDAP_BIND_PASSWORD": wrong, "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"LDAP bind as {slapd_server.bind_dn} to {slapd_server.uri} failed: invalidCredentials" in output
    assert wrong not in output
    assert slapd_server.bind_password not in output


def test_unreachable_server_is_a_clear_error(cmdb: dict[str, Any]) -> None:
    uri = f"ldap://127.0.0.1:{free_port()}"
    proc = inventory(EXAMPLE, "--graph", env=cmdb["env"], check=False, extra={"JARVIS_LDAP_URI": uri})
    assert f"cannot reach LDAP server {uri}" in proc.stderr
    assert "loki" not in proc.stdout
    assert cmdb["env"]["JARVIS_LDAP_BIND_PASSWORD"] not in proc.stdout + proc.stderr


def test_missing_settings_name_the_environment_variable(cmdb: dict[str, Any]) -> None:
    proc = inventory(EXAMPLE, "--graph", env=cmdb["env"], check=False, extra={"JARVIS_LDAP_HOSTS_DN": ""})
    assert "set hosts_dn in the inventory file or JARVIS_LDAP_HOSTS_DN in the environment" in proc.stderr


def test_cache_answers_while_the_server_is_away(cmdb: dict[str, Any], tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cached_ldap.yml",
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(tmp_path / "cache"),
    )
    first = listed(inventory(config, "--list", env=cmdb["env"]))
    cached = tmp_path / "cache"
    assert any(cached.iterdir())
    assert all(cmdb["env"]["JARVIS_LDAP_BIND_PASSWORD"] not in path.read_text() for path in cached.iterdir())
    away = {"JARVIS_LDAP_URI": f"ldap://127.0.0.1:{free_port()}"}
    again = listed(inventory(config, "--list", env=cmdb["env"], extra=away))
    assert again["_meta"]["hostvars"] == first["_meta"]["hostvars"]
    flushed = inventory(config, "--list", "--flush-cache", env=cmdb["env"], check=False, extra=away)
    assert "cannot reach LDAP server" in flushed.stderr


def test_only_ldap_yml_files_with_this_plugin_are_taken(cmdb: dict[str, Any], tmp_path: Path) -> None:
    only_this = {"ANSIBLE_INVENTORY_ENABLED": "jarvis.deploy.ldap"}
    other_name = write_config(tmp_path / "hosts.yml")
    proc = inventory(other_name, "--graph", env=cmdb["env"], check=False, extra=only_this)
    assert "loki" not in proc.stdout
    other_plugin = tmp_path / "other_ldap.yml"
    other_plugin.write_text("plugin: community.general.ldap\n")
    proc = inventory(other_plugin, "--graph", env=cmdb["env"], check=False, extra=only_this)
    assert "loki" not in proc.stdout
    assert "Incorrect plugin name" not in proc.stderr, "verify_file already declined a file that is not its own"
