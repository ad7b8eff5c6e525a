"""The config file as jarvis reads it: each section's refusals name their key, defaults, credentials
filled from the environment, and the 0600 rule for a file that holds credentials."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import Config, load_config
from orchestrator.credentials import CREDENTIAL_ENV, CREDENTIALS
from orchestrator.errors import ConfigError

OTHER_ENV = ("JARVIS_VAULT_PASSWORD_FILE", "JARVIS_AWX_TOKEN", "JARVIS_CONFIG")


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No credential, token or config from the environment unless a test sets one; home in tmp_path."""
    for keys in CREDENTIAL_ENV.values():
        for env in keys.values():
            monkeypatch.delenv(env, raising=False)
    for env in OTHER_ENV:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("JARVIS_HOME", str(tmp_path / "home"))
    yield


def config_file(tmp_path: Path, content: dict[str, Any] | str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    path.chmod(mode)
    return path


def refusal(tmp_path: Path, content: dict[str, Any] | str) -> str:
    path = config_file(tmp_path, content)
    with pytest.raises(ConfigError) as refused:
        load_config(str(path))
    message = str(refused.value)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


# --- every section's refusals name the key ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"hme": "/x"}, "unknown key 'hme' (known: address, authorized_keys, bot, cli_admins, credentials, ec2, "),
        ({"home": 5}, "home must be a string"),
        ({"vault_password_file": ["/a"]}, "vault_password_file must be a string"),
        ({"authorized_keys": "ssh-ed25519 AAAA"}, "authorized_keys must be a list"),
        ({"authorized_keys": ["ssh-ed25519 AAAA", 5]}, "authorized_keys[1] must be a string"),
        ({"ssh_private_key": 5}, "ssh_private_key must be a string"),
        ({"address": "both"}, "address: expected private or public, got 'both'"),
        ({"address": None}, "address: expected private or public, got None"),
        ({"ec2": ["subnet"]}, "ec2 must be a mapping"),
        ({"linode": "x"}, "linode must be a mapping"),
        ({"vsphere": 1}, "vsphere must be a mapping"),
        ({"mappings": []}, "mappings must be a mapping"),
        ({"bot": ["irc"]}, "bot must be a mapping"),
        ({"reboot": "reboot now"}, "reboot must be a mapping"),
        ({"reboot": {"command": 5}}, "reboot.command must be a string"),
        ({"zones": "websages.com"}, "zones must be a list of DNS zone names, like [websages.com, 201.10.in-addr.arpa]"),
        ({"zones": ["websages.com", " . "]}, "zones must be a list of DNS zone names"),
        (
            {"cli_admins": ["root", " "]},
            "cli_admins must be a list of unix user names, like [root, ops] (got ['root', ' '])",
        ),
        ({"cli_admins": None}, "cli_admins must be a list of unix user names"),
        ({"lease_seconds": 4}, "lease_seconds must be a number of seconds from 5 to 3600 (got 4)"),
        ({"lease_seconds": 3601}, "lease_seconds must be a number of seconds from 5 to 3600 (got 3601)"),
        ({"lease_seconds": "60"}, "lease_seconds must be a number of seconds from 5 to 3600 (got '60')"),
        ({"lease_seconds": True}, "lease_seconds must be a number of seconds from 5 to 3600 (got True)"),
        ({"lease_seconds": None}, "lease_seconds must be a number of seconds from 5 to 3600 (got None)"),
        ({"executor": "local"}, "executor must be a mapping"),
        ({"executor": {"type": "k8s"}}, "executor.type must be one of local, remote, awx, not 'k8s'"),
        ({"credentials": ["aws"]}, "credentials must be a mapping"),
        ({"credentials": {"aws": "key"}}, "credentials.aws must be a mapping"),
        ({"credentials": {"dns": {"port": [53]}}}, "credentials.dns.port must be a string or a number"),
        ({"gitosis": "git@h:r.git"}, "gitosis must be a mapping"),
        ({"gitosis": {"remote": {}}}, "gitosis: unknown key 'remote' (known: allowed, group, known_hosts, port, "),
        ({"gitosis": {"remotes": ["a@b:c.git"]}}, "gitosis.remotes must map the remotes designs name to the remotes"),
        ({"gitosis": {"allowed": "a@b:c.git"}}, "gitosis.allowed must be a list of remotes (user@host:path.git)"),
        ({"gitosis": {"port": [22]}}, "gitosis.port must be a port number (got [22])"),
        ({"gitosis": {"group": 5}}, "gitosis.group must be a string"),
        (
            {"gitosis": {"allowed": ["a@b:c.git"], "ssh_private_key": "/k"}},
            "gitosis.known_hosts is required when gitosis.remotes or gitosis.allowed is set (the server's host key",
        ),
        (
            {"gitosis": {"remotes": {"a@b:c.git": "a@d:c.git"}, "known_hosts": "/kh"}},
            "gitosis.ssh_private_key is required when gitosis.remotes or gitosis.allowed is set (only this key",
        ),
    ],
)
def test_every_refusal_names_the_file_and_the_key(tmp_path: Path, content: dict[str, Any], message: str) -> None:
    assert refusal(tmp_path, content).startswith(message)


