"""jarvis's XMPP backend against a real Prosody: rooms, private chats, identities, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.backends.base import Backend, Backoff, Identity, Message, Place, RateLimiter
from bot.backends.xmpp import MAX_MESSAGE_CHARS, XmppBackend
from sandbox import prosody
from sandbox._process import free_port
from sandbox.prosody import XmppInfo
from tests.support.xmpp_person import XmppPerson

pytestmark = pytest.mark.integration

REPORT = "deploy web1.websages.com\n  ok: 12\n  changed: 3\n  failed: 0"
# A long playbook log with terminal colours: XML cannot carry ESC, and one message cannot carry it all.
LOG_LINES = [f"\x1b[32mok\x1b[0m: [web{n}.websages.com] => task {n:03d} " + "." * 40 for n in range(100)]


def run(scenario: Callable[[], Coroutine[Any, Any, None]], timeout: float = 20.0) -> None:
    """Run one async scenario in a fresh loop, with a hard time limit."""
    asyncio.run(asyncio.wait_for(scenario(), timeout))


class Recorder:
    """The bot's message handler for tests: keeps every message and answers a few commands."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, backend: Backend, message: Message) -> None:
        self.messages.append(message)
        command = message.text.removeprefix(f"{backend.nick}: ")
        answers = {"status": "all systems nominal", "report": REPORT, "ping": "pong", "log": "\n".join(LOG_LINES)}
        if command in answers:
            await backend.send(message.place, answers[command])

    async def expect(self, text: str, timeout: float = 5.0) -> Message:
        await eventually(lambda: any(m.text == text for m in self.messages), timeout, f"no message {text!r}")
        return next(m for m in self.messages if m.text == text)


async def eventually(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout:.1f} s")
        await asyncio.sleep(0.02)


def make_backend(info: XmppInfo, rooms: list[str], port: int | None = None) -> XmppBackend:
    return XmppBackend(
        info.jid("jarvis"),
        info.passwords["jarvis"],
        rooms,
        host=info.host,
        port=port or info.port,
        allow_plaintext=True,
        rate_limit=RateLimiter(interval=0.01, burst=20),
        backoff=Backoff(first=0.1, cap=0.5),
    )


@contextlib.asynccontextmanager
async def running(backend: XmppBackend, recorder: Recorder) -> AsyncIterator[XmppBackend]:
    """Run BACKEND as a task until the block ends; stop() must make run() return."""
    task = asyncio.create_task(backend.run(recorder))
    try:
        await eventually(lambda: backend.connected or task.done(), 10, "the backend did not connect")
        if task.done():
            task.result()
        yield backend
    finally:
        await backend.stop()
        await asyncio.wait_for(task, 5)
        assert not backend.connected


def test_room_command_identity_and_reply(prosody_server: XmppInfo) -> None:
    """A room command carries the occupant's real JID; the answer, even multi-line, reaches the room whole."""
    info = prosody_server
    room = info.room("ops")
    recorder = Recorder()

    async def scenario() -> None:
        async with (
            running(make_backend(info, [room]), recorder) as backend,
            XmppPerson(info, "alice") as alice,
            XmppPerson(info, "mallory") as mallory,
        ):
            assert backend.joined_rooms == [room]
            await alice.join(room, "alice")
            await mallory.join(room, "admin")  # a nick is not an identity

            alice.say(room, "jarvis: status")
            message = await recorder.expect("jarvis: status")
            assert message.place == Place("xmpp", room, private=False)
            assert message.sender == Identity("xmpp", "alice@sandbox.test", "alice")
            answer = await alice.expect(f"{room}/jarvis")
            assert (answer.body, answer.kind, answer.delayed) == ("all systems nominal", "groupchat", False)

            mallory.say(room, "jarvis: ping")
            assert (await recorder.expect("jarvis: ping")).sender == Identity("xmpp", "mallory@sandbox.test", "admin")
            assert (await alice.expect(f"{room}/jarvis")).body == "pong"

            alice.say(room, "jarvis: report")
            await recorder.expect("jarvis: report")
            assert (await alice.expect(f"{room}/jarvis")).body == REPORT

            # A private message through the room is answered there, privately, and still knows who alice is.
            alice.tell(f"{room}/jarvis", "status")
            message = await recorder.expect("status")
            assert message.place == Place("xmpp", f"{room}/alice", private=True)
            assert message.sender == Identity("xmpp", "alice@sandbox.test", "alice")
            answer = await alice.expect(f"{room}/jarvis")
            assert (answer.body, answer.kind) == ("all systems nominal", "chat")

        # The bot heard its own answers echoed by the room but never handed them to the core.
        assert [m.text for m in recorder.messages] == ["jarvis: status", "jarvis: ping", "jarvis: report", "status"]

    run(scenario)


