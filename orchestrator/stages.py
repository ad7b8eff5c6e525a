"""The pipeline's stages, in order, and what each hands back: the one description of the pipeline.

Each stage is a task file ``roles/pipeline/tasks/<task_file>.yml`` of the collection; the orchestrator
maps every task event to its stage through that file name, keeps what the stage's modules return
(its :class:`Finding` entries) in the status store, and hands those back to a resumed run as the
role's variables. ``tests/unit/test_contract.py`` checks the table against the role's task files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The kinds of run: a deployment, its dry run, a redeploy (teardown first) and a destroy (teardown only).
KINDS = ("deploy", "plan", "redeploy", "destroy")
BUILD = frozenset({"deploy", "plan", "redeploy"})
TEARDOWN = frozenset({"redeploy", "destroy"})

Summary = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Finding:
    """What one module's result tells jarvis: kept in the store's facts under FACT, and handed back to a
    resumed run as the role variable VARIABLE, so that the stages after a resumed one read what the first
    run learned.

    KEYS are the result keys kept: one is kept as its value, several as a mapping of them; the finding
    counts only when the first one is in the result (an empty list counts; None, "" and {} do not).
    FIELD: the role reads the variable as a registered result, ``VARIABLE.FIELD``. SUMMARY: further
    facts for status and chat, from the kept value. FROM_FACTS: the keys are those of the result's
    ``ansible_facts`` (a ``set_fact``).
    """

    module: str  # the module's short name; "*_instance" is any provider's instance module
    fact: str
    keys: tuple[str, ...]
    variable: str | None = None
    field: str | None = None
    summary: Summary | None = None
    from_facts: bool = False

    def matches(self, action: str) -> bool:
        name = action.rsplit(".", 1)[-1]
        return name.endswith(self.module[1:]) if self.module.startswith("*") else name == self.module

    def kept(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The facts RESULT gives, or nothing when it does not hold the finding."""
        source = (result.get("ansible_facts") or {}) if self.from_facts else result
        if source.get(self.keys[0]) in (None, "", {}):
            return {}
        value = source[self.keys[0]] if len(self.keys) == 1 else {key: source.get(key) for key in self.keys}
        return {self.fact: value, **(self.summary(value) if self.summary else {})}

    def handed_back(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The role variable a resumed run gets from the facts a first run kept."""
        if self.variable is None or self.fact not in facts:
            return {}
        value = facts[self.fact]
        return {self.variable: {self.field: value} if self.field else value}


def _instance_summary(instance: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "instance_id": instance.get("id"),
        "instance_state": instance.get("state"),
        "private_ip": instance.get("private_ip"),
        "public_ip": instance.get("public_ip"),
    }


def _ssh_summary(ssh: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fingerprints": ssh.get("fingerprints") or [],
        "host_keys": [key.get("public_key") for key in ssh["host_keys"]],
    }


@dataclass(frozen=True)
class DnsFinding(Finding):
    """A DNS record's values, kept per record and type (``dns:<name>:<type>``); never handed back."""

    def kept(self, result: Mapping[str, Any]) -> dict[str, Any]:
        if not result.get("record"):
            return {}
        return {f"dns:{result['record']}:{result.get('type')}": result.get("after") or []}


DNS_RECORDS = DnsFinding("dns_record", "dns", ("record",))
CMDB_ENTRY = Finding("ldap_host", "ldap_dn", ("dn",))


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    kinds: frozenset[str] = BUILD
    findings: tuple[Finding, ...] = ()

    @property
    def task_file(self) -> str:
        """The role's task file of this stage (``tasks_from``)."""
        return self.id


STAGES: tuple[Stage, ...] = (
    Stage("validate", "validate the design", frozenset(KINDS)),
    # Every run that changes or plans a host: the production guard and the ownership check, before anything changes.
    Stage("production_check", "check the production flag and ownership", frozenset(KINDS)),
    Stage(
        "move_pointers",
        "move service pointers away",
        TEARDOWN,
        (Finding("dns_pointers", "moved_pointers", ("moved",), "jarvis_moved_pointers", "moved"),),
    ),
    Stage("silence", "silence monitoring", TEARDOWN),
    Stage("power_off", "power off the old instance", TEARDOWN),
    Stage("delete", "delete the old instance", TEARDOWN),
    Stage("credentials", "create root credentials"),
    Stage(
        "instance",
        "deploy the instance from its template",
        findings=(Finding("*_instance", "instance", ("instance",), "jarvis_instance", summary=_instance_summary),),
    ),
    Stage(
        "address",
        "get the instance's IP address",
        findings=(Finding("set_fact", "ip", ("jarvis_ip",), "jarvis_ip", from_facts=True),),
    ),
    Stage(
        "ssh",
        "wait for SSH and record host keys",
        findings=(
            Finding("ssh_hostkeys", "ssh", ("host_keys", "fingerprints", "sshfp"), "jarvis_ssh", summary=_ssh_summary),
        ),
    ),
    Stage("dns", "write DNS A, PTR and SSHFP records", findings=(DNS_RECORDS,)),
    Stage("mounts", "mount filesystems and write fstab"),
    Stage(
        "kernel",
        "upgrade the kernel",
        findings=(Finding("kernel_upgrade", "kernel", ("running", "changed", "reboot_required"), "jarvis_kernel"),),
    ),
    Stage("boot_kernel", "set the boot kernel"),
    Stage(
        "root_keypair",
        "generate root's SSH keypair",
        findings=(Finding("root_keypair", "root_public_key", ("public_key",), "jarvis_root_keypair", "public_key"),),
    ),
    Stage("cmdb", "update the host's entry under ou=Hosts", findings=(CMDB_ENTRY,)),
    Stage("gitosis", "push root's key to gitosis-admin"),
    Stage("puppet_install", "install puppet"),
    Stage("puppet_run", "run puppet"),
    Stage("unsilence", "re-enable monitoring and move service pointers back", frozenset({"redeploy"})),
    Stage(
        "forget",
        "remove the host's DNS records, CMDB entry and gitosis key",
        frozenset({"destroy"}),
        (DNS_RECORDS, CMDB_ENTRY),
    ),
    Stage("ready", "ready"),
)

BY_ID = {stage.id: stage for stage in STAGES}
BY_TASK_FILE = {stage.task_file: stage.id for stage in STAGES}


def stage_title(stage_id: str) -> str:
    """What a person is told stage STAGE_ID does (its id, for one this jarvis does not know)."""
    return BY_ID[stage_id].title if stage_id in BY_ID else stage_id


def deploy_stages(kind: str = "deploy") -> tuple[Stage, ...]:
    """The stages of a run of KIND, in order."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return tuple(stage for stage in STAGES if kind in stage.kinds)


def playbook_stages(kind: str = "deploy") -> tuple[Stage, ...]:
    """The stages that run inside the Ansible playbook (validation happens before it starts)."""
    return tuple(stage for stage in deploy_stages(kind) if stage.id != "validate")


PLAYBOOK_STAGES = playbook_stages("deploy")


def stage_of_task_path(task_path: str | None) -> str | None:
    """Map an event's ``task_path`` (``…/roles/pipeline/tasks/dns.yml:12``) to its stage id."""
    if not task_path or "/roles/pipeline/tasks/" not in task_path:
        return None
    name = task_path.rsplit("/", 1)[1].split(":", 1)[0]
    return BY_TASK_FILE.get(name.removesuffix(".yml"))


def findings_of(stage_id: str, action: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """The facts a task of STAGE_ID, run by module ACTION, hands back with its RESULT."""
    facts: dict[str, Any] = {}
    for finding in BY_ID[stage_id].findings if stage_id in BY_ID else ():
        if finding.matches(action):
            facts.update(finding.kept(result))
    return facts


def handed_back(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The role variables a resumed run gets from every fact the first run kept."""
    variables: dict[str, Any] = {}
    for stage in STAGES:
        for finding in stage.findings:
            variables.update(finding.handed_back(facts))
    return variables