def test_a_refusal_does_not_show_a_credential_of_the_wrong_type(tmp_path: Path) -> None:
    said = refusal(tmp_path, {"credentials": {"aws": {"secret_key": ["s3cr3t-value"]}}})
    assert said == "credentials.aws.secret_key must be a string or a number"


def test_the_file_itself_must_be_readable_yaml_holding_a_mapping(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match=f"cannot read the config file {missing}: No such file or directory"):
        load_config(str(missing))
    path = config_file(tmp_path, "home: [\n")
    with pytest.raises(ConfigError, match=f"the config file {path} is not valid YAML"):
        load_config(str(path))
    path = config_file(tmp_path, "- home\n")
    with pytest.raises(ConfigError, match=f"the config file {path} must hold a mapping"):
        load_config(str(path))


# --- defaults -------------------------------------------------------------------------------------------


def comparable(config: Config) -> dict[str, Any]:
    """CONFIG but the fields a loaded config always fills (every credential group, both gitosis lists)."""
    filled = ("path", "credentials", "gitosis")
    return {key: value for key, value in dataclasses.asdict(config).items() if key not in filled}


def test_an_empty_file_or_none_at_all_means_the_defaults(tmp_path: Path) -> None:
    for config in (load_config(str(config_file(tmp_path, ""))), load_config()):
        assert comparable(config) == comparable(Config())
        assert config.credentials == {group: {} for group in CREDENTIAL_ENV}
        assert config.executor == {"type": "local"}
        assert (config.address, config.cli_admins, config.lease_seconds) == ("private", ["root"], 60.0)
        assert config.gitosis == {"remotes": {}, "allowed": []}
    assert load_config().path is None


def test_a_key_left_empty_means_its_default_where_that_reads_naturally(tmp_path: Path) -> None:
    keys = ["authorized_keys", "ec2", "linode", "vsphere", "mappings", "credentials", "bot", "gitosis", "zones"]
    config = load_config(str(config_file(tmp_path, "\n".join(f"{key}:" for key in [*keys, "reboot", "executor"]))))
    assert comparable(config) == comparable(Config())
    assert config.gitosis == {"remotes": {}, "allowed": []}
    config = load_config(str(config_file(tmp_path, {"gitosis": {"remotes": None, "allowed": None}})))
    assert config.gitosis == {"remotes": {}, "allowed": []}


def test_what_the_file_says_is_read_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JARVIS_HOME")
    path = config_file(
        tmp_path,
        {
            "home": str(tmp_path / "state"),
            "vault_password_file": "/etc/jarvis/vault",
            "authorized_keys": ["ssh-ed25519 AAAA jarvis@ops"],
            "ssh_private_key": "/etc/jarvis/id_ed25519",
            "address": "public",
            "ec2": {"subnet_id": "subnet-1"},
            "mappings": {"ec2": {"images": {"debian 12": "ami-1"}}},
            "zones": [" WebSages.com. ", "201.10.in-addr.arpa"],
            "cli_admins": [" ops ", "root"],
            "lease_seconds": 30,
            "reboot": {"command": "reboot", "boot_time_command": "uptime -s"},
            "executor": {"type": "remote", "host": "worker"},
            "gitosis": {"allowed": ["g@h:r.git"], "port": 2222, "known_hosts": "/kh", "ssh_private_key": "/k"},
        },
    )
    config = load_config(str(path))
    assert config.path == path and config.home == tmp_path / "state"
    assert config.vault_password_file == Path("/etc/jarvis/vault")
    assert config.ssh_private_key == Path("/etc/jarvis/id_ed25519")
    assert config.zones == ["websages.com", "201.10.in-addr.arpa"]
    assert config.cli_admins == ["ops", "root"]
    assert config.lease_seconds == 30.0 and isinstance(config.lease_seconds, float)
    assert config.executor == {"type": "remote", "host": "worker"}  # the remote executor checks the rest
    assert config.gitosis == {
        "allowed": ["g@h:r.git"],
        "port": 2222,
        "known_hosts": "/kh",
        "ssh_private_key": "/k",
        "remotes": {},
    }
    site = config.site_vars()
    assert (site["jarvis_address"], site["jarvis_reboot_command"], site["jarvis_boot_time_command"]) == (
        "public",
        "reboot",
        "uptime -s",
    )
    assert site["ansible_ssh_private_key_file"] == "/etc/jarvis/id_ed25519"
    assert site["jarvis_ec2"] == {"subnet_id": "subnet-1"} and site["jarvis_zones"] == config.zones


