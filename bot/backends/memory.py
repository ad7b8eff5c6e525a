"""An in-memory backend: tests push messages as a person would and read what the bot answered."""

from __future__ import annotations

import asyncio

from bot.backends.base import Backend, Identity, Message, MessageHandler, Place


class MemoryBackend(Backend):
    protocol = "test"

    def __init__(self, nick: str = "jarvis") -> None:
        self._nick = nick
        self.sent: list[tuple[Place, str]] = []
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
        self.sent.extend((place, line) for line in text.splitlines() or [""])

    async def stop(self) -> None:
        await self._inbox.put(None)

    async def say(self, text: str, *, who: str = "alice!alice@ops.example.com", room: str | None = "#ops") -> None:
        """Deliver TEXT from WHO (an identity id) in ROOM, or privately when ROOM is None."""
        nick = who.split("!", 1)[0]
        place = Place(self.protocol, room or nick, private=room is None)
        await self._inbox.put(Message(place, Identity(self.protocol, who, nick), text))

    def lines(self, target: str | None = None) -> list[str]:
        return [text for place, text in self.sent if target is None or place.target == target]