def test_private_chat_and_delayed_messages(prosody_server: XmppInfo) -> None:
    """A private message comes from the sender's bare JID and is answered privately; delayed ones are dropped.

    A long answer comes in pieces cut at line breaks, without the characters XML cannot carry.
    """
    info = prosody_server
    recorder = Recorder()

    async def scenario() -> None:
        async with running(make_backend(info, []), recorder), XmppPerson(info, "alice", "laptop") as alice:
            alice.tell(info.jid("jarvis"), "report", delayed=True)
            alice.tell(info.jid("jarvis"), "status")
            message = await recorder.expect("status")
            assert message.place == Place("xmpp", "alice@sandbox.test", private=True)
            assert message.sender == Identity("xmpp", "alice@sandbox.test", "alice")
            answer = await alice.expect(info.jid("jarvis"))
            assert (answer.body, answer.kind) == ("all systems nominal", "chat")

            alice.tell(info.jid("jarvis"), "log")
            pieces = [(await alice.expect(info.jid("jarvis"))).body for _ in range(3)]
            assert all(len(piece) <= MAX_MESSAGE_CHARS for piece in pieces)
            assert "\n".join(pieces) == "\n".join(line.replace("\x1b", "") for line in LOG_LINES)
            await asyncio.sleep(0.2)
        assert [m.text for m in recorder.messages] == ["status", "log"]
        assert len(alice.received) == 4

    run(scenario)


def test_room_history_is_not_replayed(prosody_server: XmppInfo) -> None:
    """Commands said before the bot joined stay in the past."""
    info = prosody_server
    room = info.room("history")
    recorder = Recorder()

    async def scenario() -> None:
        async with XmppPerson(info, "alice") as alice:
            await alice.join(room, "alice")
            alice.say(room, "jarvis: status")
            alice.say(room, "jarvis: report")
            async with running(make_backend(info, [room]), recorder):
                alice.say(room, "jarvis: ping")
                await recorder.expect("jarvis: ping")
                assert (await alice.expect(f"{room}/jarvis")).body == "pong"
        assert [m.text for m in recorder.messages] == ["jarvis: ping"]

    run(scenario)


def test_room_that_hides_real_jids_gives_no_identity(prosody_server: XmppInfo) -> None:
    """Where the bot cannot see who an occupant is, the message has a nick but an empty id."""
    info = prosody_server
    room = info.room("masked")
    recorder = Recorder()

    async def scenario() -> None:
        async with XmppPerson(info, "alice") as alice:
            await alice.join(room, "alice")
            await alice.hide_real_jids(room)
            async with running(make_backend(info, [room]), recorder):
                alice.say(room, "jarvis: status")
                message = await recorder.expect("jarvis: status")
                assert message.sender == Identity("xmpp", "", "alice")
                assert (await alice.expect(f"{room}/jarvis")).body == "all systems nominal"

    run(scenario)


def test_server_restart_reconnects_rejoins_and_flushes_the_queue(prosody_server: XmppInfo, prosody_dir: Path) -> None:
    """Prosody goes away: what the bot says meanwhile is queued and arrives after it reconnects and rejoins."""
    info = prosody_server
    room = info.room("restart")
    recorder = Recorder()
    room_place = Place("xmpp", room, private=False)

    async def scenario() -> None:
        async with running(make_backend(info, [room]), recorder) as backend:
            async with XmppPerson(info, "alice") as alice:
                await alice.join(room, "alice")
                alice.say(room, "jarvis: ping")
                await recorder.expect("jarvis: ping")
                assert (await alice.expect(f"{room}/jarvis")).body == "pong"

            await asyncio.to_thread(prosody.stop, prosody_dir)
            await eventually(lambda: not backend.connected, 5, "the backend did not notice the server left")
            await backend.send(room_place, "deploy of web1 finished while the server was away")
            await backend.send(Place("xmpp", info.jid("alice"), private=True), "you have 1 new report")

            assert (await asyncio.to_thread(prosody.start, prosody_dir, {})).port == info.port
            async with XmppPerson(info, "alice") as alice:
                # Alice may join before or after the bot is back: she takes the room's history either way.
                await alice.join(room, "alice")
                await eventually(lambda: backend.connected, 10, "the backend did not reconnect")
                assert backend.joined_rooms == [room]
                queued = await alice.expect(f"{room}/jarvis")
                assert queued.body == "deploy of web1 finished while the server was away"
                assert (await alice.expect(info.jid("jarvis"))).body == "you have 1 new report"
                alice.say(room, "jarvis: status")
                await recorder.expect("jarvis: status")
                assert (await alice.expect(f"{room}/jarvis")).body == "all systems nominal"

    run(scenario, timeout=30)


