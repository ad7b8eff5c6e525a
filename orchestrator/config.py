"""jarvis's configuration: where its state lives, site settings, and credentials.

Credentials come from the config file or the environment, never from a design. A config file
holding credentials must be private to its owner (mode 0600), else jarvis refuses it.

The file is checked against typed section models (pydantic), then read into :class:`Config`, a plain
dataclass. Every refusal names the key at fault, as ``<file>: <dotted.key> must be …`` (or
``…: expected …``), with the section toolkit of :mod:`orchestrator.config_models` that the executors'
and the bot's sections use too.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
)

from orchestrator.config_models import NULL_IS_DEFAULT, NullIsDefault, Section, otherwise, parse_section
from orchestrator.credentials import CREDENTIAL_ENV, SECRET_KEYS
from orchestrator.design import DesignPolicy
from orchestrator.errors import ConfigError
from orchestrator.run_slots import default_parallel_runs

__all__ = ["EXECUTOR_TYPES", "Config", "config_path", "default_home", "load_config"]

ExecutorType = Literal["local", "remote", "awx"]
EXECUTOR_TYPES: tuple[str, ...] = typing.get_args(ExecutorType)
Address = Literal["private", "public"]  # which of an instance's IPs jarvis publishes and uses


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
    # How many deployments' playbooks run on this machine at once; more wait, queued (orchestrator.run_slots).
    parallel_runs: int = field(default_factory=default_parallel_runs)
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


# --- the config file's sections -----------------------------------------------------------------------


def _default(name: str) -> Any:
    """Config's default for NAME: the dataclass says each default once, the file's model reuses it."""
    (item,) = (item for item in dataclasses.fields(Config) if item.name == name)
    return item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default


def _zone_name(zone: str) -> str:
    if not zone.strip(". "):
        raise ValueError("not a zone name")
    return zone.strip().rstrip(".").lower()


def _user_name(user: str) -> str:
    if not user.strip():
        raise ValueError("not a user name")
    return user.strip()


class GitosisSection(Section):
    """``gitosis``: a site that lets designs name gitosis servers must say how to reach them safely.

    The controller connects only to the remotes this allows, checks the server's host key against
    ``known_hosts`` and offers only ``ssh_private_key``.
    """

    remotes: NullIsDefault[
        Annotated[dict[str, str], otherwise("must map the remotes designs name to the remotes really reached")]
    ] = {}
    allowed: NullIsDefault[Annotated[list[str], otherwise("must be a list of remotes (user@host:path.git)")]] = []
    port: Annotated[int | str, otherwise("must be a port number (got {value!r})")] | None = None
    group: str | None = None
    known_hosts: str | None = Field(default=None, validate_default=True)
    ssh_private_key: str | None = Field(default=None, validate_default=True)

    @field_validator("known_hosts", "ssh_private_key")
    @classmethod
    def _needed_with_remotes(cls, value: str | None, info: ValidationInfo) -> str | None:
        why = {"known_hosts": "the server's host key is always checked", "ssh_private_key": "only this key is offered"}
        if (info.data.get("remotes") or info.data.get("allowed")) and not value:
            raise ValueError(
                f"is required when gitosis.remotes or gitosis.allowed is set ({why[str(info.field_name)]})"
            )
        return value

    def playbook_vars(self) -> dict[str, Any]:
        """The section as the playbooks get it (``jarvis_gitosis``): what was given, with both lists."""
        return {**self.model_dump(exclude_unset=True), "remotes": self.remotes, "allowed": self.allowed}


_EXECUTOR_TYPE = f"must be one of {', '.join(EXECUTOR_TYPES)}, not {{value!r}}"


class ExecutorSection(Section):
    """``executor``: local (default), remote (an ansible-runner worker over SSH) or awx.

    Only the type is checked here; the remote and AWX executors check the rest of their sections.
    """

    model_config = ConfigDict(extra="allow")
    type: Annotated[ExecutorType, otherwise(_EXECUTOR_TYPE)] = _default("executor")["type"]


def _text(value: Any) -> Any:
    """A credential given as a YAML number or boolean, as the text the environment variable would hold."""
    return str(value) if isinstance(value, int | float) else value


CredentialValue = Annotated[str, BeforeValidator(_text), otherwise("must be a string or a number")]


class _CredentialGroup(Section):
    """A ``credentials.<group>`` mapping; keys the credential table does not name are ignored."""

    model_config = ConfigDict(extra="ignore")


def _credentials_section() -> type[Section]:
    """``credentials.<group>.<key>`` for each group and key of the one credential table (orchestrator.credentials)."""
    groups: dict[str, Any] = {}
    for group, keys in CREDENTIAL_ENV.items():
        values: dict[str, Any] = {key: (CredentialValue | None, None) for key in keys}
        model = create_model(f"{group.title()}Credentials", __base__=_CredentialGroup, **values)
        groups[group] = (Annotated[model, NULL_IS_DEFAULT], Field(default_factory=model))
    return create_model("CredentialsSection", __base__=_CredentialGroup, **groups)


CredentialsSection = _credentials_section()


class ConfigFile(Section):
    """The config file's top level."""

    home: str | None = None
    vault_password_file: str | None = None
    authorized_keys: NullIsDefault[list[str]] = []
    ssh_private_key: str | None = None
    address: Annotated[Address, otherwise("expected private or public, got {value!r}")] = _default("address")
    ec2: NullIsDefault[dict[str, Any]] = {}
    linode: NullIsDefault[dict[str, Any]] = {}
    vsphere: NullIsDefault[dict[str, Any]] = {}
    mappings: NullIsDefault[dict[str, Any]] = {}
    credentials: NullIsDefault[dict[str, Any]] = {}  # checked by CredentialsSection, then filled from the env
    bot: NullIsDefault[dict[str, Any]] = {}  # checked by bot.config
    gitosis: NullIsDefault[GitosisSection] = GitosisSection()
    zones: NullIsDefault[
        Annotated[
            list[Annotated[str, AfterValidator(_zone_name)]],
            otherwise("must be a list of DNS zone names, like [websages.com, 201.10.in-addr.arpa]"),
        ]
    ] = []
    reboot: NullIsDefault[dict[str, str]] = {}
    executor: NullIsDefault[ExecutorSection] = ExecutorSection()
    cli_admins: Annotated[
        list[Annotated[str, AfterValidator(_user_name)]],
        otherwise("must be a list of unix user names, like [root, ops] (got {value!r})"),
    ] = _default("cli_admins")
    lease_seconds: Annotated[
        float, Field(ge=5, le=3600), otherwise("must be a number of seconds from 5 to 3600 (got {value!r})")
    ] = _default("lease_seconds")
    parallel_runs: Annotated[
        int, Field(ge=1, le=256), otherwise("must be a whole number of runs from 1 to 256 (got {value!r})")
    ] = _default("parallel_runs")


