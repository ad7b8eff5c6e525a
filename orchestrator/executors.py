"""Where a deployment's playbook runs: here (ansible-runner), on a remote worker, or in AWX.

The runner hands an executor one :class:`Job` and two callbacks; every executor delivers the same
ansible-runner style task events (``event``, ``event_data.task_path/host/res``), so the stage
mapping, the status store and chat announcements work the same whichever runs the playbook.
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import ansible_runner

from orchestrator.config import Config
from orchestrator.render import deployment_inventory, pipeline_play
from orchestrator.stages import Stage, playbook_stages
from orchestrator.staging import staged_file
from orchestrator.unsafe import vars_file_text

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


def private_credentials_file(job: Job, directory: Path) -> contextlib.AbstractContextManager[Path]:
    """JOB's credentials as a vars file of mode 0600 in DIRECTORY, removed when the run ends (all unsafe)."""
    return staged_file(directory, job.ident, vars_file_text({"jarvis_credentials": job.credentials}))


def make_executor(config: Config) -> Executor:
    """The executor the config's ``executor`` section names (see orchestrator.config)."""
    section = config.executor
    if section["type"] == "remote":
        from orchestrator.remote import RemoteExecutor

        return RemoteExecutor.from_config(section, config)
    if section["type"] == "awx":
        from orchestrator.awx import AwxExecutor

        return AwxExecutor.from_config(section, config)
    return LocalExecutor(config.home / "private")


class Executor(Protocol):
    """Runs a job. An executor whose playbook sees this machine's files says so with a class attribute
    ``host_cancel = True``: one host of its runs can then be canceled alone (see render.cancel_check)."""

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        """Run JOB, calling ON_EVENT for every task event in order; return the final status
        (successful, failed, canceled or timeout)."""
        ...


_DONE = object()


def write_runner_settings(private_dir: Path) -> None:
    """ansible-runner's ``env/settings``: check the cancel callback twice a second, not every 5 s.

    With ``suppress_env_files`` ansible-runner ignores a ``settings`` argument, so the file it is.
    """
    (private_dir / "env").mkdir(parents=True, exist_ok=True)
    (private_dir / "env" / "settings").write_text("pexpect_timeout: 0.5\n")


class LocalExecutor:
    """ansible-runner in this process (``run_async``); events are handed over through a queue, since
    the runner's handlers run on its own thread and must not wait on the status store.

    Credentials go in a private vars file in SECRETS_DIR, outside the runner's data dir, so that
    they never land in its artifacts.
    """

    host_cancel = True  # the playbook runs here: it sees the cancel flags in the run's private data dir

    def __init__(self, secrets_dir: Path) -> None:
        self.secrets_dir = secrets_dir

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        # SSH masters of this run only: a later run (a resume) must connect anew, checking the host keys
        # the ssh stage recorded, not ride a master of an earlier run that is still alive.
        with (
            private_credentials_file(job, self.secrets_dir) as credentials_file,
            tempfile.TemporaryDirectory(prefix="jarvis-cp-") as control_dir,
        ):
            envvars = {**job.envvars, "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir}
            return self._run(job, job.cmdline(credentials_file), envvars, on_event, canceled)

    def _run(
        self, job: Job, cmdline: str, envvars: dict[str, str], on_event: EventHandler, canceled: CancelCheck
    ) -> str:
        events: queue.Queue[Any] = queue.Queue()
        write_runner_settings(job.private_dir)

        def enqueue(event: dict[str, Any]) -> bool:
            events.put(event)
            return True  # and let ansible-runner write the event to its artifacts

        thread, runner = ansible_runner.run_async(
            private_data_dir=str(job.private_dir),
            ident=job.ident,
            playbook=job.playbook(),
            inventory=job.inventory(),
            cmdline=cmdline,
            envvars=envvars,
            forks=job.forks,
            event_handler=enqueue,
            status_handler=lambda data, runner_config=None: None,
            cancel_callback=canceled,
            quiet=True,
            suppress_env_files=True,
        )

        def join_then_mark_done() -> None:
            thread.join()
            events.put(_DONE)

        threading.Thread(target=join_then_mark_done, daemon=True).start()
        while (event := events.get()) is not _DONE:
            on_event(event)
        return str(runner.status)
