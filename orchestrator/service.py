"""The orchestrator as its clients (the chat bot, the CLI) use it: start, follow, cancel deployments."""

from __future__ import annotations

from orchestrator import worker
from orchestrator.config import Config
from orchestrator.design import Design
from orchestrator.errors import DeploymentError
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
        busy = [name for name in design.hostnames if self.running(name)]
        if busy and not check:
            raise DeploymentError(f"{', '.join(busy)} is being deployed already (see status, or cancel it)")
        deployment_id = self.runner.record(
            design, requested_by, check=check, kind=kind, force=force, adopt=adopt, approval=approval
        )
        worker.launch(self.config, deployment_id)
        return deployment_id

    def resume(self, hostname: str, requested_by: str, *, force: bool = False, approval: str | None = None) -> str:
        """Continue HOSTNAME's failed deployment from its failed stage, in a worker; return the new id."""
        deployment_id = self.runner.record_resume(hostname, requested_by, force=force, approval=approval)
        worker.launch(self.config, deployment_id)
        return deployment_id

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