def test_jarvis_home_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    config = load_config(str(config_file(tmp_path, {"home": str(tmp_path / "state")})))
    assert config.home == tmp_path / "home"


# --- credentials from the environment -------------------------------------------------------------------


def test_every_credential_left_out_comes_from_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for credential in CREDENTIALS:
        monkeypatch.setenv(credential.env, f"env-{credential.group}-{credential.key}")
    config = load_config(str(config_file(tmp_path, "")))
    for credential in CREDENTIALS:
        assert config.credentials[credential.group][credential.key] == f"env-{credential.group}-{credential.key}"
    assert config.credential_environment() == {c.env: f"env-{c.group}-{c.key}" for c in CREDENTIALS}


def test_the_file_wins_and_a_key_it_leaves_empty_is_not_filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "from-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "from-env")
    credentials = {"aws": {"access_key": "from-file", "secret_key": None, "region": ""}}
    config = load_config(str(config_file(tmp_path, {"credentials": credentials})))
    assert config.credentials["aws"] == {"access_key": "from-file", "endpoint_url": "from-env"}


def test_credentials_given_as_yaml_numbers_or_booleans_are_their_text(tmp_path: Path) -> None:
    credentials = {"dns": {"port": 53}, "vsphere": {"validate_certs": False, "port": 443}}
    config = load_config(str(config_file(tmp_path, {"credentials": credentials})))
    assert config.credentials["dns"] == {"port": "53"}
    assert config.credentials["vsphere"] == {"validate_certs": "False", "port": "443"}


def test_keys_and_groups_the_credential_table_does_not_name_are_ignored(tmp_path: Path) -> None:
    credentials = {"aws": {"profile": "ops", "region": "us-east-1"}, "gcp": {"key": "x"}}
    config = load_config(str(config_file(tmp_path, {"credentials": credentials})))
    assert config.credentials["aws"] == {"region": "us-east-1"}
    assert set(config.credentials) == set(CREDENTIAL_ENV)


def test_the_awx_token_and_the_vault_password_file_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JARVIS_AWX_TOKEN", "t0ken")
    monkeypatch.setenv("JARVIS_VAULT_PASSWORD_FILE", "/etc/jarvis/vault")
    config = load_config(str(config_file(tmp_path, {"executor": {"type": "awx", "url": "https://awx"}})))
    assert config.executor == {"type": "awx", "url": "https://awx", "token": "t0ken"}
    assert config.vault_password_file == Path("/etc/jarvis/vault")
    given = {"executor": {"type": "awx", "token": "from-file"}, "vault_password_file": "/v"}
    config = load_config(str(config_file(tmp_path, given)))
    assert config.executor["token"] == "from-file" and config.vault_password_file == Path("/v")
    assert "token" not in load_config(str(config_file(tmp_path, {"executor": {"type": "remote"}}))).executor


# --- the 0600 rule --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        {"credentials": {"aws": {"secret_key": "s"}}},
        {"bot": {"irc": {"host": "irc.example.com"}}},
        {"executor": {"type": "awx", "token": "t"}},
    ],
)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_file_holding_credentials_that_others_can_read_is_refused(
    tmp_path: Path, content: dict[str, Any], mode: int
) -> None:
    path = config_file(tmp_path, content, mode)
    with pytest.raises(
        ConfigError, match=re.escape(f"{path} holds credentials but others can read it: chmod 600 {path}")
    ):
        load_config(str(path))
    path.chmod(0o600)
    load_config(str(path))


def test_a_file_without_credentials_may_be_readable(tmp_path: Path) -> None:
    for content in ({"zones": ["websages.com"]}, {"credentials": None, "executor": {"type": "local"}}):
        assert load_config(str(config_file(tmp_path, content, 0o644))).path is not None


def test_the_mode_is_checked_before_the_sections(tmp_path: Path) -> None:
    """A readable file of secrets is refused as such, whatever else is wrong with it."""
    path = config_file(tmp_path, {"credentials": {"aws": {"secret_key": "s"}}, "zones": "x"}, 0o644)
    with pytest.raises(ConfigError, match="others can read it"):
        load_config(str(path))


def test_the_environment_fills_credentials_without_the_file_needing_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINODE_API_TOKEN", "from-env")
    config = load_config(str(config_file(tmp_path, {"zones": ["websages.com"]}, 0o644)))
    assert config.credentials["linode"] == {"token": "from-env"}
    assert os.environ["LINODE_API_TOKEN"] in config.secret_values()