def test_server_that_stops_answering_is_dropped_by_keepalive(prosody_server: XmppInfo, prosody_dir: Path) -> None:
    """A frozen server keeps the TCP connection open: unanswered pings make the bot drop it and come back."""
    info = prosody_server
    room = info.room("frozen")
    recorder = Recorder()
    backend = make_backend(info, [room])
    backend.keepalive_interval, backend.keepalive_timeout, backend.connect_timeout = 0.2, 0.3, 1.0

    async def scenario() -> None:
        async with running(backend, recorder):
            group = int((prosody_dir / "prosody.pid").read_text())
            os.killpg(group, signal.SIGSTOP)
            try:
                await eventually(lambda: not backend.connected, 3, "the backend did not drop a silent server")
            finally:
                os.killpg(group, signal.SIGCONT)
            await eventually(lambda: backend.connected, 5, "the backend did not come back")
            async with XmppPerson(info, "alice") as alice:
                await alice.join(room, "alice")
                alice.say(room, "jarvis: ping")
                await recorder.expect("jarvis: ping")
                assert (await alice.expect(f"{room}/jarvis")).body == "pong"

    run(scenario)


def test_without_allow_plaintext_no_password_crosses_a_plain_stream(prosody_server: XmppInfo) -> None:
    """Outside the sandbox TLS is required: against a server without it the bot never logs in."""
    info = prosody_server
    backend = XmppBackend(info.jid("jarvis"), info.passwords["jarvis"], [], host=info.host, port=info.port)

    async def scenario() -> None:
        task = asyncio.create_task(backend.run(Recorder()))
        await asyncio.sleep(0.7)
        assert not backend.connected
        await backend.stop()
        await asyncio.wait_for(task, 2)

    run(scenario)


def test_stop_ends_run_even_without_a_server(prosody_server: XmppInfo) -> None:
    """With nothing to connect to, run() keeps retrying, send() queues without raising, stop() ends it all."""
    backend = make_backend(prosody_server, [prosody_server.room("nowhere")], port=free_port())

    async def scenario() -> None:
        task = asyncio.create_task(backend.run(Recorder()))
        await asyncio.sleep(0.5)
        assert not backend.connected
        await backend.send(Place("xmpp", prosody_server.jid("alice"), private=True), "hello?")
        started = time.monotonic()
        await backend.stop()
        await asyncio.wait_for(task, 2)
        assert time.monotonic() - started < 1.0

    run(scenario)


def test_a_private_line_through_a_room_goes_only_to_the_identity_it_is_for(prosody_server: XmppInfo) -> None:
    """A room nick can pass to someone else: a line for alice's real JID reaches alice, or nobody."""
    info = prosody_server
    room = info.room("handover")
    for_alice = Place("xmpp", f"{room}/al", private=True, identity=info.jid("alice"))
    recorder = Recorder()

    async def scenario() -> None:
        async with running(make_backend(info, [room]), recorder) as backend:
            async with XmppPerson(info, "alice") as alice:
                await alice.join(room, "al")
                alice.say(room, "alice is here")
                await recorder.expect("alice is here")
                await backend.send(for_alice, "for alice")
                assert (await alice.expect(f"{room}/jarvis")).body == "for alice"
            async with XmppPerson(info, "mallory") as mallory:
                await mallory.join(room, "al")
                mallory.say(room, "mallory is al now")
                await recorder.expect("mallory is al now")  # the bot has seen her join
                await backend.send(for_alice, "not for mallory")
                await backend.send(Place("xmpp", f"{room}/al", private=True), "for whoever is al now")
                heard = await mallory.expect(f"{room}/jarvis")
                assert (heard.body, heard.kind) == ("for whoever is al now", "chat")

    run(scenario)


def test_an_announcement_goes_out_only_on_an_established_session(prosody_server: XmppInfo, prosody_dir: Path) -> None:
    """announce() says whether the line was sent; while the server is away it is not, and nothing keeps it."""
    info = prosody_server
    room = info.room("owed")
    room_place = Place("xmpp", room, private=False)

    async def scenario() -> None:
        async with running(make_backend(info, [room]), Recorder()) as backend:
            async with XmppPerson(info, "alice") as alice:
                await alice.join(room, "alice")
                assert await backend.announce(room_place, "eir: dns - write DNS A, PTR and SSHFP records")
                assert (await alice.expect(f"{room}/jarvis")).body == "eir: dns - write DNS A, PTR and SSHFP records"

            await asyncio.to_thread(prosody.stop, prosody_dir)
            await eventually(lambda: not backend.connected, 5, "the backend did not notice the server left")
            assert not await backend.announce(room_place, "eir FAILED at stage dns: REFUSED")

            assert (await asyncio.to_thread(prosody.start, prosody_dir, {})).port == info.port
            await eventually(lambda: backend.connected, 10, "the backend did not reconnect")
            async with XmppPerson(info, "alice") as alice:
                await alice.join(room, "alice")
                assert await backend.announce(room_place, "eir FAILED at stage dns: REFUSED (said again)")
                assert (await alice.expect(f"{room}/jarvis")).body == "eir FAILED at stage dns: REFUSED (said again)"

    run(scenario, timeout=30)
