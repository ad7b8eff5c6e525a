"""The IRC backend against a real ngIRCd, with people on plain sockets talking to it."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.announcer import Announcer
from bot.backends.base import Backend, Backoff, Identity, Message, Place, RateLimiter
from bot.backends.irc import IrcBackend, split_message
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore
from sandbox import ngircd
from sandbox.ngircd import IrcInfo
from tests.support.irc_person import IrcPerson

pytestmark = pytest.mark.integration

T = TypeVar("T")
TWELVE_LINES = "\n".join(f"line {n}" for n in range(1, 13))
REPLIES = {"status": "all quiet", "lines": TWELVE_LINES}
INTERVAL = 0.1  # the rate limiter's: one line per INTERVAL after a burst of BURST
BURST = 3


class RunningBot:
    """BACKEND running in an event loop of its own thread, with a handler that records and answers.

    The handler answers ``<nick>: <command>`` in a channel and ``<command>`` in private with
    REPLIES[command], through ``backend.send`` like the bot core does.
    """

    def __init__(self, backend: IrcBackend) -> None:
        self.backend = backend
        self.messages: queue.Queue[Message] = queue.Queue()
        self.run_returned = threading.Event()
        self.run_error: BaseException | None = None
        self._loop_ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="irc-backend")
        self._thread.start()
        if not self._loop_ready.wait(5):
            raise RuntimeError("the backend's event loop did not start")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_ready.set()
        try:
            await self.backend.run(self._handle)
        except BaseException as exc:
            self.run_error = exc
        finally:
            self.run_returned.set()

    async def _handle(self, backend: Backend, message: Message) -> None:
        self.messages.put(message)
        command = message.text
        if not message.place.private:
            prefix = f"{backend.nick}: "
            if not command.startswith(prefix):
                return
            command = command[len(prefix) :]
        if command in REPLIES:
            await backend.send(message.place, REPLIES[command])

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run CORO in the backend's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.01)

    def next_message(self, matches: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """The next message delivered to the handler that MATCHES (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no matching message within {timeout} s") from None
            if matches(message):
                return message

    def delivered(self) -> list[Message]:
        """Every message delivered and not yet taken."""
        taken = []
        while not self.messages.empty():
            taken.append(self.messages.get_nowait())
        return taken

    def stop(self) -> None:
        if self.run_returned.is_set():
            self._thread.join(5)
            return
        self.call(self.backend.stop())
        self._thread.join(10)
        assert self.run_returned.is_set(), "run() did not return after stop()"
        assert self.run_error is None, self.run_error


def start_bot(info: IrcInfo, nick: str = "jarvis", **options: Any) -> RunningBot:
    options.setdefault("rate_limit", RateLimiter(interval=INTERVAL, burst=BURST))
    options.setdefault("backoff", Backoff(first=0.1, cap=0.5))
    bot = RunningBot(IrcBackend(info.host, info.port, nick, ["#ops"], **options))
    try:
        bot.wait_until(lambda: bot.backend.connected)
    except BaseException:
        bot.stop()
        raise
    return bot


@pytest.fixture(scope="module")
def jarvis(ngircd_server: IrcInfo) -> Iterator[RunningBot]:
    """The bot as jarvis in #ops on the shared server."""
    bot = start_bot(ngircd_server)
    try:
        yield bot
    finally:
        bot.stop()


@pytest.fixture
def people(ngircd_server: IrcInfo) -> Iterator[Callable[..., IrcPerson]]:
    """Make people on the shared server (``people("alice")``); all leave when the test ends."""
    made: list[IrcPerson] = []

    def make(nick: str, info: IrcInfo = ngircd_server) -> IrcPerson:
        person = IrcPerson(info.host, info.port, nick)
        made.append(person)
        return person

    try:
        yield make
    finally:
        for person in made:
            person.close()


@pytest.fixture
def own_ngircd(tmp_path: Path) -> Iterator[tuple[Path, IrcInfo]]:
    """An ngIRCd for one test, to restart or freeze without disturbing the others."""
    state_dir = tmp_path / "ngircd"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        info = ngircd.start(state_dir)
    try:
        yield state_dir, info
    finally:
        ngircd.stop(state_dir)


def test_command_in_a_channel_is_delivered_and_answered(jarvis: RunningBot, people: Callable[..., IrcPerson]) -> None:
    alice = people("alice")
    alice.join("#ops")
    alice.say("#ops", "jarvis: status")

    message = jarvis.next_message(lambda m: m.sender.nick == "alice")
    # What ngIRCd vouches for: no ident (~) and no DNS (the address) here.
    assert message == Message(
        place=Place("irc", "#ops", private=False),
        sender=Identity("irc", id="alice!~user@127.0.0.1", nick="alice", account=None),
        text="jarvis: status",
    )
    [reply] = alice.messages_from("jarvis", 1, target="#ops")
    assert reply.text == "all quiet"
    assert reply.prefix == "jarvis!~jarvis@127.0.0.1"


def test_private_message_has_a_private_place(jarvis: RunningBot, people: Callable[..., IrcPerson]) -> None:
    bob = people("bob")
    bob.say("jarvis", "status")

    message = jarvis.next_message(lambda m: m.sender.nick == "bob")
    assert message.place == Place("irc", "bob", private=True)
    assert message.sender.id == "bob!~user@127.0.0.1"
    assert message.text == "status"
    [reply] = bob.messages_from("jarvis", 1, target="bob")
    assert reply.text == "all quiet"


def test_own_lines_are_not_delivered(jarvis: RunningBot, people: Callable[..., IrcPerson]) -> None:
    carol = people("carol")
    carol.join("#ops")
    jarvis.delivered()
    # The server does hand a message to oneself back: the backend must drop it.
    jarvis.call(jarvis.backend.send(Place("irc", "jarvis", private=True), "note to self"))
    jarvis.call(jarvis.backend.send(Place("irc", "#ops", private=False), "hello #ops"))
    carol.messages_from("jarvis", 1, target="#ops")
    carol.say("#ops", "after the bot spoke")

    jarvis.next_message(lambda m: m.text == "after the bot spoke")
    delivered = jarvis.delivered()
    assert [m for m in delivered if m.sender.nick == "jarvis"] == []


def test_long_reply_arrives_complete_in_order_and_paced(jarvis: RunningBot, people: Callable[..., IrcPerson]) -> None:
    dave = people("dave")
    dave.join("#ops")
    time.sleep(BURST * INTERVAL)  # let the bucket fill up after the earlier tests
    dave.say("#ops", "jarvis: lines")

    lines = dave.messages_from("jarvis", 12, target="#ops")
    assert [line.text for line in lines] == TWELVE_LINES.splitlines()
    # BURST lines at once, then one every INTERVAL: the last comes (12 - BURST) intervals after the first.
    span = lines[-1].received - lines[0].received
    assert span >= (12 - BURST) * INTERVAL * 0.8, span
    assert span < 5.0, span


def test_taken_nick_gets_an_underscore_and_stop_quits(
    jarvis: RunningBot, ngircd_server: IrcInfo, people: Callable[..., IrcPerson]
) -> None:
    eve = people("eve")
    eve.join("#ops")
    second = start_bot(ngircd_server, nick="jarvis")
    try:
        assert second.backend.nick == "jarvis_"
        eve.say("#ops", "jarvis_: status")
        [reply] = eve.messages_from("jarvis_", 1, target="#ops")
        assert reply.text == "all quiet"
    finally:
        second.stop()
    quit_line = eve.wait_for(lambda line: line.command == "QUIT" and line.nick == "jarvis_")
    assert "signing off" in quit_line.text
    assert second.run_returned.is_set()
    assert jarvis.backend.connected  # the first one is not disturbed


def test_reconnects_after_a_server_restart_and_sends_what_was_queued(
    own_ngircd: tuple[Path, IrcInfo], people: Callable[..., IrcPerson]
) -> None:
    state_dir, info = own_ngircd
    # Reconnect 1-2 s after the drop: time for the person below to be back in #ops first.
    bot = start_bot(info, backoff=Backoff(first=2.0, cap=2.0))
    try:
        ngircd.stop(state_dir)
        bot.wait_until(lambda: not bot.backend.connected)
        started = time.monotonic()
        bot.call(bot.backend.send(Place("irc", "#ops", private=False), "queued while the server was down"))
        assert time.monotonic() - started < 1.0  # queued, not waiting for the network
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            assert ngircd.restart(state_dir) == info

        frank = people("frank", info)
        frank.join("#ops")
        [queued] = frank.messages_from("jarvis", 1, timeout=10, target="#ops")
        assert queued.text == "queued while the server was down"
        assert bot.backend.connected
        frank.say("#ops", "jarvis: status")
        [reply] = frank.messages_from("jarvis", 1, target="#ops")
        assert reply.text == "all quiet"
    finally:
        bot.stop()


def test_reconnects_when_the_server_stops_answering(own_ngircd: tuple[Path, IrcInfo]) -> None:
    state_dir, info = own_ngircd
    bot = start_bot(info, ping_interval=0.3, ping_timeout=1.0, connect_timeout=1.0)
    pid = int((state_dir / "ngircd.pid").read_text())
    try:
        os.kill(pid, signal.SIGSTOP)  # the TCP connection stays up, nothing answers
        try:
            bot.wait_until(lambda: not bot.backend.connected, timeout=3.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        bot.wait_until(lambda: bot.backend.connected, timeout=5.0)
        assert bot.backend.nick == "jarvis"
    finally:
        bot.stop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one\ntwo\r\nthree", ["one", "two", "three"]),
        ("\n  \nkept  \n", ["kept"]),
        ("a" * 10, ["aaaaa", "aaaaa"]),
        ("ab cd ef", ["ab cd", "ef"]),
        ("abc defgh", ["abc", "defgh"]),
        ("éééé", ["éé", "éé"]),
    ],
)
def test_split_message(text: str, expected: list[str]) -> None:
    assert split_message(text, limit=5) == expected


