"""An in-memory backend: tests push messages as a person would and read what the bot answered."""

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
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._running = False

    @property
    def nick(self) -> str:
        return self._nick

    @property
    def connected(self) -> bool:
        return self._running

    async def run(self, on_message: MessageHandler) -> None:
        self._running = True
        while (message := await self._inbox.get()) is not None:
            await on_message(self, message)
        self._running = False

    async def send(self, place: Place, text: str) -> None:
        lines = [(place, line) for line in text.splitlines() or [""]]
        if place.private and place.identity and self.holders.get(place.target) != place.identity:
            log.warning("not sending to %s: the nick is not %s's now; dropped", place.target, place.identity)
            self.dropped.extend(lines)
            return
        self.sent.extend(lines)

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
