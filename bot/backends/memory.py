"""An in-memory backend: tests push messages as a person would and read what the bot answered.

It writes at once, so replies and announcements land in ``sent`` in the order they are sent; a
test sets ``online`` to False to play a dropped connection (announcements then are not written).
"""

from __future__ import annotations

import asyncio
import logging

from bot.backends.base import Backend, Identity, Message, MessageHandler, Place

log = logging.getLogger("jarvis.bot.memory")


class MemoryBackend(Backend):
    protocol = "test"

    def __init__(self, nick: str = "jarvis") -> None:
        self._nick = nick
        self.sent: list[tuple[Place, str]] = []
        self.dropped: list[tuple[Place, str]] = []  # private lines whose nick had passed to someone else
        self.holders: dict[str, str] = {}  # nick -> the identity that spoke under it last
        self.announced: list[tuple[Place, str]] = []  # what announce() wrote (also in sent)
        self.online = True
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()

    @property
    def nick(self) -> str:
        return self._nick

    @property
    def connected(self) -> bool:
        return self.online

    async def run(self, on_message: MessageHandler) -> None:
        while (message := await self._inbox.get()) is not None:
            await on_message(self, message)

    async def send(self, place: Place, text: str) -> None:
        self._write(place, text)

    async def announce(self, place: Place, text: str) -> bool:
        if not self.online:
            return False
        self.announced.extend(self._write(place, text))
        return True

    def _write(self, place: Place, text: str) -> list[tuple[Place, str]]:
        lines = [(place, line) for line in text.splitlines() or [""]]
        if place.private and place.identity and self.holders.get(place.target) != place.identity:
            log.warning("not sending to %s: the nick is not %s's now; dropped", place.target, place.identity)
            self.dropped.extend(lines)
            return []
        self.sent.extend(lines)
        return lines

    async def stop(self) -> None:
        await self._inbox.put(None)

    async def say(self, text: str, *, who: str = "alice!alice@ops.example.com", room: str | None = "#ops") -> None:
        """Deliver TEXT from WHO (an identity id) in ROOM, or privately when ROOM is None."""
        nick = who.split("!", 1)[0]
        self.holders[nick] = who
        place = Place(self.protocol, room or nick, private=room is None)
        await self._inbox.put(Message(place, Identity(self.protocol, who, nick), text))

    def lines(self, target: str | None = None) -> list[str]:
        return [text for place, text in self.sent if target is None or place.target == target]
