"""The outgoing messages of one chat backend: replies to people first, then announcements, at the rate limit.

Two lanes, one writer. A reply (what the command core answers) waits in its lane while the bot is
away, up to ``max_replies`` messages (then the oldest goes, with a log line). An announcement is
taken only while a connection is being written and its future says whether it was written: the
announcer records a line as sent only then, so announcements never wait here for a connection and
none is ever dropped for lack of room (what is owed stays in the status store). Whenever a message
is to be written, a waiting reply goes before every waiting announcement.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.backends.base import Place, RateLimiter

__all__ = ["Outbox", "Outgoing", "until_drained"]

log = logging.getLogger("jarvis.bot.outbox")


@dataclass(eq=False)
class Outgoing:
    """One message on the wire (an IRC line, an XMPP message) for PLACE; a text may take several."""

    place: Place
    text: str
    announcement: bool = False
    done: asyncio.Future[bool] | None = None  # shared by the pieces of one text; True: all written
    last: bool = True  # the text's last piece: written, the whole text is

    def settle(self, written: bool) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(written)


Write = Callable[[Outgoing], Awaitable[None]]


class Outbox:
    """What a backend has to send; :meth:`drain` writes it while a connection is up.

    WRITE (given to :meth:`drain`) puts one message on the live connection and returns once it is
    written (or dropped on purpose, with a log line); it raises :class:`ConnectionError` when the
    connection is gone before the message could be written.
    """

    def __init__(self, rate_limit: RateLimiter, max_replies: int = 200) -> None:
        self._rate_limit = rate_limit
        self._max_replies = max_replies
        self._replies: deque[Outgoing] = deque()
        self._announcements: deque[Outgoing] = deque()
        self._changed = asyncio.Event()
        self._open = False
        self._drains = 0  # counts drain() calls: one that ends late does not close its successor's connection

    @property
    def open(self) -> bool:
        """Whether a connection is being written, so an announcement can go out now."""
        return self._open

    @property
    def pending(self) -> tuple[int, int]:
        """Messages waiting: (replies, announcements)."""
        return len(self._replies), len(self._announcements)

    def reply(self, place: Place, pieces: list[str]) -> asyncio.Future[bool]:
        """Queue the PIECES of one reply; the future is done once they are written or this connection ends."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        for index, piece in enumerate(pieces):
            if len(self._replies) >= self._max_replies:
                dropped = self._replies.popleft()
                dropped.settle(False)
                target = dropped.place.target
                log.warning("reply queue full (%d): dropped the oldest reply line, to %s", self._max_replies, target)
            self._replies.append(Outgoing(place, piece, False, done, index == len(pieces) - 1))
        self._changed.set()
        return done

    def announce(self, place: Place, pieces: list[str]) -> asyncio.Future[bool]:
        """Queue the PIECES of one announcement behind the replies; the future says whether all were written.

        With no connection being written it is False at once: nothing waits here for one.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not self._open:
            done.set_result(False)
            return done
        for index, piece in enumerate(pieces):
            self._announcements.append(Outgoing(place, piece, True, done, index == len(pieces) - 1))
        self._changed.set()
        return done

    async def drain(self, write: Write) -> None:
        """Write what waits, replies first, at the rate limit, until cancelled or the connection is gone.

        When it ends, every announcement not written is settled False; replies stay for the next connection.
        """
        self._drains += 1
        mine = self._drains
        self._open = True
        try:
            while True:
                while not (self._replies or self._announcements):
                    self._changed.clear()
                    await self._changed.wait()
                await self._rate_limit.wait()
                item = self._take()
                if item is None:
                    continue
                try:
                    await write(item)
                except (ConnectionError, asyncio.CancelledError):
                    (self._announcements if item.announcement else self._replies).appendleft(item)
                    raise
                except Exception:
                    log.exception("cannot write a line to %s: it is not sent", item.place.target)
                    item.settle(False)
                    continue
                if item.last:
                    item.settle(True)
        except ConnectionError:
            log.info("connection gone; %d reply lines wait for the next one", len(self._replies))
        finally:
            if mine == self._drains:
                self.close()

    def close(self) -> None:
        """The connection is over: announcements not written are settled False; replies wait for the next one.

        :meth:`drain` does it when it ends; a backend calls it too, for a drainer cancelled before it ran.
        """
        self._open = False
        while self._announcements:
            self._announcements.popleft().settle(False)
        for item in self._replies:
            item.settle(False)  # whoever waits for it goes on; the line itself waits

    def _take(self) -> Outgoing | None:
        """The next message to write: a reply if one waits, else the next piece of a live announcement."""
        if self._replies:
            return self._replies.popleft()
        while self._announcements:
            item = self._announcements.popleft()
            if item.done is None or not item.done.done():  # done already: an earlier piece was not written
                return item
        return None


async def until_drained(transport: asyncio.BaseTransport | None, gone: Callable[[], bool], poll: float = 0.01) -> None:
    """Return once TRANSPORT's write buffer is empty (all handed to the kernel); ConnectionError if it is GONE first.

    A transport that closes clears its buffer: once it closes, nothing still waiting counts as written.
    """
    while True:
        if transport is None or transport.is_closing() or gone():
            raise ConnectionError("the connection ended before the line was written")
        if not isinstance(transport, asyncio.WriteTransport) or transport.get_write_buffer_size() == 0:
            return
        await asyncio.sleep(poll)
