"""The orchestrator as its clients (the chat bot, the CLI) use it: start, follow, cancel deployments."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator import worker
from orchestrator.chat_records import ChatRecords
from orchestrator.cmdb import redeploy_facts
from orchestrator.config import Config
from orchestrator.design import Design
from orchestrator.errors import DeploymentError
from orchestrator.leases import owner_of
from orchestrator.locks import describe_holder
from orchestrator.pinned import cluster_design, pinned_design
from orchestrator.reaper import Interrupted, interrupt
from orchestrator.run_options import DEFAULT_RUN, RunOptions
from orchestrator.runner import RESUMABLE, DeploymentRunner
from orchestrator.store import DeploymentStore, HostStatus, StoredDesign


class Orchestrator:
    """One config, one status store; deployments run in worker processes of their own."""

    def __init__(self, config: Config, store: DeploymentStore | None = None) -> None:
        self.config = config
        self.store = store or DeploymentStore(config.store_path)
        self.runner = DeploymentRunner(config, self.store)

    def launch(self, design: Design, requested_by: str, options: RunOptions = DEFAULT_RUN) -> str:
        """Record the deployment (or redeploy) as OPTIONS ask and start its worker; return its id at once."""
        deployment_id = self.runner.record(design, requested_by, options)  # raises HostBusy if a host is held
        self._start_worker(deployment_id)
        return deployment_id

    def resume(self, hostname: str, requested_by: str, *, force: bool = False, approval: str | None = None) -> str:
        """Continue HOSTNAME's failed deployment from its failed stage, in a worker; return the new id."""
        deployment_id = self.runner.record_resume(hostname, requested_by, force=force, approval=approval)
        self._start_worker(deployment_id)
        return deployment_id

    def _start_worker(self, deployment_id: str) -> None:
        try:
            pid = worker.launch(self.config, deployment_id)
        except BaseException:
            self.store.interrupt(deployment_id, "its worker could not be started")  # so its hosts are free again
            raise
        self._hand_over(deployment_id, pid)

    def _hand_over(self, deployment_id: str, pid: int) -> None:
        """Make the worker PID the deployment's owner now, so that a lease is never held by this process for
        a run it does not follow (the worker claims it again as it starts; one that died already is reaped)."""
        owner = owner_of(pid)
        if owner is not None:
            self.store.claim(deployment_id, owner)
            return
        record = self.store.deployment(deployment_id)  # the worker ended already: did it ever take the run?
        if record is not None and record["owner"] == self.runner.heartbeat.owner:
            reason = f"its worker (process {pid}) ended before it started; see runs/{deployment_id}.log"
            self.store.interrupt(deployment_id, reason, judged=(record["owner"], record["heartbeat_at"]))

    def reap(self) -> list[Interrupted]:
        """Interrupt the deployments whose owner is gone; what was interrupted (see orchestrator.reaper)."""
        return self.runner.reap()

    def unlock(self, hostname: str, unlocked_by: str) -> str:
        """Release HOSTNAME's lock by hand: its deployment is interrupted, what is left of it here ends."""
        noticed = [line for interrupted in self.reap() for line in interrupted.lines()]
        held = self.store.lock_holders([hostname])
        if not held:
            already = f" ({'; '.join(noticed)})" if noticed else ""
            raise DeploymentError(f"{hostname} is not locked: nothing holds it{already}")
        deployment_id, reason = held[0]["deployment_id"], f"unlocked by hand by {unlocked_by}"
        others = [
            host.hostname
            for host in self.store.deployment_hosts(deployment_id)
            if host.hostname != hostname and host.state in ("pending", "running")
        ]
        if others and not self.runner.runs_here:
            raise DeploymentError(
                f"{hostname} shares deployment {deployment_id} with {', '.join(others)}, and the "
                f"{self.config.executor.get('type', 'configured')} executor cannot stop one host of a run: "
                f"cancel the deployment ('jarvis cancel --cluster {deployment_id}'), then unlock"
            )
        holder = self.store.unlock(hostname, unlocked_by, deployment_id)
        if holder is None:
            raise DeploymentError(f"{hostname} changed hands meanwhile: look at 'jarvis status {hostname}' again")
        if others:  # the run goes on for them: HOSTNAME alone leaves it, at its next stage if the run still lives
            self.store.interrupt(deployment_id, reason, hostname)
            self.store.request_host_cancel(deployment_id, hostname)
            note = f"; {', '.join(others)} {'goes' if len(others) == 1 else 'go'} on"
        else:
            record = self.store.deployment(deployment_id)
            interrupt(self.store, self.config.runs_dir, deployment_id, reason, record["owner"] if record else None)
            note = ""
        return (
            f"unlocked {hostname}: {describe_holder(holder)}; now interrupted, 'resume {hostname}' continues it{note}"
        )

    @property
    def chat_records(self) -> ChatRecords:
        """Chat's own records (which places hear a deployment, approval requests): the bot's one way
        into the status store."""
        return self.store

    # -- what the bot and the CLI read ---------------------------------------------------------------

    def host_status(self, hostname: str) -> HostStatus | None:
        """HOSTNAME's latest deployment, as the status store has it (with its place in line when queued)."""
        host = self.store.host_status(hostname)
        return None if host is None else self._in_line(host)

    def active_hosts(self) -> list[HostStatus]:
        """Every host of a deployment still pending or running."""
        return [self._in_line(host) for host in self.store.active_hosts()]

    def _in_line(self, host: HostStatus) -> HostStatus:
        """HOST with its place in line for a run slot, if it is pending on this machine's run slots."""
        if host.state != "pending" or not self.runner.runs_here:
            return host
        place = self.store.queue_position(host.deployment_id, self.config.parallel_runs)
        return dataclasses.replace(host, queued=place)

    def pinned(self, hostname: str) -> tuple[Design, StoredDesign] | None:
        """HOSTNAME alone, as the deployment that last built it ran it (None: nothing built it)."""
        stored = self.store.last_build(hostname)
        return None if stored is None else (pinned_design(stored, [hostname]), stored)

    def cluster(self, ref: str) -> tuple[Design, StoredDesign]:
        """Every host of deployment REF, or of the last deployment of the whole design from source REF."""
        return cluster_design(self.store, ref)

    def resumable(self, hostname: str) -> bool:
        """Whether HOSTNAME's last run stopped where a resume can continue it (else resume() says why not)."""
        last = self.store.host_status(hostname)
        return last is not None and last.state in RESUMABLE

    def busy(self, hostnames: list[str]) -> bool:
        """Whether another run holds one of HOSTNAMES (a holder that is gone is noticed and released first)."""
        self.reap()
        return bool(self.store.lock_holders(hostnames))

    def production_hosts(self, hosts: list[dict[str, Any]]) -> list[str]:
        """The HOSTS whose CMDB entry says production (blocking: it reads LDAP)."""
        return [str(host["hostname"]) for host in hosts if redeploy_facts(self.config, host)["jarvis_production"]]

    def requesters(self, deployment_id: str) -> list[str]:
        """Who asked for deployment DEPLOYMENT_ID while it runs, and for the running hosts from that source."""
        found = self.store.deployment(deployment_id)
        askers = [found["requested_by"]] if found and found["state"] in ("pending", "running") else []
        return askers + [host.requested_by for host in self.store.active_hosts() if host.source == deployment_id]

    def running(self, hostname: str) -> HostStatus | None:
        host = self.store.host_status(hostname)
        return host if host is not None and host.state in ("pending", "running") else None

    def cancel(self, hostname: str, cluster_command: str = "cancel cluster {id}") -> str:
        """Stop HOSTNAME, and only it; say so.

        Alone in its deployment (or the last of it still going), the deployment stops at the next task
        boundary. With other hosts still going, HOSTNAME alone ends at its next stage boundary, where the
        executor's playbook can see a flag of this machine (local runs); other executors refuse, naming
        CLUSTER_COMMAND (formatted with the deployment ``id``), which stops them all.
        """
        host = self.running(hostname)
        if host is None:
            raise DeploymentError(f"{hostname} has no deployment running")
        deployment_id = host.deployment_id
        others = [
            other.hostname
            for other in self.store.deployment_hosts(deployment_id)
            if other.hostname != hostname and other.state in ("pending", "running")
        ]
        if not others:
            self.store.request_cancel(deployment_id)
            return f"canceling {hostname} (deployment {deployment_id}) at the next task boundary, in stage {host.stage}"
        if not self.runner.runs_here:
            raise DeploymentError(
                f"{hostname} shares deployment {deployment_id} with {', '.join(others)}, and the "
                f"{self.config.executor.get('type', 'configured')} executor cannot stop one host of a run: "
                f"'{cluster_command.format(id=deployment_id)}' stops them all"
            )
        self.store.request_host_cancel(deployment_id, hostname)
        going = f"{', '.join(others)} {'goes' if len(others) == 1 else 'go'} on"
        where = f", now in stage {host.stage}" if host.stage else ""
        return f"canceling {hostname} alone (deployment {deployment_id}) at its next stage boundary{where}; {going}"

    def cancel_cluster(self, deployment_id: str) -> str:
        """Stop every host of deployment DEPLOYMENT_ID at the next task boundary; say which."""
        record = self.store.deployment(deployment_id)
        if record is None:
            raise DeploymentError(f"no deployment {deployment_id} is recorded")
        if record["state"] not in ("pending", "running"):
            raise DeploymentError(f"deployment {deployment_id} is not running ({record['state']})")
        self.store.request_cancel(deployment_id)
        names = ", ".join(host["hostname"] for host in record["hosts"])
        return f"canceling deployment {deployment_id} ({names}) at the next task boundary"
