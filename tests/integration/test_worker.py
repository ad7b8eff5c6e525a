"""Deployments in worker processes of their own, as the chat bot starts them; cancel from outside."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator import DeploymentStore, load_design_file
from orchestrator.config import Config
from orchestrator.errors import DeploymentError
from orchestrator.service import Orchestrator

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def design(tmp_path: Path, name: str, config: Config):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.yml"
    path.write_text((REPO / "examples" / "loki.yml").read_text().replace("loki", name))
    return load_design_file(path, config.mappings)


def wait_for_end(store: DeploymentStore, deployment_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.deployment(deployment_id)
        if record and record["state"] in ("successful", "failed", "canceled"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"deployment {deployment_id} did not end within {timeout}s")


def test_a_worker_process_deploys_and_the_store_follows(jarvis_config: Config, tmp_path: Path) -> None:
    orchestrator = Orchestrator(jarvis_config)
    deployment_id = orchestrator.launch(design(tmp_path, "mimir", jarvis_config), "alice (irc)")
    with pytest.raises(DeploymentError, match=f"mimir is held by deployment {deployment_id} .deploy asked by alice"):
        orchestrator.launch(design(tmp_path, "mimir", jarvis_config), "bob (irc)")
    record = wait_for_end(orchestrator.store, deployment_id)
    assert record["state"] == "successful"
    host = orchestrator.store.host_status("mimir")
    assert host is not None and host.state == "ready" and host.requested_by == "alice (irc)"
    kinds = [event["kind"] for event in orchestrator.store.events(deployment_id)]
    assert kinds[0] == "running" and kinds[-1] == "ready"
    assert (jarvis_config.runs_dir / f"{deployment_id}.log").exists()


def test_cancel_from_another_process_stops_the_worker(jarvis_config: Config, tmp_path: Path) -> None:
    orchestrator = Orchestrator(jarvis_config)
    deployment_id = orchestrator.runner.record(design(tmp_path, "kvasir", jarvis_config), "alice (irc)")
    orchestrator.store.set_deployment_state(deployment_id, "running")
    assert "canceling kvasir" in orchestrator.cancel("kvasir")
    from orchestrator import worker

    worker.launch(jarvis_config, deployment_id)
    record = wait_for_end(orchestrator.store, deployment_id)
    assert record["state"] == "canceled"
    host = orchestrator.store.host_status("kvasir")
    assert host is not None and host.state == "canceled" and host.reason == "canceled by request"
    with pytest.raises(DeploymentError, match="no deployment running"):
        orchestrator.cancel("kvasir")
