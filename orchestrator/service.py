"""The orchestrator as its clients (the chat bot, the CLI) use it: start, follow, cancel deployments."""

from __future__ import annotations

from orchestrator import worker
from orchestrator.config import Config
from orchestrator.design import Design
from orchestrator.errors import DeploymentError
from orchestrator.leases import owner_of
from orchestrator.locks import describe_holder
from orchestrator.reaper import Interrupted, interrupt
from orchestrator.runner import DeploymentRunner
from orchestrator.store import DeploymentStore, HostStatus


class Orchestrator:
    """One config, one status store; deployments run in worker processes of their own."""

    def __init__(self, config: Config, store: DeploymentStore | None = None) -> None:
        self.config = config
        self.store = store or DeploymentStore(config.store_path)
        self.runner = DeploymentRunner(config, self.store)

    def launch(
        self,
        design: Design,
        requested_by: str,
        *,
        check: bool = False,
        kind: str = "deploy",
        force: bool = False,
        adopt: bool = False,
        approval: str | None = None,
    ) -> str:
        """Record the deployment (or redeploy) and start its worker; return the deployment id at once.

        FORCE, ADOPT and APPROVAL as for :meth:`DeploymentRunner.record`.
        """
        deployment_id = self.runner.record(  # raises HostBusy if another run holds one of the hosts
            design, requested_by, check=check, kind=kind, force=force, adopt=adopt, approval=approval
        )
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
        if others and not getattr(self.runner.executor, "host_cancel", False):
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
        if not getattr(self.runner.executor, "host_cancel", False):
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
