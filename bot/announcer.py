"""Tell each chat place about the deployments it asked for: every stage start, a failure, "ready".

It follows the status store, not the worker processes, so a bot restarted mid-deployment picks
up where it left off (subscriptions and how far each got are kept in the store). A private
subscription names the identity that asked; the backend delivers to no one else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.backends.base import Backend, Place
from orchestrator.events import DONE_STATES
from orchestrator.report import plan_report
from orchestrator.stages import BY_ID
from orchestrator.store import DeploymentStore, HostStatus

log = logging.getLogger("jarvis.bot.announcer")
ENDED = ("successful", "failed", "canceled")


def ready_line(host: HostStatus) -> str:
    fingerprints = ", ".join(host.facts.get("fingerprints", [])) or "no host keys"
    elapsed = f"{host.elapsed:.1f}s" if host.elapsed is not None else "?"
    return f"{host.hostname} is ready at {host.facts.get('ip', '?')} ({fingerprints}) after {elapsed}"


@dataclass
class _Batch:
    """What one round has to say to one place: stage starts merged per stage, other lines as they come."""

    lines: list[str | list[str]] = field(default_factory=list)  # a list: hosts starting the stage at key
    starts: dict[str, list[str]] = field(default_factory=dict)  # stage -> hosts, in the order they started

    def start(self, host: str, stage: str) -> None:
        if stage not in self.starts:
            self.starts[stage] = []
            self.lines.append(self.starts[stage])
            self.starts[stage].append(stage)  # the first item names the stage
        self.starts[stage].append(host)

    def render(self) -> list[str]:
        out = []
        for item in self.lines:
            if isinstance(item, str):
                out.append(item)
            else:
                stage, hosts = item[0], item[1:]
                title = BY_ID[stage].title if stage in BY_ID else stage
                out.append(f"{', '.join(hosts)}: {stage} - {title}")
        return out


def event_line(event: dict[str, Any], store: DeploymentStore) -> str | None:
    """One line for a stored event other than a stage start, or None for events chat does not need."""
    host, stage, kind = event["hostname"], event["stage"], event["kind"]
    if kind == "failed":
        return f"{host} FAILED at stage {stage}: {event['text']}"
    if kind == "canceled":
        return f"{host} canceled at stage {stage}"
    if kind == "ready":
        status = store.host_status(host, event["deployment_id"])
        return ready_line(status) if status else f"{host} is ready"
    if kind == "destroyed":
        return f"{host} is destroyed: its instance, DNS records, CMDB entry and gitosis key are gone"
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
        """Send what happened since last time to every subscribed place whose backend is here.

        Stage starts of several hosts (a cluster, or deployments started side by side) that reach a
        place in the same round become one line, so a busy channel stays readable and within the
        network's flood limits.
        """
        batches: dict[Place, _Batch] = {}
        progress = []
        for sub in self.store.open_subscriptions():
            if sub["protocol"] not in self.backends:
                continue
            private = bool(sub["private"])
            place = Place(sub["protocol"], sub["target"], private, sub["identity"] if private else "")
            batch = batches.setdefault(place, _Batch())
            deployment = self.store.deployment(sub["deployment_id"])
            events = self.store.events(sub["deployment_id"], after=sub["last_seq"])
            plan = deployment is not None and deployment["kind"] == "plan"
            for event in events:
                if event["kind"] == "running" and event["stage"] != "ready" and not plan:
                    batch.start(event["hostname"], event["stage"])
                elif (line := event_line(event, self.store)) and (not plan or event["kind"] == "failed"):
                    batch.lines.append(line)
            done = deployment is None or deployment["state"] in ENDED
            if done and deployment is not None:
                batch.lines.extend(self._closing(deployment))
            if events or done:
                last = events[-1]["seq"] if events else sub["last_seq"]
                progress.append((sub["deployment_id"], sub["protocol"], sub["target"], last, done))
        for place, batch in batches.items():
            for line in batch.render():
                await self.backends[place.protocol].send(place, line)
        for record in progress:
            self.store.advance_subscription(*record)

    def _closing(self, deployment: dict[str, Any]) -> list[str]:
        hosts = self.store.deployment_hosts(deployment["id"])
        if deployment["kind"] == "plan":
            return [line for host in hosts for line in plan_report(host).splitlines()]
        if len(hosts) > 1:
            done = "destroyed" if deployment["kind"] == "destroy" else "ready"
            failed = [h.hostname for h in hosts if h.state not in DONE_STATES]
            line = f"deployment {deployment['id']}: {len(hosts) - len(failed)} of {len(hosts)} hosts {done}"
            return [line + (f"; not {done}: {', '.join(failed)}" if failed else "")]
        return []