def test_a_private_line_goes_only_to_the_identity_it_is_for(
    jarvis: RunningBot, ngircd_server: IrcInfo, caplog: pytest.LogCaptureFixture
) -> None:
    """Who holds a nick can change: a line for erin's identity reaches erin, or nobody (the log says why)."""
    info, mask = ngircd_server, "erin!~erin@127.0.0.1"
    for_erin = Place("irc", "erin", private=True, identity=mask)
    caplog.set_level(logging.WARNING, logger="jarvis.bot.irc")
    with IrcPerson(info.host, info.port, "erin", user="erin") as erin:
        jarvis.call(jarvis.backend.send(for_erin, "for erin"))
        [line] = erin.messages_from("jarvis", 1, target="erin")
        assert line.text == "for erin"
    with IrcPerson(info.host, info.port, "watcher") as watcher:  # until the server has seen erin's QUIT
        deadline = time.monotonic() + 5
        while True:
            watcher.send_raw("ISON erin")
            if not watcher.wait_for(lambda line: line.command == "303").text.split():
                break
            assert time.monotonic() < deadline, "erin is still on the server"
            time.sleep(0.05)
    jarvis.call(jarvis.backend.send(for_erin, "while erin is away"))
    with IrcPerson(info.host, info.port, "erin", user="mallory") as mallory:
        jarvis.call(jarvis.backend.send(for_erin, "not for mallory"))
        jarvis.call(jarvis.backend.send(Place("irc", "erin", private=True), "for whoever is erin now"))
        [line] = mallory.messages_from("jarvis", 1, target="erin")
        assert line.text == "for whoever is erin now", "the lines for erin's identity went nowhere"
    dropped = [record.getMessage() for record in caplog.records if "line dropped" in record.getMessage()]
    assert dropped == [
        f"not sending to erin: the nick is not in use (or the server did not say), not {mask}'s who asked there; "
        "line dropped",
        f"not sending to erin: the nick is now erin!~mallory@127.0.0.1's, not {mask}'s who asked there; line dropped",
    ]


