"""Private to sandbox.linode: the account's events, as Linode records what happens to a Linode."""

from __future__ import annotations

import copy
import itertools
import random
import threading
import time

from sandbox.linode._answers import Json
from sandbox.linode._model import Linode, now
from sandbox.linode._shapes import API_PREFIX


class EventLog:
    """Events in the order they happened; LOCK is the one guarding the emulator's state."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._events: list[Json] = []
        self._ids = itertools.count(random.randint(700_000_000, 900_000_000))

    def record(self, action: str, linode: Linode, status: str) -> Json:
        """A new event ACTION of LINODE, STATUS started (finished later) or notification (done at once)."""
        event = {
            "id": next(self._ids),
            "action": action,
            "created": now(),
            "duration": 0.0,
            "entity": {
                "id": linode.id,
                "label": linode.label,
                "type": "linode",
                "url": f"{API_PREFIX}/linode/instances/{linode.id}",
            },
            "message": None,
            "percent_complete": 100 if status in ("finished", "notification") else 0,
            "read": False,
            "seen": False,
            "status": status,
            "time_remaining": None,
            "username": "jarvis-sandbox",
        }
        with self._lock:
            self._events.append(event)
        return event

    def finish(self, event: Json, ok: bool, started: float) -> None:
        """EVENT ended, well or not, after starting at STARTED (time.monotonic())."""
        with self._lock:
            event.update(
                status="finished" if ok else "failed",
                percent_complete=100 if ok else event["percent_complete"],
                duration=round(time.monotonic() - started, 3),
            )

    def newest_first(self) -> list[Json]:
        """A copy of every event, newest first, as Linode lists them."""
        with self._lock:
            return copy.deepcopy(self._events[::-1])

    def find(self, event_id: str) -> Json | None:
        """A copy of the event whose id is EVENT_ID (as the path gives it)."""
        with self._lock:
            found = next((event for event in self._events if str(event["id"]) == event_id), None)
            return copy.deepcopy(found)
