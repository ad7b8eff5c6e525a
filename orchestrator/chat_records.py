"""The status store's chat records: which chat places hear a deployment, and the approval requests of
chat's two-person rule for production hosts. The bot reaches them through the orchestrator's
``chat_records`` (typed as this class), not through the deployments' tables.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any


class ChatRecords:
    """Subscriptions and approvals; a part of :class:`orchestrator.store.DeploymentStore` (its tables and
    transactions)."""

    _db: sqlite3.Connection

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def subscribe(self, deployment_id: str, protocol: str, target: str, private: bool, identity: str = "") -> None:
        """Have the chat place (PROTOCOL, TARGET) hear this deployment's stages, from the start.

        A private place names IDENTITY, the one who asked there: its lines go to no one else (a nick
        can change hands).
        """
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO subscriptions (deployment_id, protocol, target, private, identity) "
                "VALUES (?, ?, ?, ?, ?)",
                (deployment_id, protocol, target, int(private), identity if private else ""),
            )

    def advance_subscription(self, deployment_id: str, protocol: str, target: str, seq: int, done: bool) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE subscriptions SET last_seq = ?, done = ? "
                "WHERE deployment_id = ? AND protocol = ? AND target = ?",
                (seq, int(done), deployment_id, protocol, target),
            )

    # -- approvals (chat's two-person rule for production hosts) ---------------------------

    def create_approval(
        self,
        *,
        kind: str,
        hosts: list[str],
        launch: dict[str, Any],
        requested_by: str,
        requester: dict[str, Any],
        minutes: float,
        now: float | None = None,
    ) -> str:
        """Record a pending approval request that expires after MINUTES; return its id (``r-1a2b3c``)."""
        now = time.time() if now is None else now
        while True:
            request_id = f"r-{secrets.token_hex(3)}"
            try:
                with self._transaction() as db:
                    db.execute(
                        "INSERT INTO approvals (id, kind, hosts_json, launch_json, requested_by, requester_json, "
                        "created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                        (
                            request_id,
                            kind,
                            json.dumps(hosts),
                            json.dumps(launch),
                            requested_by,
                            json.dumps(requester),
                            now,
                            now + minutes * 60,
                        ),
                    )
            except sqlite3.IntegrityError:  # the id is taken (one in 16 million): draw another
                continue
            return request_id

    def approval(self, request_id: str) -> dict[str, Any] | None:
        """An approval request's row, its JSON columns decoded (hosts, launch, requester), or None."""
        row = self._db.execute("SELECT * FROM approvals WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        record = dict(row)
        for column in ("hosts", "launch", "requester"):
            record[column] = json.loads(record.pop(f"{column}_json"))
        return record

    def claim_approval(self, request_id: str, approved_by: str, now: float | None = None) -> str:
        """Approve a pending request that has not expired, once: return its state after the attempt.

        "approved" means this call approved it (two approvers at once: only one gets it); a pending
        request past its time becomes "expired".
        """
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(
                "UPDATE approvals SET state = 'expired' WHERE id = ? AND state = 'pending' AND expires_at <= ?",
                (request_id, now),
            )
            claimed = db.execute(
                "UPDATE approvals SET state = 'approved', approved_by = ?, approved_at = ? "
                "WHERE id = ? AND state = 'pending'",
                (approved_by, now, request_id),
            ).rowcount
            row = db.execute("SELECT state FROM approvals WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return "missing"
        return "approved" if claimed else f"was {row['state']}"

    def expire_approval(self, request_id: str) -> None:
        """Close a pending request whose time is up."""
        with self._transaction() as db:
            db.execute("UPDATE approvals SET state = 'expired' WHERE id = ? AND state = 'pending'", (request_id,))

    def finish_approval(self, request_id: str, deployment_id: str | None, reason: str | None = None) -> None:
        """Note what an approved request started, or (no DEPLOYMENT_ID) why it could not start."""
        with self._transaction() as db:
            db.execute(
                "UPDATE approvals SET deployment_id = ?, reason = ?, state = ? WHERE id = ?",
                (deployment_id, reason, "approved" if deployment_id else "failed", request_id),
            )

    def open_subscriptions(self) -> list[dict[str, Any]]:
        """Chat places still waiting for the end of a deployment (kept across bot restarts)."""
        rows = self._db.execute("SELECT * FROM subscriptions WHERE done = 0 ORDER BY rowid").fetchall()
        return [dict(row) for row in rows]
