"""The status store: deployments, their hosts' stages and events, in SQLite.

Several processes use it at once (the deploying CLI or bot writes; ``jarvis status`` reads from
anywhere, also after a restart), so it runs in WAL mode and every write is one short transaction.
Nothing secret is ever written here: callers pass text through their redactor first. Its files are
still private to jarvis's user (0600, in a 0700 directory), whatever the umask.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator import locks, run_slots
from orchestrator.chat_records import ChatRecords
from orchestrator.leases import Owner
from orchestrator.records import HostStatus, StageStatus, StoredDesign, host_status_of, stored_design_of
from orchestrator.stages import Stage
from orchestrator.store_schema import (
    MIGRATIONS,
    SCHEMA,
    STORE_SUFFIXES,
    SUBSCRIPTION_MIGRATIONS,
    create_private,
    keep_private,
)

__all__ = ["BUILD_KINDS", "ENDED_STATES", "DeploymentStore", "HostStatus", "StageStatus", "StoredDesign"]

ENDED_STATES = ("successful", "failed", "canceled", "interrupted")

# Kinds of deployment that build hosts (a redeploy, a resume of either, a per-host pick of either).
BUILD_KINDS = ("deploy", "redeploy")


class DeploymentStore(ChatRecords):
    """All reads and writes of the status store."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        on_disk = str(path) != ":memory:"
        if on_disk:
            create_private(self.path)
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(SCHEMA + locks.SCHEMA)
        self._migrate()
        if on_disk:
            for companion in (self.path, *(self.path.with_name(self.path.name + s) for s in STORE_SUFFIXES)):
                keep_private(companion)

    def _migrate(self) -> None:
        """Bring a store made by an older jarvis up to this schema (columns added since)."""
        for table, migrations in (("deployments", MIGRATIONS), ("subscriptions", SUBSCRIPTION_MIGRATIONS)):
            columns = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for column, definition in migrations:
                if column not in columns:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # One connection, several threads (the runner's, the heartbeat's, the bot's reaper): one transaction
        # at a time on it, or a BEGIN inside another thread's transaction fails.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writes ---------------------------------------------------------------------------

    def create_deployment(
        self,
        hosts: list[dict[str, Any]],
        stages: list[Stage],
        *,
        source: str,
        requested_by: str,
        kind: str = "deploy",
        options: dict[str, Any] | None = None,
        design_text: str | None = None,
        design_digest: str | None = None,
        design_source: str | None = None,
        owner: Owner | None = None,
    ) -> str:
        """Record a new deployment with every host's stages pending; return its id.

        DESIGN_TEXT, _DIGEST and _SOURCE pin the design it runs (see :class:`orchestrator.design.Design`).
        OWNER holds its lease until a worker claims it. Unless it is a plan, its hosts are locked in the
        same transaction: if another run holds one, nothing is recorded and :class:`locks.HostBusy` says who.
        """
        deployment_id = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]
        now = time.time()
        with self._transaction() as db:
            if kind != "plan":
                locks.take(db, deployment_id, [host["hostname"] for host in hosts], now)
            db.execute(
                "INSERT INTO deployments (id, kind, source, requested_by, state, created_at, hosts_json, options_json, "
                "design_text, design_digest, design_source, owner_json, heartbeat_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    deployment_id,
                    kind,
                    source,
                    requested_by,
                    now,
                    json.dumps(hosts),
                    json.dumps(options or {}),
                    design_text,
                    design_digest,
                    design_source,
                    json.dumps(owner.as_dict()) if owner else None,
                    now,
                ),
            )
            for host in hosts:
                db.execute(
                    "INSERT INTO hosts (deployment_id, hostname, fqdn, provider, state) VALUES (?, ?, ?, ?, 'pending')",
                    (deployment_id, host["hostname"], host["fqdn"], host["provider"]),
                )
                db.executemany(
                    "INSERT INTO stages (deployment_id, hostname, position, stage, title, state) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            deployment_id,
                            host["hostname"],
                            position,
                            stage.id,
                            stage.title,
                            "pending",
                        )
                        for position, stage in enumerate(stages)
                    ],
                )
        return deployment_id

    def set_deployment_state(self, deployment_id: str, state: str) -> None:
        """Move the deployment on (an interrupted one stays so); an ended one releases its hosts."""
        ended = time.time() if state in ENDED_STATES else None
        with self._transaction() as db:
            db.execute(
                "UPDATE deployments SET state = ?, ended_at = COALESCE(?, ended_at) "
                "WHERE id = ? AND state != 'interrupted'",
                (state, ended, deployment_id),
            )
            if ended is not None:
                locks.release(db, deployment_id)

    def take_run_slot(self, deployment_id: str, limit: int) -> int:
        """Start DEPLOYMENT_ID if one of LIMIT run slots is free and it is next in the queue: 0; else its place."""
        with self._transaction() as db:
            return run_slots.take(db, deployment_id, limit)

    def queue_position(self, deployment_id: str, limit: int) -> int:
        """DEPLOYMENT_ID's place in the queue for a run slot (1: next), or 0 (see orchestrator.run_slots)."""
        return run_slots.position(self._db, deployment_id, limit)

    # -- leases: who runs a deployment (see orchestrator.leases and orchestrator.reaper) ----------

    def claim(self, deployment_id: str, owner: Owner) -> bool:
        """Make OWNER the process that runs DEPLOYMENT_ID (a worker taking over from who recorded it); False if
        it is not pending or running any more (interrupted meanwhile): then it must not run."""
        with self._transaction() as db:
            claimed = db.execute(
                "UPDATE deployments SET owner_json = ?, heartbeat_at = ? "
                "WHERE id = ? AND state IN ('pending', 'running')",
                (json.dumps(owner.as_dict()), time.time(), deployment_id),
            ).rowcount
        return claimed == 1

    def heartbeat(self, owner: Owner) -> int:
        """Renew the lease of every deployment OWNER still runs; return how many."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE deployments SET heartbeat_at = ? WHERE owner_json = ? AND state IN ('pending', 'running')",
                (time.time(), json.dumps(owner.as_dict())),
            ).rowcount

    def leases(self) -> list[tuple[str, Owner | None, float | None]]:
        """The deployments that are pending or running: (id, owner, last heartbeat)."""
        rows = self._db.execute(
            "SELECT id, owner_json, heartbeat_at FROM deployments WHERE state IN ('pending', 'running')"
        ).fetchall()
        return [
            (
                row["id"],
                Owner.from_dict(json.loads(row["owner_json"])) if row["owner_json"] else None,
                row["heartbeat_at"],
            )
            for row in rows
        ]

    def interrupt(
        self,
        deployment_id: str,
        reason: str,
        hostname: str | None = None,
        *,
        judged: tuple[Owner | None, float | None] | None = None,
    ) -> list[tuple[str, str | None]]:
        """Mark a pending or running deployment ``interrupted`` because REASON (its owner is gone): the hosts
        still going, each at the stage it was in, with an event chat announces; its locks are released.
        Return those hosts and their stages; nothing if it was not running any more (another process saw it
        first). With HOSTNAME, that host alone (an unlock of one host of a run whose others go on). JUDGED, the
        owner and heartbeat a reaper found lost: if either changed since (a worker claimed it), nothing is done."""
        now = time.time()
        with self._transaction() as db:
            if judged is not None:
                row = db.execute(
                    "SELECT owner_json, heartbeat_at FROM deployments WHERE id = ?", (deployment_id,)
                ).fetchone()
                owner, heartbeat_at = judged
                expected = (json.dumps(owner.as_dict()) if owner else None, heartbeat_at)
                if row is None or (row["owner_json"], row["heartbeat_at"]) != expected:
                    return []
            if hostname is None:
                changed = db.execute(
                    "UPDATE deployments SET state = 'interrupted', ended_at = ? "
                    "WHERE id = ? AND state IN ('pending', 'running')",
                    (now, deployment_id),
                ).rowcount
                if not changed:
                    return []
            rows = db.execute(
                "SELECT hostname, stage FROM hosts WHERE deployment_id = ? AND state IN ('pending', 'running') "
                "AND (? IS NULL OR hostname = ?) ORDER BY rowid",
                (deployment_id, hostname, hostname),
            ).fetchall()
            hosts = [(row["hostname"], row["stage"]) for row in rows]
            for name, stage in hosts:
                db.execute(
                    "UPDATE hosts SET state = 'interrupted', reason = ?, ended_at = ? "
                    "WHERE deployment_id = ? AND hostname = ?",
                    (reason, now, deployment_id, name),
                )
                db.execute(
                    "UPDATE stages SET state = CASE state WHEN 'running' THEN 'interrupted' ELSE 'not_run' END, "
                    "ended_at = CASE state WHEN 'running' THEN ? ELSE ended_at END "
                    "WHERE deployment_id = ? AND hostname = ? AND state IN ('pending', 'running')",
                    (now, deployment_id, name),
                )
                self._insert_event(db, deployment_id, "interrupted", reason, name, stage)
            locks.release(db, deployment_id, hostname)
        return hosts

    # -- host locks (orchestrator.locks) ---------------------------------------------------------

    def lock_holders(self, hostnames: list[str]) -> list[dict[str, Any]]:
        return locks.holders(self._db, hostnames)

    def unlock(self, hostname: str, unlocked_by: str, deployment_id: str | None = None) -> dict[str, Any] | None:
        """Release HOSTNAME's lock by hand (``jarvis unlock``; if DEPLOYMENT_ID holds it) and record who did;
        what held it, or None."""
        with self._transaction() as db:
            return locks.release_by_hand(db, hostname, unlocked_by, time.time(), deployment_id)

    def start_stage(self, deployment_id: str, hostname: str, stage: str, at: float | None = None) -> None:
        at = at or time.time()
        with self._transaction() as db:
            if _interrupted(db, deployment_id, hostname):
                return
            db.execute(
                "UPDATE stages SET state = 'running', started_at = ? "
                "WHERE deployment_id = ? AND hostname = ? AND stage = ?",
                (at, deployment_id, hostname, stage),
            )
            db.execute(
                "UPDATE hosts SET state = 'running', stage = ?, started_at = COALESCE(started_at, ?) "
                "WHERE deployment_id = ? AND hostname = ?",
                (stage, at, deployment_id, hostname),
            )

    def end_stage(
        self,
        deployment_id: str,
        hostname: str,
        stage: str,
        state: str,
        detail: str | None = None,
        actions: list[str] | None = None,
        at: float | None = None,
    ) -> None:
        """Close a stage as ok, changed, failed, skipped or not_run; a failure fails the host."""
        at = at or time.time()
        with self._transaction() as db:
            if _interrupted(db, deployment_id, hostname):
                return
            db.execute(
                "UPDATE stages SET state = ?, ended_at = ?, started_at = COALESCE(started_at, ?), detail = ?, "
                "actions = ? WHERE deployment_id = ? AND hostname = ? AND stage = ?",
                (state, at, at, detail, json.dumps(actions or []), deployment_id, hostname, stage),
            )
            if state == "failed":
                db.execute(
                    "UPDATE hosts SET state = 'failed', stage = ?, reason = ?, ended_at = ? "
                    "WHERE deployment_id = ? AND hostname = ?",
                    (stage, detail, at, deployment_id, hostname),
                )

    def finish_host(
        self,
        deployment_id: str,
        hostname: str,
        state: str,
        reason: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Set a host's final state; stages still pending become not_run."""
        now = time.time()
        with self._transaction() as db:
            if _interrupted(db, deployment_id, hostname):
                return
            db.execute(
                "UPDATE hosts SET state = ?, reason = COALESCE(?, reason), stage = COALESCE(?, stage), "
                "ended_at = COALESCE(ended_at, ?) WHERE deployment_id = ? AND hostname = ?",
                (state, reason, stage, now, deployment_id, hostname),
            )
            db.execute(
                "UPDATE stages SET state = 'not_run' WHERE deployment_id = ? AND hostname = ? "
                "AND state IN ('pending', 'running')",
                (deployment_id, hostname),
            )
            locks.release(db, deployment_id, hostname)

    def merge_facts(self, deployment_id: str, hostname: str, facts: dict[str, Any]) -> None:
        with self._transaction() as db:
            if _interrupted(db, deployment_id, hostname):
                return
            row = db.execute(
                "SELECT facts FROM hosts WHERE deployment_id = ? AND hostname = ?", (deployment_id, hostname)
            ).fetchone()
            merged = {**json.loads(row["facts"] if row else "{}"), **facts}
            db.execute(
                "UPDATE hosts SET facts = ? WHERE deployment_id = ? AND hostname = ?",
                (json.dumps(merged), deployment_id, hostname),
            )

    def add_event(
        self, deployment_id: str, kind: str, text: str, hostname: str | None = None, stage: str | None = None
    ) -> None:
        with self._transaction() as db:
            if not _interrupted(db, deployment_id, hostname):
                self._insert_event(db, deployment_id, kind, text, hostname, stage)

    @staticmethod
    def _insert_event(
        db: sqlite3.Connection, deployment_id: str, kind: str, text: str, hostname: str | None, stage: str | None
    ) -> None:
        seq = db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE deployment_id = ?", (deployment_id,)
        ).fetchone()[0]
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
            (deployment_id, seq, time.time(), hostname, stage, kind, text),
        )

    def request_cancel(self, deployment_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deployments SET cancel_requested = 1 WHERE id = ?", (deployment_id,))

    def request_host_cancel(self, deployment_id: str, hostname: str) -> None:
        """Ask one host of a running deployment to stop at its next stage boundary (the others go on)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO host_cancels (deployment_id, hostname, requested_at) VALUES (?, ?, ?)",
                (deployment_id, hostname, time.time()),
            )

    # -- reads ----------------------------------------------------------------------------

    def deployment(self, deployment_id: str) -> dict[str, Any] | None:
        """The deployment's own row (kind, source, state, hosts, cancel flag), or None."""
        row = self._db.execute("SELECT * FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
        if row is None:
            return None
        record = dict(row)
        record["hosts"] = json.loads(record.pop("hosts_json"))
        record["options"] = json.loads(record.pop("options_json"))
        owner = record.pop("owner_json")
        record["owner"] = Owner.from_dict(json.loads(owner)) if owner else None
        return record

    def cancel_requested(self, deployment_id: str) -> bool:
        """Whether someone asked to cancel DEPLOYMENT_ID, or it was interrupted (unlocked by hand, or judged lost
        by a reaper elsewhere) while its owner still runs it: either way, its playbook must stop."""
        row = self._db.execute(
            "SELECT cancel_requested, state FROM deployments WHERE id = ?", (deployment_id,)
        ).fetchone()
        return bool(row and (row[0] or row[1] == "interrupted"))

    def host_cancels(self, deployment_id: str) -> set[str]:
        """The hosts of DEPLOYMENT_ID asked to stop alone (see request_host_cancel)."""
        rows = self._db.execute("SELECT hostname FROM host_cancels WHERE deployment_id = ?", (deployment_id,))
        return {row[0] for row in rows}

    def stored_design(self, deployment_id: str) -> StoredDesign | None:
        """The design DEPLOYMENT_ID recorded, with the hosts it acted on."""
        row = self._db.execute("SELECT * FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
        return stored_design_of(row) if row else None

    def last_build(self, hostname: str) -> StoredDesign | None:
        """The latest deployment that built HOSTNAME (a deploy or redeploy, resumes included; never a plan
        or a destroy), which holds the host's canonical form as it was deployed."""
        row = self._db.execute(
            "SELECT d.* FROM deployments d JOIN hosts h ON h.deployment_id = d.id "
            f"WHERE h.hostname = ? AND d.kind IN {BUILD_KINDS} ORDER BY d.created_at DESC, d.rowid DESC LIMIT 1",
            (hostname,),
        ).fetchone()
        return stored_design_of(row) if row else None

    def last_build_of_source(self, sources: list[str]) -> StoredDesign | None:
        """The latest build of a whole design from any of SOURCES (as given or resolved); per-host picks
        (``options.scope == "host"``: ``redeploy X``) are not the cluster, so they are passed over."""
        marks = ", ".join("?" * len(sources))
        rows = self._db.execute(
            f"SELECT * FROM deployments WHERE kind IN {BUILD_KINDS} "  # noqa: S608 - placeholders only
            f"AND (source IN ({marks}) OR design_source IN ({marks})) ORDER BY created_at DESC, rowid DESC",
            (*sources, *sources),
        )
        for row in rows:
            stored = stored_design_of(row)
            if stored.options.get("scope") != "host" and "resume_of" not in stored.options:
                return stored
        return None

    def host_status(self, hostname: str, deployment_id: str | None = None) -> HostStatus | None:
        """The host in the given deployment, or in its latest real (not plan) deployment."""
        if deployment_id:
            hosts = self._select_hosts("h.hostname = ? AND d.id = ?", (hostname, deployment_id))
        else:
            hosts = self._select_hosts(
                "h.hostname = ? AND d.kind != 'plan'", (hostname,), order="d.created_at DESC LIMIT 1"
            )
        return hosts[0] if hosts else None

    def deployment_hosts(self, deployment_id: str) -> list[HostStatus]:
        return self._select_hosts("d.id = ?", (deployment_id,))

    def active_hosts(self) -> list[HostStatus]:
        """Every host whose deployment is still pending or running."""
        return self._select_hosts("d.state IN ('pending', 'running') AND d.kind != 'plan'", ())

    def _select_hosts(
        self, where: str, params: tuple[str, ...], order: str = "d.created_at, h.rowid"
    ) -> list[HostStatus]:
        rows = self._db.execute(
            "SELECT h.*, d.kind, d.source, d.requested_by, d.design_digest, d.design_source "
            "FROM hosts h JOIN deployments d ON d.id = h.deployment_id "
            f"WHERE {where} ORDER BY {order}",  # noqa: S608 - where/order are this class's constants
            params,
        ).fetchall()
        return [self._host_status(row) for row in rows]

    def events(self, deployment_id: str, after: int = 0) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM events WHERE deployment_id = ? AND seq > ? ORDER BY seq", (deployment_id, after)
        ).fetchall()
        return [dict(row) for row in rows]

    def _host_status(self, row: sqlite3.Row) -> HostStatus:
        stage_rows = self._db.execute(
            "SELECT * FROM stages WHERE deployment_id = ? AND hostname = ? ORDER BY position",
            (row["deployment_id"], row["hostname"]),
        ).fetchall()
        return host_status_of(row, stage_rows)


def _interrupted(db: sqlite3.Connection, deployment_id: str, hostname: str | None) -> bool:
    """Whether DEPLOYMENT_ID (or its HOSTNAME) was marked interrupted: then what its old owner still writes
    about it is ignored (the state a reaper or an unlock left is final; a resume carries on in a deployment
    of its own)."""
    row = db.execute(
        "SELECT d.state, h.state AS host_state FROM deployments d "
        "LEFT JOIN hosts h ON h.deployment_id = d.id AND h.hostname = ? WHERE d.id = ?",
        (hostname, deployment_id),
    ).fetchone()
    return row is not None and "interrupted" in (row["state"], row["host_state"])
