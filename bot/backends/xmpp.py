"""jarvis on XMPP: a slixmpp client that joins its rooms, hands messages to the core and reconnects by itself.

Identities: in a private chat the sender's bare JID (the server vouches for it); in a room the
occupant's real bare JID when the room shows it to the bot, else an empty ``id`` (a nick is no
identity). A private message through a room (from ``room@muc/nick``) is answered there, so its
place's target is that full occupant JID. Room history and other delayed messages are never
delivered: an old command must not run again because the bot rejoined a room. A line for such a
private place through a room goes out only while the occupant there is still the identity (real JID)
it is for: a room nick can pass to someone else.

The backend owns reconnection: slixmpp's own retry schedule is cancelled after each attempt and
:class:`~bot.backends.base.Backoff` decides when to try again; keepalive pings (XEP-0199) abort a
connection the server stopped answering, which starts the same reconnect path.

What the bot says goes through an :class:`~bot.backends.outbox.Outbox`, written while a session is
established: replies first (while the bot is away they wait, up to ``queue_limit`` messages), then
announcements, which count as sent once slixmpp's send queue handed them to the socket and its
buffer is drained, and are never kept for a later session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout, PresenceError
from slixmpp.stanza import Message as XmppMessage
from slixmpp.stanza import StreamError

from bot.backends.base import Backend, Backoff, Identity, Message, MessageHandler, Place, RateLimiter
from bot.backends.outbox import Outbox, Outgoing, until_drained

__all__ = ["MAX_MESSAGE_CHARS", "XmppBackend"]

log = logging.getLogger("jarvis.bot.xmpp")

MAX_MESSAGE_CHARS = 3000
# Characters XML 1.0 forbids (terminal escapes in a playbook's output, say): a server closes the
# stream of a client that sends one, so they are dropped before sending.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XmppBackend(Backend):
    """One XMPP account in its rooms; runs in the caller's asyncio loop until :meth:`stop`."""

    protocol = "xmpp"
    line_bytes = MAX_MESSAGE_CHARS  # as bytes: a merged message never passes the limit in characters
    line_separator = "\n"  # a message body carries line breaks: merged announcements keep a line each
    connect_timeout = 30.0  # TCP connect, login and room joins of one attempt
    join_timeout = 10.0
    keepalive_interval = 60.0
    keepalive_timeout = 20.0
    queue_limit = 200  # reply messages kept while disconnected; the oldest go first
    send_timeout = 20.0  # for slixmpp's send queue to take a message; longer means a stuck connection

    def __init__(
        self,
        jid: str,
        password: str,
        rooms: list[str],
        *,
        nick: str = "jarvis",
        host: str | None = None,
        port: int = 5222,
        allow_plaintext: bool = False,
        rate_limit: RateLimiter | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._jid = JID(jid)
        self._password = password
        self._rooms = [JID(room).bare for room in rooms]
        self._nick = nick
        self._host = host
        self._port = port
        self._allow_plaintext = allow_plaintext
        self._rate_limit = rate_limit or RateLimiter()
        self._backoff = backoff or Backoff()
        self._client: ClientXMPP | None = None
        self._on_message: MessageHandler | None = None
        self._room_nicks: dict[str, str] = {}  # rooms of this session → the bot's nick there
        self._outbox = Outbox(self._rate_limit, self.queue_limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._drainer: asyncio.Task[None] | None = None  # writes the outbox while a session is established
        self._attempt = 0  # counts connections, so a late handler of an old one does nothing
        self._ready = asyncio.Event()
        self._connection_over = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False

    @property
    def nick(self) -> str:
        return self._nick

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def joined_rooms(self) -> list[str]:
        """The rooms joined in the current connection (a room that refused the bot is missing)."""
        return list(self._room_nicks) if self.connected else []

    async def run(self, on_message: MessageHandler) -> None:
        if self._running:
            raise RuntimeError("this XmppBackend is already running")
        self._running = True
        self._finished.clear()
        self._on_message = on_message
        self._client = self._make_client()
        try:
            while not self._stopping.is_set():
                self._attempt += 1
                await self._serve_one_connection(self._client)
                if self._stopping.is_set():
                    break
                delay = self._backoff.next_delay()
                log.info("reconnecting to %s in %.1f s", self._server_name(), delay)
                await _first_of(self._stopping, timeout=delay)
        finally:
            await self._shut_down(self._client)
            self._running = False
            self._finished.set()

    async def stop(self) -> None:
        """Leave the server and make run() return; a stopped backend stays stopped."""
        self._stopping.set()
        if self._running:
            await _first_of(self._finished, timeout=self.connect_timeout)

    async def send(self, place: Place, text: str) -> None:
        """Queue TEXT for PLACE ahead of announcements; while connected, return once it is sent."""
        chunks = self._chunks_for(place, text)
        if not chunks:
            return
        connected = self.connected
        done = self._outbox.reply(place, chunks)
        if connected:
            await done

    async def announce(self, place: Place, text: str) -> bool:
        """Send TEXT to PLACE on the established session, behind replies; True once the socket took it."""
        chunks = self._chunks_for(place, text)
        return await self._outbox.announce(place, chunks) if chunks else True

    def _chunks_for(self, place: Place, text: str) -> list[str]:
        if place.protocol != self.protocol:
            log.warning("not sending to a %s place over XMPP: %s", place.protocol, place.target)
            return []
        return _chunks(_NOT_XML.sub("", text), MAX_MESSAGE_CHARS)

    # -- connection -------------------------------------------------------------------------

    def _make_client(self) -> ClientXMPP:
        """A slixmpp client with the bot's handlers; made in run() so it lives in the running loop."""
        client = ClientXMPP(self._jid, self._password)
        for plugin in ("xep_0030", "xep_0045", "xep_0199", "xep_0203"):
            client.register_plugin(plugin)
        if self._allow_plaintext:
            # Sandbox only: a Prosody on loopback without TLS. Otherwise slixmpp's defaults hold:
            # direct TLS or STARTTLS, and no password mechanism over an unencrypted stream.
            client.enable_plaintext = True
            client.enable_starttls = False
            client.enable_direct_tls = False
            client.plugin["feature_mechanisms"].unencrypted_plain = True
        client.whitespace_keepalive = False  # XEP-0199 pings instead, which notice a dead server
        client.add_event_handler("session_start", self._on_session_start)
        client.add_event_handler("disconnected", self._on_disconnected)
        client.add_event_handler("message", self._on_stanza)
        client.add_event_handler("failed_all_auth", self._on_auth_failed)
        client.add_event_handler("stream_error", self._on_stream_error)
        return client

    async def _serve_one_connection(self, client: ClientXMPP) -> None:
        """Connect once and return when that connection is over (or stop() was called)."""
        self._connection_over.clear()
        attempt = client.connect() if self._host is None else client.connect(self._host, self._port)
        await _first_of(attempt, self._stopping, timeout=self.connect_timeout)
        # slixmpp schedules its own retries after a failure; the Backoff decides instead.
        client.cancel_connection_attempt()
        if client.transport is None:
            if not self._stopping.is_set():
                log.warning("cannot connect to %s", self._server_name())
            return
        await _first_of(self._ready, self._connection_over, self._stopping, timeout=self.connect_timeout)
        if not (self._ready.is_set() or self._connection_over.is_set() or self._stopping.is_set()):
            log.warning("no XMPP session with %s after %.0f s: dropping it", self._server_name(), self.connect_timeout)
            client.abort()
        keepalive = self._spawn(self._keep_alive(client))
        try:
            await _first_of(self._connection_over, self._stopping)
        finally:
            keepalive.cancel()

    async def _shut_down(self, client: ClientXMPP | None) -> None:
        """Leave the server politely, then end every task this backend started."""
        self._ready.clear()
        if client is not None:
            client.cancel_connection_attempt()
            if client.transport is not None:
                with contextlib.suppress(Exception):
                    await client.disconnect(wait=2.0, reason="jarvis is stopping")
            if client.transport is not None:
                client.abort()
            # slixmpp's send loop outlives a connection; it is ours to end with the backend.
            sender = getattr(client, "_run_out_filters", None)
            if isinstance(sender, asyncio.Future):
                sender.cancel()
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._outbox.close()

    async def _on_session_start(self, _event: object) -> None:
        client, attempt = self._client, self._attempt
        if client is None:
            return
        client.send_presence()
        try:
            await client.get_roster(timeout=self.join_timeout)
        except (IqError, IqTimeout) as exc:
            log.warning("no roster from %s: %s", self._server_name(), exc)
        muc = client.plugin["xep_0045"]
        for room in self._rooms:
            if attempt != self._attempt:
                return
            # Known before the join answers, so the first live message is not taken for a stranger's.
            self._room_nicks[room] = self._nick
            try:
                presence, *_ = await muc.join_muc_wait(JID(room), self._nick, maxstanzas=0, timeout=self.join_timeout)
            except PresenceError as exc:
                self._room_nicks.pop(room, None)
                log.error("cannot join %s: %s", room, exc.condition)
                continue
            except TimeoutError:
                self._room_nicks.pop(room, None)
                log.error("cannot join %s: no answer after %.0f s", room, self.join_timeout)
                continue
            if attempt == self._attempt:
                self._room_nicks[room] = presence["from"].resource or self._nick
        if attempt != self._attempt or client.transport is None:
            return
        self._backoff.reset()
        self._ready.set()
        log.info("connected to %s as %s, in %s", self._server_name(), self._jid.bare, ", ".join(self._room_nicks))
        self._drainer = self._spawn(self._outbox.drain(lambda message: self._write(client, attempt, message)))

    def _on_disconnected(self, reason: object) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._room_nicks.clear()
        self._connection_over.set()
        if self._drainer is not None:
            self._drainer.cancel()  # as it ends it settles what it did not send, as close() does now
            self._drainer = None
        self._outbox.close()
        if was_ready and not self._stopping.is_set():
            log.warning("disconnected from %s: %s", self._server_name(), reason or "connection lost")

    def _on_auth_failed(self, _event: object) -> None:
        log.error(
            "cannot log in to %s as %s: wrong password, or no safe mechanism (is the stream encrypted?)",
            self._server_name(),
            self._jid.bare,
        )

    def _on_stream_error(self, error: StreamError) -> None:
        log.warning("stream error from %s: %s %s", self._server_name(), error["condition"], error["text"])

    async def _keep_alive(self, client: ClientXMPP) -> None:
        """Ping the server now and then; a missing answer means a dead connection: drop it."""
        while True:
            await asyncio.sleep(self.keepalive_interval)
            if not self._ready.is_set():
                continue
            try:
                await client.plugin["xep_0199"].ping(timeout=self.keepalive_timeout)
            except IqTimeout:
                log.warning("%s did not answer a ping in %g s", self._server_name(), self.keepalive_timeout)
                client.abort()
                return
            except IqError:
                continue

    # -- incoming -----------------------------------------------------------------------------

    def _on_stanza(self, stanza: XmppMessage) -> None:
        """Turn a message stanza into a Message for the core, or drop it (echo, history, error…)."""
        if stanza["type"] == "error" or stanza.get_plugin("delay", check=True) is not None:
            return
        body = stanza["body"]
        if not body:
            return
        sender: JID = stanza["from"]
        if stanza["type"] == "groupchat":
            message = self._room_message(sender, body)
        elif stanza["type"] in ("chat", "normal"):
            message = self._private_message(sender, body)
        else:
            return
        if message is not None and self._on_message is not None:
            self._spawn(self._deliver(self._on_message, message))

    def _room_message(self, sender: JID, body: str) -> Message | None:
        room, nick = sender.bare, sender.resource
        if room not in self._room_nicks or not nick or nick == self._room_nicks[room]:
            return None  # not our room, the room itself, or our own echo
        identity = Identity(self.protocol, self._real_jid(room, nick), nick)
        return Message(Place(self.protocol, room, private=False), identity, body)

    def _private_message(self, sender: JID, body: str) -> Message | None:
        if sender.bare == self._jid.bare:
            return None
        if sender.bare in self._rooms:
            # A private message through a room: answer the occupant there; the id is its real JID if shown.
            if not sender.resource or sender.resource == self._room_nicks.get(sender.bare):
                return None
            identity = Identity(self.protocol, self._real_jid(sender.bare, sender.resource), sender.resource)
            return Message(Place(self.protocol, sender.full, private=True), identity, body)
        if not sender.user:
            return None  # a server's announcement, not a person
        identity = Identity(self.protocol, sender.bare, sender.user)
        return Message(Place(self.protocol, sender.bare, private=True), identity, body)

    def _holds(self, place: Place) -> bool:
        """Whether the private PLACE still reaches its identity: an account itself, or a room occupant's real JID."""
        target = JID(place.target)
        if target.bare in self._rooms and target.resource:
            return self._real_jid(target.bare, target.resource) == JID(place.identity).bare
        return target.bare == JID(place.identity).bare

    def _real_jid(self, room: str, nick: str) -> str:
        """The occupant's real bare JID, or "" when the room hides it from the bot."""
        if self._client is None:
            return ""
        real = self._client.plugin["xep_0045"].get_jid_property(JID(room), nick, "jid")
        return JID(real).bare if real else ""

    async def _deliver(self, on_message: MessageHandler, message: Message) -> None:
        try:
            await on_message(self, message)
        except Exception:
            log.exception("the message handler failed on a message in %s", message.place.target)

    # -- outgoing -----------------------------------------------------------------------------

    async def _write(self, client: ClientXMPP, attempt: int, message: Outgoing) -> None:
        """Send MESSAGE in session ATTEMPT; return once the socket took it (a private one only to its identity)."""
        place = message.place

        def over() -> bool:
            return attempt != self._attempt or not self._ready.is_set()

        if over():
            raise ConnectionError("the XMPP session is over")
        if place.private and place.identity and not self._holds(place):
            log.warning("not sending to %s: it is not %s's now; message dropped", place.target, place.identity)
            return
        client.send_message(mto=JID(place.target), mbody=message.text, mtype="chat" if place.private else "groupchat")
        # slixmpp's sender takes it from its queue and writes it in the same step (no async filter here).
        waited = 0.0
        while client.waiting_queue.qsize() and not over():
            if waited > self.send_timeout:
                log.warning("%s: nothing sent for %.0f s; dropping the connection", self._server_name(), waited)
                client.abort()
                raise ConnectionError("slixmpp's send queue is stuck")
            await asyncio.sleep(0.01)
            waited += 0.01
        await until_drained(client.transport, over)

    # -- helpers ------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _server_name(self) -> str:
        return f"{self._host}:{self._port}" if self._host else self._jid.domain


def _chunks(text: str, limit: int) -> list[str]:
    """TEXT in pieces of at most LIMIT characters, cut at a line break where there is one."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].removeprefix("\n")
    if text.strip():
        pieces.append(text)
    return pieces


async def _first_of(*waitables: asyncio.Event | asyncio.Future[object], timeout: float | None = None) -> None:
    """Wait until one event is set or one future is done, or the timeout passes (never raises for it)."""
    waiters: list[asyncio.Future[object]] = []
    for waitable in waitables:
        if isinstance(waitable, asyncio.Event):
            waiters.append(asyncio.ensure_future(waitable.wait()))
        else:
            waiters.append(waitable)
    own = [waiter for waiter, waitable in zip(waiters, waitables, strict=True) if waiter is not waitable]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in own:
            waiter.cancel()
        await asyncio.gather(*own, return_exceptions=True)
