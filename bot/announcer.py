"""Tell each chat place about the deployments it asked for: every stage start, a failure, "ready".

It follows the status store, not the worker processes, so a bot restarted mid-deployment picks
up where it left off (subscriptions and how far each got are kept in the store). A subscription
moves past a line only once the backend wrote it to a live connection: nothing moves while a
backend is disconnected, and a bot killed between writing and recording says the line again when
it is back (at least once; never lost). A private subscription names the identity that asked; the
backend delivers to no one else.

Each place has at most one delivery in flight, and while it lasts the announcer takes no new
events for that place; the next round tells all that came meanwhile at once. When that is more
than ``max_lines`` lines, they are packed together, as many as fit one message of the backend
(nothing is cut), so a busy channel hears a few long lines rather than a backlog that the flood
limit would take minutes to send, and what waits to be sent stays bounded.

The store is shared with the threads of running deployments, so it is read and written off the event
loop: each round collects in one worker thread, and a subscription advances in one; only the writing
to chat happens on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.backends.base import Backend, Place
from orchestrator import DONE_STATES, DeploymentStore, HostStatus, plan_report, stage_title

log = logging.getLogger("jarvis.bot.announcer")
ENDED = ("successful", "failed", "canceled", "interrupted")
Progress = tuple[str, str, str, int, bool]  # advance_subscription's arguments: deployment, protocol, target, seq, done


def ready_line(host: HostStatus) -> str:
    fingerprints = ", ".join(host.facts.get("fingerprints", [])) or "no host keys"
    elapsed = f"{host.elapsed:.1f}s" if host.elapsed is not None else "?"
    return f"{host.hostname} is ready at {host.facts.get('ip', '?')} ({fingerprints}) after {elapsed}"


@dataclass
class Line:
    """A line for one place, and the deployments it tells of (their subscriptions wait for it)."""

    text: str
    deployments: set[str] = field(default_factory=set)


@dataclass
class _Starts:
    """The hosts that started STAGE, in the order they started: one line."""

    stage: str
    hosts: list[str] = field(default_factory=list)
    deployments: set[str] = field(default_factory=set)

    def render(self) -> Line:
        title = stage_title(self.stage)
        return Line(f"{', '.join(self.hosts)}: {self.stage} - {title}", self.deployments)


@dataclass
class _Batch:
    """What one round has to say to one place: stage starts merged per stage, other lines as they come."""

    items: list[Line | _Starts] = field(default_factory=list)
    starts: dict[str, _Starts] = field(default_factory=dict)
    progress: dict[str, Progress] = field(default_factory=dict)  # deployment -> how far, once all is written

    def start(self, deployment: str, host: str, stage: str) -> None:
        if stage not in self.starts:
            self.starts[stage] = _Starts(stage)
            self.items.append(self.starts[stage])
        self.starts[stage].hosts.append(host)
        self.starts[stage].deployments.add(deployment)

    def line(self, deployment: str, text: str) -> None:
        self.items.append(Line(text, {deployment}))

    def render(self) -> list[Line]:
        return [item.render() if isinstance(item, _Starts) else item for item in self.items]


def pack(lines: list[Line], limit: int, separator: str) -> list[Line]:
    """LINES, in order, joined by SEPARATOR into as few messages of at most LIMIT bytes as fit; nothing is cut.

    A line longer than LIMIT by itself stays alone (the backend splits it as it always does).
    """
    packed: list[Line] = []
    for line in lines:
        if packed and len(f"{packed[-1].text}{separator}{line.text}".encode()) <= limit:
            last = packed[-1]
            packed[-1] = Line(f"{last.text}{separator}{line.text}", last.deployments | line.deployments)
        else:
            packed.append(Line(line.text, set(line.deployments)))
    return packed


def event_line(event: dict[str, Any], store: DeploymentStore) -> str | None:
    """One line for a stored event other than a stage start, or None for events chat does not need."""
    host, stage, kind = event["hostname"], event["stage"], event["kind"]
    if kind == "failed":
        return f"{host} FAILED at stage {stage}: {event['text']}"
    if kind == "canceled":
        return f"{host} canceled at stage {stage}"
    if kind == "interrupted":
        return f"{host} INTERRUPTED at stage {stage or 'pending'}: {event['text']}; 'resume {host}' continues it"
    if kind == "ready":
        status = store.host_status(host, event["deployment_id"])
        return ready_line(status) if status else f"{host} is ready"
    if kind == "destroyed":
        return f"{host} is destroyed: its instance, DNS records, CMDB entry and gitosis key are gone"
    return None


class Announcer:
    """Announces the store's events in chat; more than ``max_lines`` lines for a place in one round are packed."""

    def __init__(
        self, store: DeploymentStore, backends: Mapping[str, Backend], interval: float = 0.2, max_lines: int = 10
    ) -> None:
        self.store = store
        self.backends = backends
        self.interval = interval
        self.max_lines = max_lines
        self._stopped = asyncio.Event()
        self._deliveries: dict[Place, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Start a round every ``interval`` until :meth:`stop`; then cancel what is in flight (it stays owed)."""
        try:
            while not self._stopped.is_set():
                try:
                    await self.start_round()
                except Exception:  # noqa: BLE001 - one bad round must not silence every later one
                    log.exception("announcing failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), self.interval)
        finally:
            deliveries = list(self._deliveries.values())
            for task in deliveries:
                task.cancel()
            await asyncio.gather(*deliveries, return_exceptions=True)

    def stop(self) -> None:
        self._stopped.set()

    async def once(self) -> None:
        """One round, waited for: send what happened since last time to every place that can hear it now."""
        await self.start_round()
        await asyncio.gather(*self._deliveries.values())

    async def start_round(self) -> None:
        """Start a delivery to every subscribed place whose backend is connected and that has none in flight.

        Stage starts of several hosts (a cluster, or deployments started side by side) that reach a
        place in the same round become one line, so a busy channel stays readable and within the
        network's flood limits; more than ``max_lines`` lines are packed into fewer.
        """
        connected = {protocol for protocol, backend in self.backends.items() if backend.connected}
        batches = await asyncio.to_thread(self._collect_round, connected, set(self._deliveries))
        for place, batch in batches.items():
            if place in self._deliveries:
                continue  # another round started one meanwhile; what this one read stays owed in the store
            lines = batch.render()
            if len(lines) > self.max_lines:
                backend = self.backends[place.protocol]
                packed = pack(lines, backend.line_bytes, backend.line_separator)
                log.info("%d lines for %s packed into %d", len(lines), place.target, len(packed))
                lines = packed
            self._start_delivery(place, lines, batch.progress)

    def _collect_round(self, connected: set[str], in_flight: set[Place]) -> dict[Place, _Batch]:
        """What every subscribed place not IN_FLIGHT, on a CONNECTED protocol, has to hear (it reads the store)."""
        batches: dict[Place, _Batch] = {}
        for sub in self.store.open_subscriptions():
            if sub["protocol"] not in connected:
                continue  # what is owed waits in the store until the backend is back
            private = bool(sub["private"])
            place = Place(sub["protocol"], sub["target"], private, sub["identity"] if private else "")
            if place not in in_flight:
                self._collect(batches.setdefault(place, _Batch()), sub)
        return {place: batch for place, batch in batches.items() if batch.progress}

    def _collect(self, batch: _Batch, sub: dict[str, Any]) -> None:
        """Add what SUB has not heard yet to BATCH, and how far it gets once that is written."""
        deployment_id = sub["deployment_id"]
        deployment = self.store.deployment(deployment_id)
        events = self.store.events(deployment_id, after=sub["last_seq"])
        plan = deployment is not None and deployment["kind"] == "plan"
        for event in events:
            if event["kind"] == "running" and event["stage"] != "ready" and not plan:
                batch.start(deployment_id, event["hostname"], event["stage"])
            elif (line := event_line(event, self.store)) and (not plan or event["kind"] == "failed"):
                batch.line(deployment_id, line)
        done = deployment is None or deployment["state"] in ENDED
        if done and deployment is not None:
            for line in self._closing(deployment):
                batch.line(deployment_id, line)
        if events or done:
            last = events[-1]["seq"] if events else sub["last_seq"]
            batch.progress[deployment_id] = (deployment_id, sub["protocol"], sub["target"], last, done)

    def _start_delivery(self, place: Place, lines: list[Line], progress: dict[str, Progress]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(place, lines, progress))
        self._deliveries[place] = task

        def finished(_: asyncio.Task[None]) -> None:
            if self._deliveries.get(place) is task:
                del self._deliveries[place]

        task.add_done_callback(finished)

    async def _deliver(self, place: Place, lines: list[Line], progress: dict[str, Progress]) -> None:
        """Announce LINES in order; a subscription moves on once every line that tells of it is written."""
        backend = self.backends[place.protocol]
        last_line = {deployment: index for index, line in enumerate(lines) for deployment in line.deployments}
        owed = dict(progress)
        try:
            for index in range(-1, len(lines)):
                if index >= 0 and not await backend.announce(place, lines[index].text):
                    log.info("%s: not connected; %d lines wait for the connection", place.target, len(lines) - index)
                    return
                told = [owed.pop(d) for d in [d for d in owed if last_line.get(d, -1) <= index]]
                if told:
                    await asyncio.to_thread(self._advance, told)
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("announcing to %s failed; trying again", place.target)

    def _advance(self, told: list[Progress]) -> None:
        """Record that the subscriptions TOLD heard everything up to their lines (it writes the store)."""
        for progress in told:
            self.store.advance_subscription(*progress)

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