def subscribed(store: DeploymentStore, *hosts: str, subscribe: bool = True) -> str:
    """A running deployment of HOSTS, which #ops hears about (if SUBSCRIBE)."""
    records = [{"hostname": host, "fqdn": f"{host}.example.com", "provider": "ec2"} for host in hosts]
    deployment_id = store.create_deployment(records, list(deploy_stages()), source="t", requested_by="grace")
    store.set_deployment_state(deployment_id, "running")
    if subscribe:
        store.subscribe(deployment_id, "irc", "#ops", private=False)
    return deployment_id


def heard_up_to(store: DeploymentStore, deployment_id: str) -> int:
    return next(sub["last_seq"] for sub in store.open_subscriptions() if sub["deployment_id"] == deployment_id)


def test_owed_announcements_arrive_after_a_server_restart_and_a_burst_comes_packed(
    own_ngircd: tuple[Path, IrcInfo], people: Callable[..., IrcPerson], tmp_path: Path
) -> None:
    """A line counts as said only once the socket took it: what happened while the server was away is said
    after the reconnect; 60 announcements at once come packed into a few lines, each there, and a person's
    question is answered ahead of them."""
    state_dir, info = own_ngircd
    workers = DeploymentStore(tmp_path / "store.db")  # the deployments' side of the store
    # Reconnect 1-2 s after the drop: time for grace to be back in #ops first.
    bot = start_bot(info, backoff=Backoff(first=2.0, cap=2.0), rate_limit=RateLimiter(interval=0.3, burst=2))
    announcer = Announcer(DeploymentStore(tmp_path / "store.db"), {"irc": bot.backend}, interval=0.05, max_lines=10)

    async def start() -> asyncio.Task[None]:
        return asyncio.create_task(announcer.run())

    async def stop(running: asyncio.Task[None]) -> None:
        announcer.stop()
        await running

    running = bot.call(start())
    try:
        grace = people("grace", info)
        grace.join("#ops")
        first = subscribed(workers, "eir", "gna")
        workers.add_event(first, "running", "write DNS", "eir", "dns")
        [line] = grace.messages_from("jarvis", 1, target="#ops")
        assert line.text == "eir: dns - write DNS A, PTR and SSHFP records"
        bot.wait_until(lambda: heard_up_to(workers, first) == 1)

        ngircd.stop(state_dir)
        bot.wait_until(lambda: not bot.backend.connected)
        workers.add_event(first, "failed", "REFUSED by 127.0.0.1", "eir", "dns")
        workers.add_event(first, "running", "create the instance", "gna", "instance")
        time.sleep(0.3)
        assert heard_up_to(workers, first) == 1, "nothing counts as said while the server is away"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            assert ngircd.restart(state_dir) == info
        grace = people("grace", info)
        grace.join("#ops")
        owed = grace.messages_from("jarvis", 2, timeout=10, target="#ops")
        assert [line.text for line in owed] == [
            "eir FAILED at stage dns: REFUSED by 127.0.0.1",
            "gna: instance - deploy the instance from its template",
        ]
        bot.wait_until(lambda: heard_up_to(workers, first) == 3)

        hosts = [f"web{n:02d}" for n in range(60)]
        burst = subscribed(workers, *hosts, subscribe=False)
        for host in hosts:
            workers.add_event(burst, "canceled", "by grace", host, "dns")
        workers.subscribe(burst, "irc", "#ops", private=False)  # the announcer sees all 60 in one round
        heard = grace.messages_from("jarvis", 1, target="#ops")
        grace.say("#ops", "jarvis: status")
        told = heard[0].text.split(" | ")
        while len(told) < len(hosts) or not any(line.text == "all quiet" for line in heard):
            [line] = grace.messages_from("jarvis", 1, target="#ops")
            heard.append(line)
            if line.text != "all quiet":
                told.extend(line.text.split(" | "))
        texts = [line.text for line in heard]
        assert told == [f"{host} canceled at stage dns" for host in hosts], "every announcement, in order"
        assert len(texts) - 1 <= announcer.max_lines, texts
        assert texts.index("all quiet") < len(texts) - 1, "the reply came ahead of the announcements"
        bot.wait_until(lambda: heard_up_to(workers, burst) == len(hosts))
    finally:
        bot.call(stop(running))
        bot.stop()
