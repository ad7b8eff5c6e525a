"""jarvis's configuration: where its state lives, site settings, and credentials.

Credentials come from the config file or the environment, never from a design. A config file
holding credentials must be private to its owner (mode 0600), else jarvis refuses it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.design import DesignPolicy
from orchestrator.errors import ConfigError

# Environment variables that fill credentials the config file leaves out; the same names are the
# modules' env fallbacks, so plain ansible-playbook runs read them too.
CREDENTIAL_ENV: dict[str, dict[str, str]] = {
    "aws": {
        "access_key": "AWS_ACCESS_KEY_ID",
        "secret_key": "AWS_SECRET_ACCESS_KEY",
        "endpoint_url": "AWS_ENDPOINT_URL",
        "region": "AWS_DEFAULT_REGION",
    },
    "dns": {
        "server": "JARVIS_DNS_SERVER",
        "port": "JARVIS_DNS_PORT",
        "key_name": "JARVIS_TSIG_KEY_NAME",
        "key_secret": "JARVIS_TSIG_SECRET",
        "key_algorithm": "JARVIS_TSIG_ALGORITHM",
    },
    "ldap": {
        "uri": "JARVIS_LDAP_URI",
        "bind_dn": "JARVIS_LDAP_BIND_DN",
        "bind_password": "JARVIS_LDAP_BIND_PASSWORD",
        "hosts_dn": "JARVIS_LDAP_HOSTS_DN",
    },
    "linode": {"token": "LINODE_API_TOKEN", "api_url": "LINODE_API_URL"},
    "alertmanager": {
        "url": "JARVIS_ALERTMANAGER_URL",
        "username": "JARVIS_ALERTMANAGER_USER",
        "password": "JARVIS_ALERTMANAGER_PASSWORD",
    },
    "vsphere": {
        "host": "VMWARE_HOST",
        "port": "VMWARE_PORT",
        "username": "VMWARE_USER",
        "password": "VMWARE_PASSWORD",
        "validate_certs": "VMWARE_VALIDATE_CERTS",
    },
}
SECRET_KEYS = {
    ("aws", "secret_key"),
    ("dns", "key_secret"),
    ("ldap", "bind_password"),
    ("linode", "token"),
    ("vsphere", "password"),
    ("alertmanager", "password"),
}
TOP_KEYS = {
    "home",
    "vault_password_file",
    "authorized_keys",
    "ssh_private_key",
    "address",
    "ec2",
    "linode",
    "vsphere",
    "mappings",
    "credentials",
    "bot",
    "gitosis",
    "zones",
    "reboot",
    "executor",
    "cli_admins",
    "lease_seconds",
}
EXECUTOR_TYPES = ("local", "remote", "awx")
GITOSIS_KEYS = {"remotes", "allowed", "port", "group", "ssh_private_key", "known_hosts"}


def default_home() -> Path:
    """Where jarvis keeps its store, runs and secrets when nothing says otherwise."""
    if env := os.environ.get("JARVIS_HOME"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/jarvis")
    return Path.home() / ".local" / "state" / "jarvis"


@dataclass
class Config:
    home: Path = field(default_factory=default_home)
    vault_password_file: Path | None = None
    authorized_keys: list[str] = field(default_factory=list)
    ssh_private_key: Path | None = None  # jarvis's own key, whose public half is in authorized_keys
    address: str = "private"
    ec2: dict[str, Any] = field(default_factory=dict)
    linode: dict[str, Any] = field(default_factory=dict)
    vsphere: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    bot: dict[str, Any] = field(default_factory=dict)  # the chat bot's section, read by bot.config
    gitosis: dict[str, Any] = field(default_factory=dict)  # where gitosis-admin remotes are really reached
    zones: list[str] = field(default_factory=list)  # the DNS zones jarvis may write; designs name no others
    reboot: dict[str, str] = field(default_factory=dict)  # {command, boot_time_command} for odd hosts
    executor: dict[str, Any] = field(default_factory=lambda: {"type": "local"})  # where playbooks run
    cli_admins: list[str] = field(default_factory=lambda: ["root"])  # unix users who may --force and --adopt
    # How long a deployment's owner on another machine may go without renewing its lease before any
    # jarvis process counts it as gone (on the owner's own machine the process itself is looked at).
    lease_seconds: float = 60.0
    path: Path | None = None

    @property
    def store_path(self) -> Path:
        return self.home / "jarvis.db"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def secret_values(self) -> list[str]:
        """Every secret jarvis knows, so that output can be scrubbed of them.

        Hosts' root passwords are not here: they exist only vault-encrypted, and the runner reads them
        from there (orchestrator.runner).
        """
        values = [self.credentials.get(group, {}).get(key, "") for group, key in SECRET_KEYS]
        values += [str((self.bot.get(network) or {}).get("password") or "") for network in ("irc", "xmpp")]
        values.append(str(self.executor.get("token") or ""))
        values.append(self.vault_password())
        return [value for value in values if len(value) >= 4]

    def vault_password(self) -> str:
        """The vault password as the collection reads it (the file's text, blanks around it dropped), or ""."""
        if self.vault_password_file is None:
            return ""
        try:
            return self.vault_password_file.read_bytes().strip().decode("utf-8", errors="replace")
        except OSError:
            return ""  # the credentials stage says what is wrong with the file

    def design_policy(self) -> DesignPolicy:
        """What this site's designs may name: the mapping tables, gitosis-admin remotes and DNS zones."""
        return DesignPolicy(self.mappings, self.gitosis_allowed(), list(self.zones))

    def gitosis_allowed(self) -> list[str]:
        """The gitosis-admin remotes a design may name: the keys of ``gitosis.remotes``, then ``gitosis.allowed``."""
        remotes = self.gitosis.get("remotes") or {}
        return list(dict.fromkeys([*remotes, *(self.gitosis.get("allowed") or [])]))

    def credential_environment(self) -> dict[str, str]:
        """The credentials as the environment variables the collection's modules fall back to."""
        return {
            CREDENTIAL_ENV[group][key]: str(value)
            for group, keys in self.credentials.items()
            for key, value in keys.items()
            if key in CREDENTIAL_ENV.get(group, {}) and value not in (None, "")
        }

    def site_vars(self) -> dict[str, Any]:
        """Non-secret settings handed to the playbook as inventory variables."""
        return {
            "jarvis_address": self.address,
            "jarvis_ec2": self.ec2,
            "jarvis_linode": self.linode,
            "jarvis_vsphere": self.vsphere,
            "jarvis_authorized_keys": self.authorized_keys,
            "jarvis_secrets_dir": str(self.secrets_dir),
            "jarvis_vault_password_file": str(self.vault_password_file or ""),
            "jarvis_mappings": self.mappings,
            "jarvis_known_hosts_dir": str(self.home / "known_hosts"),
            "jarvis_gitosis": self.gitosis,
            "jarvis_zones": self.zones,
            "jarvis_reboot_command": self.reboot.get("command", ""),
            "jarvis_boot_time_command": self.reboot.get("boot_time_command", ""),
            "jarvis_alertmanager_enabled": bool(self.credentials.get("alertmanager", {}).get("url")),
            **({"ansible_ssh_private_key_file": str(self.ssh_private_key)} if self.ssh_private_key else {}),
        }


def config_path(explicit: str | None = None) -> Path | None:
    """The config file: --config, $JARVIS_CONFIG, $JARVIS_HOME/config.yml, then the sandbox's if it is up."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("JARVIS_CONFIG"):
        return Path(env)
    for candidate in (default_home() / "config.yml", default_home() / "sandbox" / "config.yml"):
        if candidate.exists():
            return candidate
    return None


def load_config(explicit: str | None = None) -> Config:
    """Read the config file (if any) and fill credentials from the environment."""
    path = config_path(explicit)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"the config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"the config file {path} must hold a mapping")
        unknown = set(raw) - TOP_KEYS
        if unknown:
            raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
        executor = raw.get("executor")
        holds_secrets = (
            raw.get("credentials") or raw.get("bot") or (isinstance(executor, dict) and executor.get("token"))
        )
        if holds_secrets and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} holds credentials but others can read it: chmod 600 {path}")
    credentials = _credentials(raw.get("credentials") or {}, path)
    config = Config(
        vault_password_file=_path(raw.get("vault_password_file") or os.environ.get("JARVIS_VAULT_PASSWORD_FILE")),
        authorized_keys=list(raw.get("authorized_keys") or []),
        ssh_private_key=_path(raw.get("ssh_private_key")),
        address=str(raw.get("address", "private")),
        ec2=dict(raw.get("ec2") or {}),
        linode=dict(raw.get("linode") or {}),
        vsphere=dict(raw.get("vsphere") or {}),
        mappings=dict(raw.get("mappings") or {}),
        credentials=credentials,
        bot=dict(raw.get("bot") or {}),
        gitosis=_gitosis(raw.get("gitosis"), path),
        zones=_zones(raw.get("zones"), path),
        reboot=dict(raw.get("reboot") or {}),
        executor=_executor(raw.get("executor"), path),
        cli_admins=_cli_admins(raw.get("cli_admins", ["root"]), path),
        lease_seconds=_lease_seconds(raw.get("lease_seconds", 60), path),
        path=path,
    )
    if raw.get("home") and not os.environ.get("JARVIS_HOME"):
        config.home = Path(raw["home"])
    if config.address not in ("private", "public"):
        raise ConfigError(f"address: expected private or public, got {config.address!r}")
    return config


def _credentials(raw: dict[str, Any], path: Path | None) -> dict[str, dict[str, str]]:
    credentials: dict[str, dict[str, str]] = {}
    for group, keys in CREDENTIAL_ENV.items():
        given = raw.get(group) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"{path}: credentials.{group} must be a mapping")
        values = {}
        for key, env in keys.items():
            value = given.get(key, os.environ.get(env))
            if value not in (None, ""):
                values[key] = str(value)
        credentials[group] = values
    return credentials


def _gitosis(raw: Any, path: Path | None) -> dict[str, Any]:
    """The ``gitosis`` section; a site that lets designs name gitosis servers must say how to reach them safely.

    The controller connects only to the remotes this allows, checks the server's host key against
    ``known_hosts`` and offers only ``ssh_private_key``.
    """
    where = f"{path}: gitosis" if path else "gitosis"
    section = raw or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = set(section) - GITOSIS_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown, key=str)[0]!r} (known: {', '.join(sorted(GITOSIS_KEYS))})"
        )
    remotes = section.get("remotes") or {}
    if not isinstance(remotes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in remotes.items()):
        raise ConfigError(f"{where}.remotes must map the remotes designs name to the remotes really reached")
    allowed = section.get("allowed") or []
    if not isinstance(allowed, list) or not all(isinstance(remote, str) for remote in allowed):
        raise ConfigError(f"{where}.allowed must be a list of remotes (user@host:path.git)")
    why = {"known_hosts": "the server's host key is always checked", "ssh_private_key": "only this key is offered"}
    for key, reason in why.items():
        if (remotes or allowed) and not section.get(key):
            raise ConfigError(f"{where}.{key} is required when gitosis.remotes or gitosis.allowed is set ({reason})")
    return {**section, "remotes": remotes, "allowed": allowed}


def _zones(raw: Any, path: Path | None) -> list[str]:
    """The ``zones`` list: DNS zone names, as a design's dns.zone would write them."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(zone, str) and zone.strip(". ") for zone in raw):
        raise ConfigError(f"{path}: zones must be a list of DNS zone names, like [websages.com, 201.10.in-addr.arpa]")
    return [zone.strip().rstrip(".").lower() for zone in raw]


def _cli_admins(raw: Any, path: Path | None) -> list[str]:
    """``cli_admins``: the unix users whose ``jarvis … --force`` and ``--adopt`` are obeyed (default: root)."""
    if not isinstance(raw, list) or not all(isinstance(user, str) and user.strip() for user in raw):
        raise ConfigError(f"{path}: cli_admins must be a list of unix user names, like [root, ops] (got {raw!r})")
    return [user.strip() for user in raw]


def _lease_seconds(raw: Any, path: Path | None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 5 <= raw <= 3600:
        raise ConfigError(f"{path}: lease_seconds must be a number of seconds from 5 to 3600 (got {raw!r})")
    return float(raw)


def _path(value: Any) -> Path | None:
    return Path(value) if value else None


def _executor(raw: Any, path: Path | None) -> dict[str, Any]:
    """The ``executor`` section: local (default), remote (an ansible-runner worker over SSH) or awx.

    An AWX token may come from $JARVIS_AWX_TOKEN instead of the file.
    """
    section = {"type": "local"} if raw is None else raw
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: executor must be a mapping")
    kind = section.get("type", "local")
    if kind not in EXECUTOR_TYPES:
        raise ConfigError(f"{path}: executor.type must be one of {', '.join(EXECUTOR_TYPES)}, not {kind!r}")
    section = {**section, "type": kind}
    if kind == "awx" and not section.get("token") and os.environ.get("JARVIS_AWX_TOKEN"):
        section["token"] = os.environ["JARVIS_AWX_TOKEN"]
    return section
