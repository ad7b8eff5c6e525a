"""Private to sandbox.linode: a Linode's lifecycle phases, each taking time and doing its podman work."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sandbox import hosts
from sandbox._process import SandboxError
from sandbox._provider import container_name
from sandbox.linode._answers import Json
from sandbox.linode._events import EventLog
from sandbox.linode._model import Linode, now

DEFAULT_DELAY = 0.5  # seconds each lifecycle phase (provisioning, booting, shutting_down…) lasts
TRANSIENT_STATUSES = frozenset(
    {"provisioning", "booting", "rebooting", "shutting_down", "rebuilding", "migrating", "cloning", "restoring"}
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """One step of a lifecycle: the status meanwhile, its event, and the podman work it takes."""

    status: str
    action: str
    work: Callable[[], None] | None = None


PROVISIONING = Phase("provisioning", "linode_create")


class Lifecycles:
    """Runs the phases of Linodes on their workers; LOCK is the one guarding the emulator's state."""

    def __init__(
        self, lock: threading.RLock, events: EventLog, network: str, prefix: str, delay: float = DEFAULT_DELAY
    ) -> None:
        self._lock = lock
        self._events = events
        self._network = network
        self._prefix = prefix
        self._delay = delay

    def booting(self, linode: Linode) -> Phase:
        return Phase("booting", "linode_boot", lambda: self._start_container(linode))

    def shutting_down(self, linode: Linode) -> Phase:
        return Phase("shutting_down", "linode_shutdown", lambda: self._stop_container(linode))

    def rebooting(self, linode: Linode) -> Phase:
        return Phase("rebooting", "linode_reboot", lambda: self._restart_container(linode))

    def rebuilding(self, linode: Linode) -> Phase:
        """The disk is rebuilt: the next boot makes a new host (new host keys, the rebuild's keys)."""
        return Phase("rebuilding", "linode_rebuild", lambda: hosts.remove_host(self._container(linode)))

    def run(self, linode: Linode, phases: list[Phase], final: str) -> None:
        """Enter the first phase now (so the answer and the next GET show it), the rest on the worker.

        Call with the lock held.
        """
        linode.status = phases[0].status
        linode.updated = now()
        linode.worker.submit(lambda: self._go_through(linode, phases, final))

    def remove(self, linode: Linode, event: Json, then: Callable[[], None]) -> None:
        """Remove LINODE's host once its jobs are done, finish EVENT, then call THEN; its worker ends."""

        def job() -> None:
            started = time.monotonic()
            ok = True
            try:
                hosts.remove_host(self._container(linode))
            except SandboxError as exc:
                log.error("removing the container of Linode %d failed: %s", linode.id, exc)
                ok = False
            self._events.finish(event, ok, started)
            then()

        linode.worker.submit(job)
        linode.worker.close()

    def _go_through(self, linode: Linode, phases: list[Phase], final: str) -> None:
        for phase in phases:
            with self._lock:
                if linode.deleted:
                    return
                linode.status = phase.status
                event = self._events.record(phase.action, linode, "started")
            started = time.monotonic()
            ok = True
            if phase.work is not None:
                try:
                    phase.work()
                except SandboxError as exc:
                    log.error("%s of Linode %d failed: %s", phase.status, linode.id, exc)
                    ok = False
            time.sleep(self._delay)
            self._events.finish(event, ok, started)
            if not ok:
                final = "offline"
                break
        with self._lock:
            if not linode.deleted:
                linode.status = final
                linode.updated = now()

    def _container(self, linode: Linode) -> str:
        return container_name(self._prefix, linode.id)

    def _start_container(self, linode: Linode) -> None:
        """Power the host on: start its stopped container, or create it on the first boot after a deploy."""
        name = self._container(linode)
        state = hosts.list_hosts(name).get(name)
        if state == "running":
            return
        if state is not None:
            hosts.start_stopped_host(name)
            return
        hostname = re.sub(r"[^A-Za-z0-9.-]", "-", linode.label).strip(".-") or f"linode{linode.id}"
        hosts.start_host(name, self._network, linode.ipv4, list(linode.authorized_keys), hostname)
        log.info("started %s: %s at %s, %d key(s)", name, hostname, linode.ipv4, len(linode.authorized_keys))

    def _stop_container(self, linode: Linode) -> None:
        name = self._container(linode)
        if hosts.list_hosts(name).get(name) == "running":
            hosts.stop_host(name)

    def _restart_container(self, linode: Linode) -> None:
        self._stop_container(linode)
        self._start_container(linode)
