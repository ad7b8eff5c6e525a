"""Private to sandbox.linode: a Linode as the emulator keeps it, and the worker that runs its jobs in turn."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.linode._answers import Json

log = logging.getLogger(__name__)


def now() -> str:
    """The time as Linode writes it: UTC, no zone suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class Worker:
    """Runs one Linode's jobs one after the other, so its container never sees two podman steps at once."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Finish the jobs already submitted, then end the thread."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a job's failure must not end the Linode's worker
                log.exception("a job of %s failed", self._thread.name)


@dataclass
class Linode:
    """One Linode as the API knows it, plus what its container needs (keys, IP)."""

    id: int
    label: str
    region: str
    type: str
    image: str | None
    status: str
    ipv4: str
    ipv6: str
    tags: list[str]
    authorized_keys: list[str]
    worker: Worker
    created: str = field(default_factory=now)
    updated: str = field(default_factory=now)
    group: str = ""
    watchdog_enabled: bool = True
    host_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    disks: list[Json] = field(default_factory=list)
    configs: list[Json] = field(default_factory=list)
    deleted: bool = False
