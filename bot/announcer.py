"""Tell each chat place about the deployments it asked for: every stage start, a failure, "ready".

It follows the status store, not the worker processes, so a bot restarted mid-deployment picks
up where it left off (subscriptions and how far each got are kept in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from bot.backends.base import Backend, Place
from orchestrator.report import plan_report
from orchestrator.stages import BY_ID
from orchestrator.store import DeploymentStore, HostStatus

log = logging.getLogger("jarvis.bot.announcer")
ENDED = ("successful", "failed", "canceled")


def ready_line(host: HostStatus) -> str:
    fingerprints = ", ".join(host.facts.get("fingerprints", [])) or "no host keys"
    elapsed = f"{host.elapsed:.1f}s" if host.elapsed is not None else "?"
    return f"{host.hostname} is ready at {host.facts.get('ip', '?')} ({fingerprints}) after {elapsed}"


def event_line(event: dict[str, Any], store: DeploymentStore) -> str | None:
    """One line for one stored event, or None for events chat does not need."""
    host, stage, kind = event["hostname"], event["stage"], event["kind"]
    if kind == "running" and stage == "ready":
        return None  # the "is ready at …" line says it better
    if kind == "running":
        title = BY_ID[stage].title if stage in BY_ID else stage
        return f"{host}: {stage} - {title}"
    if kind == "failed":
        return f"{host} FAILED at stage {stage}: {event['text']}"
    if kind == "canceled":
        return f"{host} canceled at stage {stage}"
    if kind == "ready":
        status = store.host_status(host, event["deployment_id"])
        return ready_line(status) if status else f"{host} is ready"
    return None


class Announcer:
    def __init__(self, store: DeploymentStore, backends: Mapping[str, Backend], interval: float = 0.2) -> None:
        self.store = store
        self.backends = backends
        self.interval = interval
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.once()
            except Exception:  # noqa: BLE001 - one bad round must not silence every later one
                log.exception("announcing failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.interval)

    def stop(self) -> None:
        self._stopped.set()

    async def once(self) -> None:
        """Send what happened since last time to every subscribed place whose backend is here."""
        for sub in self.store.open_subscriptions():
            backend = self.backends.get(sub["protocol"])
            if backend is None:
                continue
            place = Place(sub["protocol"], sub["target"], bool(sub["private"]))
            deployment = self.store.deployment(sub["deployment_id"])
            events = self.store.events(sub["deployment_id"], after=sub["last_seq"])
            last = sub["last_seq"]
            plan = deployment is not None and deployment["kind"] == "plan"
            for event in events:
                line = None if plan and event["kind"] != "failed" else event_line(event, self.store)
                if line:
                    await backend.send(place, line)
                last = event["seq"]
            done = deployment is None or deployment["state"] in ENDED
            if done and deployment is not None:
                for line in self._closing(deployment):
                    await backend.send(place, line)
            if events or done:
                self.store.advance_subscription(sub["deployment_id"], sub["protocol"], sub["target"], last, done)

    def _closing(self, deployment: dict[str, Any]) -> list[str]:
        hosts = self.store.deployment_hosts(deployment["id"])
        if deployment["kind"] == "plan":
            return [line for host in hosts for line in plan_report(host).splitlines()]
        if len(hosts) > 1:
            ready = [h.hostname for h in hosts if h.state == "ready"]
            failed = [h.hostname for h in hosts if h.state != "ready"]
            line = f"deployment {deployment['id']}: {len(ready)} of {len(hosts)} hosts ready"
            return [line + (f"; not ready: {', '.join(failed)}" if failed else "")]
        return []
