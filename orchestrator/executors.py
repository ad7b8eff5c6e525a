"""Where a deployment's playbook runs: here (ansible-runner), on a remote worker, or in AWX.

:func:`make_executor` picks the one the config names; :class:`LocalExecutor` is the one that runs
here. What an executor is handed (``Job``, the callbacks, the ``Executor`` protocol) is in
``orchestrator.job``.
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
from pathlib import Path
from typing import Any

import ansible_runner

from orchestrator.awx import AwxExecutor
from orchestrator.config import Config
from orchestrator.job import CancelCheck, EventHandler, Executor, Job
from orchestrator.leases import end_processes, leftover_processes
from orchestrator.remote import RemoteExecutor
from orchestrator.staging import staged_file
from orchestrator.unsafe import vars_file_text

__all__ = [
    "LocalExecutor",
    "make_executor",
    "private_credentials_file",
    "write_runner_settings",
]


def private_credentials_file(job: Job, directory: Path) -> contextlib.AbstractContextManager[Path]:
    """JOB's credentials as a vars file of mode 0600 in DIRECTORY, removed when the run ends (all unsafe)."""
    return staged_file(directory, job.ident, vars_file_text({"jarvis_credentials": job.credentials}))


def make_executor(config: Config) -> Executor:
    """The executor the config's ``executor`` section names (see orchestrator.config)."""
    section = config.executor
    if section["type"] == "remote":
        return RemoteExecutor.from_config(section, config)
    if section["type"] == "awx":
        return AwxExecutor.from_config(section, config)
    return LocalExecutor(config.home / "private")


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

    runs_here = True  # see orchestrator.job.Executor

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
        # However the playbook ended (a SIGKILL of it leaves its forks and ssh masters running on), nothing
        # of this run outlives it.
        end_processes(leftover_processes(job.ident, job.private_dir.parent))
        return str(runner.status)
