"""The interface every chat backend implements, and the pieces they share (backoff, rate limit).

The command core sees only :class:`Message`, :class:`Identity` and :class:`Place`; a backend turns
its protocol's events into those and sends text back to a place. Backends reconnect by themselves
(exponential backoff with jitter), rejoin their channels or rooms, and rate-limit what they send.

What a backend sends comes in two kinds: a reply to a person (:meth:`Backend.send`), which waits
for a connection if need be and goes before everything else, and an announcement
(:meth:`Backend.announce`), which goes out only on a live connection and tells whether it did,
so the announcer can record it as sent only once it was.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """Who sent a message, as the protocol vouches for it.

    ``id`` is what access control matches: on IRC the full ``nick!user@host`` mask (a nick alone
    is not an identity), on XMPP the bare JID (in a room: the occupant's real JID, when the room
    shows it; else no identity at all: ``id`` is empty).
    """

    protocol: str
    id: str
    nick: str
    account: str | None = None  # an IRC services account, when the server reports one


@dataclass(frozen=True)
class Place:
    """Where a message came from, and so where the answer goes.

    A private place that names an ``identity`` (an :attr:`Identity.id`) is that identity's
    conversation: a backend sends there only while the target still belongs to it (an IRC nick or
    a room nick can pass to someone else) and otherwise drops the line, with a log line.
    """

    protocol: str
    target: str  # IRC: "#channel" or the sender's nick; XMPP: the room's JID or the sender's bare JID
    private: bool
    identity: str = ""


@dataclass(frozen=True)
class Message:
    place: Place
    sender: Identity
    text: str


MessageHandler = Callable[["Backend", Message], Awaitable[None]]


class Backend(ABC):
    """One connection to one chat network."""

    protocol: str = ""
    line_bytes: int = 400  # the longest message (UTF-8 bytes) the announcer packs merged announcements into
    line_separator: str = " | "  # what joins announcements merged into one message

    @property
    @abstractmethod
    def nick(self) -> str:
        """The bot's own name on this network, which people address it by (``jarvis: status``)."""

    @abstractmethod
    async def run(self, on_message: MessageHandler) -> None:
        """Connect, join, deliver every message from others to ON_MESSAGE; reconnect until stopped."""

    @abstractmethod
    async def send(self, place: Place, text: str) -> None:
        """Reply TEXT to PLACE: ahead of any announcement, rate-limited; while connected, return once written.

        Never raises because the network is down: it queues (a bounded number of lines) for the next
        connection. To a private place with an identity, only while the identity holds it (see :class:`Place`).
        """

    @abstractmethod
    async def announce(self, place: Place, text: str) -> bool:
        """Write TEXT to PLACE on the live connection, behind replies; True once written, False if not.

        False (at once while disconnected, or when the connection ends first) means the text is still
        owed: nothing keeps it for later. A text dropped on purpose (a private place whose identity
        no longer holds it, characters the protocol cannot carry) counts as written, with a log line.
        """

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect and make ``run`` return."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether the backend is connected and has joined its channels or rooms."""


class Backoff:
    """Exponential backoff with full jitter, for reconnecting: 0.5 s, 1 s, 2 s … up to a cap."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay)


class RateLimiter:
    """A token bucket: BURST messages at once, then one every INTERVAL seconds."""

    def __init__(self, interval: float = 0.5, burst: int = 5) -> None:
        self.interval = interval
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) / self.interval)
            self._last = now
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) * self.interval)
                self._tokens = 1
                self._last = time.monotonic()
            self._tokens -= 1
