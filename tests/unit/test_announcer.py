"""The announcer batches stage starts per place and remembers how far each place got."""

from __future__ import annotations

import asyncio

from bot.announcer import Announcer
from bot.backends.memory import MemoryBackend
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore


def deployment(store: DeploymentStore, name: str) -> str:
    hosts = [{"hostname": name, "fqdn": f"{name}.example.com", "provider": "ec2"}]
    deployment_id = store.create_deployment(hosts, list(deploy_stages()), source="t", requested_by="alice")
    store.set_deployment_state(deployment_id, "running")
    store.subscribe(deployment_id, "test", "#ops", private=False)
    return deployment_id


def test_stage_starts_of_several_deployments_share_a_line() -> None:
    store = DeploymentStore(":memory:")
    backend = MemoryBackend()
    announcer = Announcer(store, {"test": backend})
    first, second = deployment(store, "eir"), deployment(store, "gna")
    for deployment_id, host in ((first, "eir"), (second, "gna")):
        store.add_event(deployment_id, "running", "write DNS", host, "dns")
    store.add_event(second, "failed", "REFUSED by 127.0.0.1", "gna", "dns")
    asyncio.run(announcer.once())
    assert backend.lines() == [
        "eir, gna: dns - write DNS A, PTR and SSHFP records",
        "gna FAILED at stage dns: REFUSED by 127.0.0.1",
    ]
    asyncio.run(announcer.once())
    assert len(backend.lines()) == 2, "nothing is announced twice"

    store.set_deployment_state(second, "failed")
    asyncio.run(announcer.once())
    assert [sub["deployment_id"] for sub in store.open_subscriptions()] == [first]
