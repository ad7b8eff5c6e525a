"""One pipeline per host: the per-host lock, taken in the same SQLite transaction that records a run.

Every run that changes a host (deploy, redeploy, destroy, resume; not a plan) holds a row of
``host_locks`` per host from the moment it is recorded until the host is done. The status store
calls these functions inside its own transactions (``BEGIN IMMEDIATE``), so two processes
recording a run of one host at once cannot both get it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from orchestrator.errors import DeploymentError

SCHEMA = """
CREATE TABLE IF NOT EXISTS host_locks (  -- the deployment that may change a host now, one per host
    hostname TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS unlocks (  -- locks released by hand (jarvis unlock), and who did it
    hostname TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    unlocked_by TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class HostBusy(DeploymentError):
    """A host is held by another run: the message names the host, the holder and since when."""


def holders(db: sqlite3.Connection, hostnames: list[str]) -> list[dict[str, Any]]:
    """The locks held on HOSTNAMES, with what holds them: deployment, kind, who asked, state, stage."""
    marks = ", ".join("?" * len(hostnames))
    rows = db.execute(
        "SELECT l.hostname, l.deployment_id, l.since, d.kind, d.requested_by, d.state, h.stage "
        "FROM host_locks l JOIN deployments d ON d.id = l.deployment_id "
        "LEFT JOIN hosts h ON h.deployment_id = l.deployment_id AND h.hostname = l.hostname "
        f"WHERE l.hostname IN ({marks}) ORDER BY l.hostname",  # noqa: S608 - placeholders only
        hostnames,
    ).fetchall()
    return [dict(row) for row in rows]


def describe_holder(holder: dict[str, Any]) -> str:
    """``thor is held by deployment 2026…-1a2b3c (redeploy asked by alice (…), running, stage cmdb) since …``"""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder["since"]))
    where = f", stage {holder['stage']}" if holder.get("stage") else ""
    return (
        f"{holder['hostname']} is held by deployment {holder['deployment_id']} ({holder['kind']} asked by "
        f"{holder['requested_by']}, {holder['state']}{where}) since {since}"
    )


def take(db: sqlite3.Connection, deployment_id: str, hostnames: list[str], now: float) -> None:
    """Lock HOSTNAMES for DEPLOYMENT_ID, or raise HostBusy naming every holder (and lock none)."""
    held = holders(db, hostnames)
    if held:
        lines = "; ".join(describe_holder(holder) for holder in held)
        raise HostBusy(f"{lines}: wait for it, cancel it, or, if it is stuck, an admin can 'jarvis unlock HOST'")
    db.executemany(
        "INSERT INTO host_locks (hostname, deployment_id, since) VALUES (?, ?, ?)",
        [(hostname, deployment_id, now) for hostname in hostnames],
    )


def release(db: sqlite3.Connection, deployment_id: str, hostname: str | None = None) -> None:
    """Release DEPLOYMENT_ID's locks: one host's, or (no HOSTNAME) all of them."""
    if hostname is None:
        db.execute("DELETE FROM host_locks WHERE deployment_id = ?", (deployment_id,))
    else:
        db.execute("DELETE FROM host_locks WHERE deployment_id = ? AND hostname = ?", (deployment_id, hostname))


def release_by_hand(
    db: sqlite3.Connection, hostname: str, unlocked_by: str, now: float, deployment_id: str | None = None
) -> dict[str, Any] | None:
    """Release HOSTNAME's lock (held by DEPLOYMENT_ID, if given) and record who did; the holder as it was, or
    None if nothing (or another deployment) holds it."""
    held = holders(db, [hostname])
    if not held or deployment_id not in (None, held[0]["deployment_id"]):
        return None
    db.execute("DELETE FROM host_locks WHERE hostname = ?", (hostname,))
    db.execute(
        "INSERT INTO unlocks (hostname, deployment_id, unlocked_by, at) VALUES (?, ?, ?, ?)",
        (hostname, held[0]["deployment_id"], unlocked_by, now),
    )
    return held[0]
