"""Run slots: no more deployments run on this machine at once than configured; the rest wait, first come first."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.leases import this_process
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore


@pytest.fixture
def store(tmp_path: Path) -> DeploymentStore:
    return DeploymentStore(tmp_path / "jarvis.db")


def record(store: DeploymentStore, name: str) -> str:
    """A deployment of host NAME, recorded and claimed by this process (as its runner does before it waits)."""
    host = {"hostname": name, "fqdn": f"{name}.example.com", "provider": "ec2"}
    deployment_id = store.create_deployment(
        [host], list(deploy_stages()), source=f"{name}.yml", requested_by="alice (irc)"
    )
    assert store.claim(deployment_id, this_process())
    return deployment_id


def test_two_slots_start_two_and_queue_the_rest_in_the_order_they_were_recorded(store: DeploymentStore) -> None:
    first, second, third, fourth = (record(store, name) for name in ("a1", "a2", "a3", "a4"))
    assert store.take_run_slot(fourth, 2) == 2  # two were recorded before it, and may start first
    assert [store.take_run_slot(d, 2) for d in (first, second)] == [0, 0]
    assert store.deployment(first)["state"] == store.deployment(second)["state"] == "running"
    assert [store.take_run_slot(d, 2) for d in (third, fourth)] == [1, 2]
    assert store.deployment(third)["state"] == "pending"
    assert store.queue_position(fourth, 2) == 2

    store.set_deployment_state(first, "successful")
    assert store.take_run_slot(fourth, 2) == 1  # the slot is third's: it was recorded first
    assert store.take_run_slot(third, 2) == 0
    assert store.queue_position(third, 2) == 0  # it runs
    store.set_deployment_state(second, "failed")
    assert store.take_run_slot(fourth, 2) == 0


def test_an_interrupted_deployment_frees_its_slot_and_its_place(store: DeploymentStore) -> None:
    running, waiting, last = (record(store, name) for name in ("b1", "b2", "b3"))
    assert store.take_run_slot(running, 1) == 0
    assert store.take_run_slot(last, 1) == 2
    store.set_deployment_state(waiting, "interrupted")  # its owner died while it waited
    assert store.take_run_slot(last, 1) == 1
    store.set_deployment_state(running, "interrupted")
    assert store.take_run_slot(last, 1) == 0
