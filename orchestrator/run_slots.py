"""No more playbooks at once than this machine can run: deployments beyond that wait their turn, in order.

Each running playbook is an ansible-playbook process with a fork per host and task; past a few per core they
only slow each other down until SSH waits and provider polls time out. A deployment whose playbook runs on
this machine therefore starts only while fewer than ``parallel_runs`` (config) deployments run; until then it
stays ``pending`` (its hosts already locked, its lease renewed) and is *queued*: first recorded, first to
start, across every jarvis process sharing the status store. The functions run inside the store's
``BEGIN IMMEDIATE`` transactions, so two processes cannot both take the last slot.

A queued deployment of a process that died holds no slot: the reaper marks it interrupted like any other.
"""

from __future__ import annotations

import os
import sqlite3

# Deployments that hold a slot or wait for one: pending ones whose runner has claimed them (a worker or the
# recording process is about to run them), in the order they were recorded.
_WAITING = "state = 'pending' AND owner_json IS NOT NULL"


def default_parallel_runs() -> int:
    """Two playbooks per core: one waits on the network while the other computes."""
    return 2 * (os.cpu_count() or 1)


def take(db: sqlite3.Connection, deployment_id: str, limit: int) -> int:
    """Start DEPLOYMENT_ID (state ``running``) if a slot is free and no deployment queued before it waits: 0.

    Otherwise its place in the queue (1: it starts next), and nothing changes.
    """
    position = _position(db, deployment_id, limit)
    if position == 0:
        db.execute("UPDATE deployments SET state = 'running' WHERE id = ? AND state = 'pending'", (deployment_id,))
    return position


def position(db: sqlite3.Connection, deployment_id: str, limit: int) -> int:
    """DEPLOYMENT_ID's place in the queue (1: next), or 0 when it runs or would start now."""
    return _position(db, deployment_id, limit)


def _position(db: sqlite3.Connection, deployment_id: str, limit: int) -> int:
    row = db.execute("SELECT state, created_at, rowid FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
    if row is None or row[0] != "pending":
        return 0
    running = db.execute("SELECT COUNT(*) FROM deployments WHERE state = 'running'").fetchone()[0]
    ahead = db.execute(
        f"SELECT COUNT(*) FROM deployments WHERE {_WAITING} AND (created_at < ? OR (created_at = ? AND rowid < ?))",
        (row[1], row[1], row[2]),
    ).fetchone()[0]
    free = max(0, limit - running)
    return 0 if ahead < free else ahead - free + 1
