"""What the status store hands out: a host's status with its stages, and the design a deployment ran."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageStatus:
    stage: str
    title: str
    state: str
    started_at: float | None
    ended_at: float | None
    detail: str | None
    actions: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


@dataclass
class HostStatus:
    deployment_id: str
    kind: str
    source: str
    requested_by: str
    hostname: str
    fqdn: str
    provider: str
    state: str
    stage: str | None
    reason: str | None
    started_at: float | None
    ended_at: float | None
    facts: dict[str, Any]
    stages: list[StageStatus]
    design_digest: str | None = None  # the pinned design of the deployment (None: recorded before pinning)
    design_source: str | None = None
    queued: int = 0  # a pending host's place in line for a run slot (1: next; see orchestrator.run_slots), or 0

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment_id,
            "kind": self.kind,
            "source": self.source,
            "design": {"digest": self.design_digest, "source": self.design_source},
            "requested_by": self.requested_by,
            "host": self.hostname,
            "fqdn": self.fqdn,
            "provider": self.provider,
            "state": self.state,
            "queued": self.queued,
            "stage": self.stage,
            "reason": self.reason,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "elapsed": None if self.elapsed is None else round(self.elapsed, 2),
            "facts": self.facts,
            "stages": [
                {
                    "stage": s.stage,
                    "title": s.title,
                    "state": s.state,
                    "elapsed": None if s.elapsed is None else round(s.elapsed, 2),
                    "detail": s.detail,
                    "actions": s.actions,
                }
                for s in self.stages
            ],
        }


@dataclass(frozen=True)
class StoredDesign:
    """What one deployment recorded of its design: the source as given, the text it ran, its hosts."""

    deployment_id: str
    kind: str
    state: str
    source: str  # as given: a URL, cn=NAME, a path
    resolved_source: str | None  # where the text came from (None: recorded before designs were pinned)
    text: str | None
    digest: str | None
    hosts: list[dict[str, Any]]  # the canonical hosts this deployment acted on
    options: dict[str, Any]
    created_at: float

    @property
    def hostnames(self) -> list[str]:
        return [host["hostname"] for host in self.hosts]


def stored_design_of(row: sqlite3.Row) -> StoredDesign:
    return StoredDesign(
        deployment_id=row["id"],
        kind=row["kind"],
        state=row["state"],
        source=row["source"],
        resolved_source=row["design_source"],
        text=row["design_text"],
        digest=row["design_digest"],
        hosts=json.loads(row["hosts_json"]),
        options=json.loads(row["options_json"]),
        created_at=row["created_at"],
    )


def host_status_of(row: sqlite3.Row, stage_rows: list[sqlite3.Row]) -> HostStatus:
    """A host's status from its row (joined with its deployment's) and its stages' rows, in order."""
    return HostStatus(
        deployment_id=row["deployment_id"],
        kind=row["kind"],
        source=row["source"],
        requested_by=row["requested_by"],
        hostname=row["hostname"],
        fqdn=row["fqdn"],
        provider=row["provider"],
        state=row["state"],
        stage=row["stage"],
        reason=row["reason"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        facts=json.loads(row["facts"]),
        stages=[
            StageStatus(
                stage=s["stage"],
                title=s["title"],
                state=s["state"],
                started_at=s["started_at"],
                ended_at=s["ended_at"],
                detail=s["detail"],
                actions=json.loads(s["actions"]),
            )
            for s in stage_rows
        ],
        design_digest=row["design_digest"],
        design_source=row["design_source"],
    )