# --- reading the file ---------------------------------------------------------------------------------


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
    """Read the config file (if any), check it, and fill credentials from the environment."""
    path = config_path(explicit)
    raw = _read(path) if path is not None else {}
    read = parse_section(ConfigFile, raw, path)
    config = Config(
        vault_password_file=_path(read.vault_password_file or os.environ.get("JARVIS_VAULT_PASSWORD_FILE")),
        authorized_keys=list(read.authorized_keys),
        ssh_private_key=_path(read.ssh_private_key),
        address=read.address,
        ec2=dict(read.ec2),
        linode=dict(read.linode),
        vsphere=dict(read.vsphere),
        mappings=dict(read.mappings),
        credentials=_credentials(parse_section(CredentialsSection, read.credentials, path, "credentials")),
        bot=dict(read.bot),
        gitosis=read.gitosis.playbook_vars(),
        zones=list(read.zones),
        reboot=dict(read.reboot),
        executor=_executor(read.executor),
        cli_admins=list(read.cli_admins),
        lease_seconds=read.lease_seconds,
        parallel_runs=read.parallel_runs,
        path=path,
    )
    if read.home and not os.environ.get("JARVIS_HOME"):
        config.home = Path(read.home)
    return config


def _read(path: Path) -> dict[str, Any]:
    """The config file's mapping; one that holds credentials is refused unless private (mode 0600)."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"the config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"the config file {path} must hold a mapping")
    executor = raw.get("executor")
    holds_secrets = raw.get("credentials") or raw.get("bot") or (isinstance(executor, dict) and executor.get("token"))
    if holds_secrets and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds credentials but others can read it: chmod 600 {path}")
    return raw


def _credentials(section: BaseModel) -> dict[str, dict[str, str]]:
    """Every group of the credential table, each key from the file, else (left out) from its environment variable.

    A key the file gives as null or "" stays unset: the environment does not fill it.
    """
    credentials: dict[str, dict[str, str]] = {}
    for group, keys in CREDENTIAL_ENV.items():
        given = getattr(section, group)
        values = {}
        for key, env in keys.items():
            value = getattr(given, key) if key in given.model_fields_set else os.environ.get(env)
            if value not in (None, ""):
                values[key] = str(value)
        credentials[group] = values
    return credentials


def _executor(section: ExecutorSection) -> dict[str, Any]:
    """The ``executor`` section as the executors read it; an AWX token may come from $JARVIS_AWX_TOKEN instead."""
    executor = section.model_dump()
    if executor["type"] == "awx" and not executor.get("token") and os.environ.get("JARVIS_AWX_TOKEN"):
        executor["token"] = os.environ["JARVIS_AWX_TOKEN"]
    return executor


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
