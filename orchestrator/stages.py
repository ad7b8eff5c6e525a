"""The pipeline's stages, in order: the seed's nineteen steps plus validation and "ready".

Each implemented stage is a task file ``roles/pipeline/tasks/<id>.yml`` of the collection; the
orchestrator maps every task event to its stage through that file name. Stages not implemented
yet are still listed, so status output shows the whole pipeline the project grows into.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    implemented: bool
    redeploy_only: bool = False


STAGES: tuple[Stage, ...] = (
    Stage("validate", "validate the design", True),
    Stage("production_check", "check whether the node is in production", True, redeploy_only=True),
    Stage("move_pointers", "move service pointers away", True, redeploy_only=True),
    Stage("silence", "silence monitoring", True, redeploy_only=True),
    Stage("power_off", "power off the old instance", True, redeploy_only=True),
    Stage("delete", "delete the old instance", True, redeploy_only=True),
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
    Stage("unsilence", "re-enable monitoring and move service pointers back", True, redeploy_only=True),
    Stage("ready", "ready", True),
)

BY_ID = {stage.id: stage for stage in STAGES}

KINDS = ("deploy", "plan", "redeploy")


def deploy_stages(kind: str = "deploy") -> tuple[Stage, ...]:
    """The stages of a deployment of KIND, implemented or not, in order; a redeploy has them all."""
    return tuple(stage for stage in STAGES if kind == "redeploy" or not stage.redeploy_only)


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
