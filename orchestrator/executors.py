"""Where a deployment's playbook runs: here (ansible-runner), on a remote worker, or in AWX.

The runner hands an executor one :class:`Job` and two callbacks; every executor delivers the same
ansible-runner style task events (``event``, ``event_data.task_path/host/res``), so the stage
mapping, the status store and chat announcements work the same whichever runs the playbook.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import ansible_runner

EventHandler = Callable[[dict[str, Any]], None]
CancelCheck = Callable[[], bool]


@dataclass
class Job:
    """One playbook run: what to run, where its private data dir is, and how."""

    private_dir: Path
    ident: str
    playbook: list[dict[str, Any]]
    inventory: dict[str, Any]
    cmdline: str
    envvars: dict[str, str] = field(default_factory=dict)
    forks: int = 5


class Executor(Protocol):
    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        """Run JOB, calling ON_EVENT for every task event in order; return the final status
        (successful, failed, canceled or timeout)."""
        ...


_DONE = object()


class LocalExecutor:
    """ansible-runner in this process (``run_async``); events are handed over through a queue, since
    the runner's handlers run on its own thread and must not wait on the status store."""

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        events: queue.Queue[Any] = queue.Queue()

        def enqueue(event: dict[str, Any]) -> bool:
            events.put(event)
            return True  # and let ansible-runner write the event to its artifacts

        thread, runner = ansible_runner.run_async(
            private_data_dir=str(job.private_dir),
            ident=job.ident,
            playbook=job.playbook,
            inventory=job.inventory,
            cmdline=job.cmdline,
            envvars=job.envvars,
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
