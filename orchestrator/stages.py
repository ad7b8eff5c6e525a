"""The pipeline's stages, in order: the seed's nineteen steps plus validation and "ready" (and a destroy's "forget").

Each implemented stage is a task file ``roles/pipeline/tasks/<id>.yml`` of the collection; the
orchestrator maps every task event to its stage through that file name. Stages not implemented
yet are still listed, so status output shows the whole pipeline the project grows into.
"""

from __future__ import annotations

from dataclasses import dataclass

# The kinds of run: a deployment, its dry run, a redeploy (teardown first) and a destroy (teardown only).
KINDS = ("deploy", "plan", "redeploy", "destroy")
BUILD = frozenset({"deploy", "plan", "redeploy"})
TEARDOWN = frozenset({"redeploy", "destroy"})


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    implemented: bool
    kinds: frozenset[str] = BUILD


STAGES: tuple[Stage, ...] = (
    Stage("validate", "validate the design", True, frozenset(KINDS)),
    # Every run that changes or plans a host: the production guard and the ownership check, before anything changes.
    Stage("production_check", "check the production flag and ownership", True, frozenset(KINDS)),
    Stage("move_pointers", "move service pointers away", True, TEARDOWN),
    Stage("silence", "silence monitoring", True, TEARDOWN),
    Stage("power_off", "power off the old instance", True, TEARDOWN),
    Stage("delete", "delete the old instance", True, TEARDOWN),
    Stage("credentials", "create root credentials", True),
    Stage("instance", "deploy the instance from its template", True),
    Stage("address", "get the instance's IP address", True),
    Stage("ssh", "wait for SSH and record host keys", True),
    Stage("dns", "write DNS A, PTR and SSHFP records", True),
    Stage("mounts", "mount filesystems and write fstab", True),
    Stage("kernel", "upgrade the kernel", True),
    Stage("boot_kernel", "set the boot kernel", True),
    Stage("root_keypair", "generate root's SSH keypair", True),
    Stage("cmdb", "update the host's entry under ou=Hosts", True),
    Stage("gitosis", "push root's key to gitosis-admin", True),
    Stage("puppet_install", "install puppet", True),
    Stage("puppet_run", "run puppet", True),
    Stage("unsilence", "re-enable monitoring and move service pointers back", True, frozenset({"redeploy"})),
    Stage("forget", "remove the host's DNS records, CMDB entry and gitosis key", True, frozenset({"destroy"})),
    Stage("ready", "ready", True),
)

BY_ID = {stage.id: stage for stage in STAGES}


def deploy_stages(kind: str = "deploy") -> tuple[Stage, ...]:
    """The stages of a run of KIND, implemented or not, in order."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return tuple(stage for stage in STAGES if kind in stage.kinds)


def playbook_stages(kind: str = "deploy") -> tuple[Stage, ...]:
    """The stages that run inside the Ansible playbook (validation happens before it starts)."""
    return tuple(stage for stage in deploy_stages(kind) if stage.implemented and stage.id != "validate")


PLAYBOOK_STAGES = playbook_stages("deploy")


def stage_of_task_path(task_path: str | None) -> str | None:
    """Map an event's ``task_path`` (``…/roles/pipeline/tasks/dns.yml:12``) to its stage id."""
    if not task_path or "/roles/pipeline/tasks/" not in task_path:
        return None
    name = task_path.rsplit("/", 1)[1].split(":", 1)[0]
    stage_id = name.removesuffix(".yml")
    return stage_id if stage_id in BY_ID else None
