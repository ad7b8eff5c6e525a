"""What the runner hands an executor: one :class:`Job`, two callbacks, and the :class:`Executor` protocol.

Every executor (``orchestrator.executors``: local; ``orchestrator.remote``; ``orchestrator.awx``)
depends on this module and none on another, so the choice among them imports them all one way.
Every executor delivers the same ansible-runner style task events (``event``,
``event_data.task_path/host/res``), so the stage mapping, the status store and chat announcements
work the same whichever runs the playbook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.render import deployment_inventory, pipeline_play
from orchestrator.stages import Stage, playbook_stages

__all__ = ["CancelCheck", "EventHandler", "Executor", "Job"]

EventHandler = Callable[[dict[str, Any]], None]
CancelCheck = Callable[[], bool]


@dataclass
class Job:
    """One deployment's playbook run, described so that any executor can carry it out.

    Local and remote executors run the rendered ``playbook()`` over ``inventory()``; AWX runs the
    static playbook of ``kind`` with the hosts, ``site_vars`` and ``host_vars`` as extra vars and
    ``skipped_stages()`` as skip tags. ``credentials`` never go into the private data dir.
    """

    private_dir: Path
    ident: str
    kind: str  # deploy, plan, redeploy or destroy
    hosts: list[dict[str, Any]]
    stages: list[Stage]
    site_vars: dict[str, Any] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    envvars: dict[str, str] = field(default_factory=dict)
    forks: int = 5

    @property
    def check(self) -> bool:
        return self.kind == "plan"

    def playbook(self) -> list[dict[str, Any]]:
        return [pipeline_play(self.stages)]

    def inventory(self) -> dict[str, Any]:
        return deployment_inventory(self.hosts, self.site_vars, self.host_vars)

    def skipped_stages(self) -> list[str]:
        """The playbook stages of this kind that this job does not run (a resume's finished ones)."""
        running = {stage.id for stage in self.stages}
        return [stage.id for stage in playbook_stages(self.kind) if stage.id not in running]

    def cmdline(self, credentials_file: Path | None = None) -> str:
        options = [f"-e @{credentials_file}"] if credentials_file else []
        return " ".join(options + (["--check", "--diff"] if self.check else []))


class Executor(Protocol):
    """Runs a job. An executor whose playbook runs on this machine says so with a class attribute
    ``runs_here = True``: its playbook sees this machine's files, so one host of its runs can be canceled alone
    (see render.cancel_check), and its runs share this machine's cores, so they wait for a run slot
    (see orchestrator.run_slots)."""

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        """Run JOB, calling ON_EVENT for every task event in order; return the final status
        (successful, failed, canceled or timeout)."""
        ...
