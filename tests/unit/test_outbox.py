"""The outbox writes replies before announcements, never keeps an announcement for later, never drops one for room."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.backends.base import Place, RateLimiter
from bot.backends.outbox import Outbox, Outgoing

OPS = Place("irc", "#ops", private=False)
DEV = Place("irc", "#dev", private=False)
ALICE = Place("irc", "alice", private=True)


class CountingLimiter(RateLimiter):
    """Never waits; counts the tokens taken, one per message written."""

    def __init__(self) -> None:
        super().__init__(interval=0.001, burst=1)
        self.taken = 0

    async def wait(self) -> None:
        self.taken += 1


async def settled(*futures: asyncio.Future[bool]) -> list[bool]:
    return list(await asyncio.wait_for(asyncio.gather(*futures), 2))


def test_a_reply_goes_before_every_announcement_waiting_and_within_the_rate_limit() -> None:
    limiter = CountingLimiter()
    outbox = Outbox(limiter)
    written: list[str] = []

    async def write(line: Outgoing) -> None:
        written.append(line.text)
        if line.text == "a1":  # a person asks while announcements wait
            outbox.reply(ALICE, ["r2"])

    async def scenario() -> None:
        drain = asyncio.create_task(outbox.drain(write))
        await asyncio.sleep(0)
        announced = [outbox.announce(place, [text]) for place, text in ((OPS, "a1"), (DEV, "a2"), (OPS, "a3"))]
        replied = outbox.reply(ALICE, ["r1", "r1 continued"])
        assert await settled(*announced, replied) == [True, True, True, True]
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)

    asyncio.run(scenario())
    assert written == ["r1", "r1 continued", "a1", "r2", "a2", "a3"]
    assert limiter.taken == len(written)


def test_an_announcement_is_never_kept_for_a_later_connection() -> None:
    """Closed, it is refused at once; cut off mid-way, it is not written; a reply waits for the next connection."""
    outbox = Outbox(CountingLimiter())
    written: list[str] = []
    cut_off = asyncio.Event()

    async def write(line: Outgoing) -> None:
        if line.text == "second piece" and not cut_off.is_set():
            cut_off.set()
            raise ConnectionError("gone")
        written.append(line.text)

    async def scenario() -> None:
        assert await settled(outbox.announce(OPS, ["while away"])) == [False]
        reply = outbox.reply(ALICE, ["queued while away"])
        assert outbox.pending == (1, 0)

        first = asyncio.create_task(outbox.drain(write))
        assert await settled(reply) == [True]
        announced = outbox.announce(OPS, ["first piece", "second piece", "third piece"])
        assert await settled(announced) == [False]
        await asyncio.wait_for(first, 2)  # a connection gone ends the drain
        assert outbox.pending == (0, 0) and not outbox.open

        second = asyncio.create_task(outbox.drain(write))
        await asyncio.sleep(0)
        assert await settled(outbox.announce(OPS, ["again, whole"])) == [True]
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)

    asyncio.run(scenario())
    assert written == ["queued while away", "first piece", "again, whole"]


def test_no_announcement_is_dropped_for_room_but_old_replies_are(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(CountingLimiter(), max_replies=3)
    written: list[str] = []

    async def write(line: Outgoing) -> None:
        written.append(line.text)

    async def scenario() -> None:
        for n in range(5):
            outbox.reply(ALICE, [f"reply {n}"])  # while away: only the last three are kept
        drain = asyncio.create_task(outbox.drain(write))
        await asyncio.sleep(0)
        announced = [outbox.announce(OPS, [f"announcement {n}"]) for n in range(300)]
        assert all(await settled(*announced))
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)

    caplog.set_level(logging.WARNING, logger="jarvis.bot.outbox")
    asyncio.run(scenario())
    assert written == ["reply 2", "reply 3", "reply 4", *(f"announcement {n}" for n in range(300))]
    assert sum("dropped the oldest reply line" in r.getMessage() for r in caplog.records) == 2
