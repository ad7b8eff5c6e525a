"""The status store's tables, the columns added since the first release, and its files' privacy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- deploy | plan
    source TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,             -- pending | running | successful | failed | canceled | interrupted
    created_at REAL NOT NULL,
    ended_at REAL,
    hosts_json TEXT NOT NULL DEFAULT '[]',   -- the design's canonical hosts, for a worker process
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    options_json TEXT NOT NULL DEFAULT '{}',  -- e.g. {"force": true} for a confirmed redeploy
    design_text TEXT,                -- the design it ran, as fetched (NULL: recorded before designs were pinned)
    design_digest TEXT,              -- SHA-256 of design_text, hex
    design_source TEXT,              -- where design_text came from, resolved (URL after redirects, cn=, path)
    owner_json TEXT,                 -- the lease: the process that runs it (orchestrator.leases.Owner)
    heartbeat_at REAL                -- when the owner last renewed the lease
);
CREATE TABLE IF NOT EXISTS hosts (
    deployment_id TEXT NOT NULL REFERENCES deployments(id),
    hostname TEXT NOT NULL,
    fqdn TEXT NOT NULL,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,             -- pending | running | failed | ready | canceled | planned | interrupted
    stage TEXT,                      -- the stage in progress, or where it failed
    reason TEXT,
    started_at REAL,
    ended_at REAL,
    facts TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (deployment_id, hostname)
);
CREATE INDEX IF NOT EXISTS hosts_by_name ON hosts (hostname);
CREATE TABLE IF NOT EXISTS stages (
    deployment_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    position INTEGER NOT NULL,
    stage TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,             -- pending | running | ok | changed | failed | skipped | not_run | interrupted
    started_at REAL,
    ended_at REAL,
    detail TEXT,
    actions TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (deployment_id, hostname, stage)
);
CREATE TABLE IF NOT EXISTS subscriptions (  -- who in chat hears about a deployment, and how far
    deployment_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    target TEXT NOT NULL,
    private INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    identity TEXT NOT NULL DEFAULT '',  -- a private place: who asked (IRC mask, XMPP JID); only they hear it
    PRIMARY KEY (deployment_id, protocol, target)
);
CREATE TABLE IF NOT EXISTS approvals (  -- chat's two-person rule: a change to a production host waits here
    id TEXT PRIMARY KEY,             -- r-1a2b3c: the second person says "approve r-1a2b3c"
    kind TEXT NOT NULL,              -- deploy | redeploy | destroy | resume
    hosts_json TEXT NOT NULL,        -- the production hosts it would touch
    launch_json TEXT NOT NULL,       -- what to launch once approved (the design and options; a resume's host)
    requested_by TEXT NOT NULL,      -- as deployments.requested_by: "nick (protocol id)"
    requester_json TEXT NOT NULL,    -- the asker's identity (protocol, id, nick, account) and place
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    state TEXT NOT NULL,             -- pending | approved | expired | failed (approved, but could not start)
    approved_by TEXT,                -- as requested_by
    approved_at REAL,
    deployment_id TEXT,              -- what the approval started
    reason TEXT                      -- why it could not start
);
CREATE TABLE IF NOT EXISTS host_cancels (  -- one host of a running deployment asked to stop at its next stage
    deployment_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    requested_at REAL NOT NULL,
    PRIMARY KEY (deployment_id, hostname)
);
CREATE TABLE IF NOT EXISTS events (
    deployment_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    hostname TEXT,
    stage TEXT,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);
"""


# Columns added after the first release: (name, definition), oldest first; of deployments, of subscriptions.
MIGRATIONS = (
    ("hosts_json", "TEXT NOT NULL DEFAULT '[]'"),
    ("cancel_requested", "INTEGER NOT NULL DEFAULT 0"),
    ("options_json", "TEXT NOT NULL DEFAULT '{}'"),
    ("design_text", "TEXT"),
    ("design_digest", "TEXT"),
    ("design_source", "TEXT"),
    ("owner_json", "TEXT"),
    ("heartbeat_at", "REAL"),
)
SUBSCRIPTION_MIGRATIONS = (("identity", "TEXT NOT NULL DEFAULT ''"),)


# SQLite's companions of the store file (WAL mode; a rollback journal while switching to it). SQLite
# creates them with the store file's own mode.
STORE_SUFFIXES = ("-wal", "-shm", "-journal")
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


def create_private(path: Path) -> None:
    """Make the store file (mode 0600) and its directory (0700) if missing, whatever the umask.

    The file is created here, empty, because SQLite would create it 0644 less the umask. An existing
    file is never opened here: closing any descriptor of it would drop this process's SQLite locks.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(path.parent, PRIVATE_DIR)  # mkdir's mode is lessened by the umask, never widened
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE))
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_FILE)


def keep_private(path: Path) -> None:
    """Tighten a store file of ours that others could read (made by an older jarvis, or under another umask)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_uid == os.geteuid() and stat.S_IMODE(status.st_mode) != PRIVATE_FILE:
        os.chmod(path, PRIVATE_FILE)
