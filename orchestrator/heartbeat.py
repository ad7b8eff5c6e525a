"""The owner's side of a lease: renew, in a thread, every deployment this process runs.

Readers on other machines count a lease as lost when its heartbeat is older than the lease time
(orchestrator.leases.lost); renewing at a sixth of it leaves room for a busy store.
"""

from __future__ import annotations

import logging
import threading

from orchestrator.leases import this_process
from orchestrator.store import DeploymentStore

log = logging.getLogger("jarvis.heartbeat")


class Heartbeat:
    """Started once per process that records or runs deployments; a daemon thread, gone with the process."""

    def __init__(self, store: DeploymentStore, lease_seconds: float) -> None:
        self.store = store
        self.interval = max(0.5, lease_seconds / 6)
        self.owner = this_process()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="jarvis-heartbeat", daemon=True)
                self._thread.start()

    def _beat(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.interval):
            try:
                self.store.heartbeat(self.owner)
            except Exception:  # noqa: BLE001 - a store busy for a moment: the next beat tries again
                log.exception("could not renew the lease of this process's deployments")
