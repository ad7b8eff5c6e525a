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
        self, design: Design, requested_by: str, *, check: bool = False, kind: str = "deploy", force: bool = False
    ) -> str:
        """Record the deployment (or redeploy) and start its worker; return the deployment id at once."""
        busy = [name for name in design.hostnames if self.running(name)]
        if busy and not check:
            raise DeploymentError(f"{', '.join(busy)} is being deployed already (see status, or cancel it)")
        deployment_id = self.runner.record(design, requested_by, check=check, kind=kind, force=force)
        worker.launch(self.config, deployment_id)
        return deployment_id

    def resume(self, hostname: str, requested_by: str) -> str:
        """Continue HOSTNAME's failed deployment from its failed stage, in a worker; return the new id."""
        deployment_id = self.runner.record_resume(hostname, requested_by)
        worker.launch(self.config, deployment_id)
        return deployment_id

    def running(self, hostname: str) -> HostStatus | None:
        host = self.store.host_status(hostname)
        return host if host is not None and host.state in ("pending", "running") else None

    def cancel(self, hostname: str) -> str:
        """Ask the running deployment of HOSTNAME to stop at the next task boundary; say so."""
        host = self.running(hostname)
        if host is None:
            raise DeploymentError(f"{hostname} has no deployment running")
        self.store.request_cancel(host.deployment_id)
        return (
            f"canceling {hostname} (deployment {host.deployment_id}) at the next task boundary, in stage {host.stage}"
        )
