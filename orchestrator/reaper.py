"""Notice deployments whose owner is gone, say so, and end what they left running.

Every jarvis process that reads the status store calls :func:`reap` (the CLI, the bot, a worker
as it starts, the runner before it records a run): a pending or running deployment whose lease is
lost (:func:`orchestrator.leases.lost`) becomes ``interrupted``, each host at the stage it was in,
with an event that chat announces where the deployment was asked for; its host locks are released,
what is left of its playbook on this machine is killed by process group, and credentials staged by
dead processes are removed. ``resume HOST`` then continues it from that stage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.leases import Owner, end_processes, leftover_processes, lost, this_process
from orchestrator.staging import remove_leftovers
from orchestrator.store import DeploymentStore

log = logging.getLogger("jarvis.reaper")

DEFAULT_LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Interrupted:
    deployment_id: str
    reason: str
    hosts: list[tuple[str, str | None]]  # (hostname, the stage it was in)
    ended: list[int]  # pids of what was left of it, killed

    def lines(self) -> list[str]:
        return [
            f"{hostname}: interrupted at stage {stage or 'pending'} (deployment {self.deployment_id}): {self.reason}"
            f"; 'resume {hostname}' continues it"
            for hostname, stage in self.hosts
        ]


def reap(
    store: DeploymentStore, home: Path, lease_seconds: float = DEFAULT_LEASE_SECONDS, now: float | None = None
) -> list[Interrupted]:
    """Interrupt every deployment of STORE whose owner is gone; return what was interrupted.

    HOME is jarvis's home: runs are in ``runs/``, credentials staged in ``private/`` (files of dead
    processes go).
    """
    now = time.time() if now is None else now
    me = this_process()
    found = []
    for deployment_id, owner, heartbeat_at in store.leases():
        if owner == me:
            continue
        reason = lost(owner, heartbeat_at, now, lease_seconds)
        if reason is None:
            continue
        if owner is None and leftover_processes(deployment_id, home / "runs"):
            continue  # started by a jarvis older than leases, and still running here: let it finish
        reason = f"jarvis lost it: {reason}"
        found.append(interrupt(store, home / "runs", deployment_id, reason, owner, judged=(owner, heartbeat_at)))
    for leftover in remove_leftovers(home / "private"):
        log.warning("removed %s, credentials staged by a jarvis process that has died", leftover)
    return [item for item in found if item.hosts]


def interrupt(
    store: DeploymentStore,
    runs_dir: Path,
    deployment_id: str,
    reason: str,
    owner: Owner | None,
    judged: tuple[Owner | None, float | None] | None = None,
) -> Interrupted:
    """Mark DEPLOYMENT_ID interrupted for REASON and end what is left of it on this machine.

    What is left is what :func:`orchestrator.leases.leftover_processes` finds of the run; a live owner on
    this machine is spared (an unlock of a wedged run must not kill jarvis). JUDGED (owner, heartbeat), what a
    reaper found lost: if the row holds something else by now (a worker claimed it), nothing is done.
    """
    hosts = store.interrupt(deployment_id, reason, judged=judged)
    if not hosts:
        return Interrupted(deployment_id, reason, [], [])
    spared = {owner.pid} if owner is not None and lost(owner, None, 0, float("inf")) is None else set()
    ended = end_processes([pid for pid in leftover_processes(deployment_id, runs_dir) if pid not in spared])
    for hostname, stage in hosts:
        log.warning("%s interrupted at stage %s (deployment %s): %s", hostname, stage, deployment_id, reason)
    if ended:
        log.warning("ended what deployment %s left running: processes %s", deployment_id, ended)
    return Interrupted(deployment_id, reason, hosts, ended)
