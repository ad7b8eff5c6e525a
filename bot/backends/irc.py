"""The IRC backend: jaraco's ``irc`` library on the bot's own asyncio loop (``irc.client_aio``).

One connection at a time. Each attempt gets a fresh reactor and connection, so nothing an old,
dying connection reports can reach the new one. Lines to send go through one
:class:`~bot.backends.outbox.Outbox`, written by one task at the rate the :class:`RateLimiter`
allows, and only while the bot is registered and in its channels: replies first (while the bot is
away they wait, up to ``max_queue`` lines), then announcements, which count as written once the
socket has taken them (the transport's buffer is drained) and are never kept for a later connection.

A line for a private place that names an identity goes out only if the nick still belongs to it:
just before writing it the backend asks the server (USERHOST) whose the nick is now, and drops
the line, with a log line, when it is someone else's or nobody's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import irc.client
import irc.connection

from bot.backends._irc_wire import Reactor, fold, same_mask, split_message
from bot.backends.base import Backend, Backoff, Identity, Message, MessageHandler, Place, RateLimiter
from bot.backends.outbox import Outbox, Outgoing, until_drained

__all__ = ["IrcBackend", "split_message"]

log = logging.getLogger("jarvis.bot.irc")

_T = TypeVar("_T")
_QUIT_MESSAGE = "jarvis signing off"
# Numeric replies that mean a JOIN failed; the channel is the first argument.
_JOIN_FAILURES = (
    "nosuchchannel",
    "toomanychannels",
    "channelisfull",
    "inviteonlychan",
    "bannedfromchan",
    "badchannelkey",
    "badchanmask",
    "needreggednick",
)
_WANTED_CAPS = frozenset({"account-tag"})  # lets the server tag each message with the sender's account


@dataclass(eq=False)
class _Session:
    """The state of one connection attempt."""

    conn: Any
    started: float = field(default_factory=time.monotonic)
    last_heard: float = field(default_factory=time.monotonic)
    last_ping: float = 0.0
    last_join_retry: float = 0.0
    caps: set[str] = field(default_factory=set)
    cap_done: bool = False
    registered: bool = False
    pending: set[str] = field(default_factory=set)  # channels (folded) whose JOIN is unanswered
    failed: dict[str, str] = field(default_factory=dict)  # folded → as configured: to retry later
    ready: bool = False
    drainer: asyncio.Task[None] | None = None
    userhost_reply: asyncio.Future[list[str]] | None = None  # the USERHOST the drainer is waiting for

    def abort(self) -> None:
        transport = getattr(self.conn, "transport", None)
        if transport is not None:
            transport.abort()


class IrcBackend(Backend):
    """A bot on one IRC network: joins CHANNELS as NICK, answers in channels and in private."""

    protocol = "irc"

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        channels: list[str],
        *,
        tls: bool = False,
        password: str | None = None,
        realname: str = "jarvis deployment bot",
        rate_limit: RateLimiter | None = None,
        backoff: Backoff | None = None,
        ping_interval: float = 30.0,
        ping_timeout: float = 60.0,
        connect_timeout: float = 30.0,
        max_queue: int = 200,
        max_line_bytes: int = 400,
        identity_timeout: float = 10.0,
    ) -> None:
        """PING_INTERVAL: idle seconds before the bot pings the server; PING_TIMEOUT: idle seconds
        after which the connection counts as dead; CONNECT_TIMEOUT: for TCP (and TLS) plus registration;
        MAX_QUEUE: reply lines kept while disconnected; IDENTITY_TIMEOUT: how long a private line waits
        for the server to say whose its nick is."""
        self.host = host
        self.port = port
        self._nick = nick
        self.channels = list(channels)
        self._tls = tls
        self._password = password
        self._realname = realname
        self._rate_limit = rate_limit or RateLimiter()
        self._backoff = backoff or Backoff()
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._connect_timeout = connect_timeout
        self.line_bytes = max_line_bytes
        self._identity_timeout = identity_timeout
        self._outbox = Outbox(self._rate_limit, max_queue)
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False
        self._session: _Session | None = None
        self._handler_tasks: set[asyncio.Task[None]] = set()

    @property
    def nick(self) -> str:
        session = self._session
        if session is not None and session.registered:
            return str(session.conn.get_nickname())
        return self._nick

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.ready

    async def run(self, on_message: MessageHandler) -> None:
        """Connect, and reconnect with backoff whenever the connection ends, until :meth:`stop`.

        Handlers still running when it returns are cancelled.
        """
        if self._running:
            raise RuntimeError("this IrcBackend is already running")
        self._running = True
        self._finished.clear()
        try:
            while not self._stopping.is_set():
                await self._connect_once(on_message)
                if self._stopping.is_set():
                    break
                delay = self._backoff.next_delay()
                log.info("reconnecting to %s:%d in %.1f s", self.host, self.port, delay)
                await self._until_stopped(asyncio.sleep(delay))
        finally:
            for task in list(self._handler_tasks):
                task.cancel()
            await asyncio.gather(*self._handler_tasks, return_exceptions=True)
            self._running = False
            self._finished.set()

    async def send(self, place: Place, text: str) -> None:
        """Queue TEXT for PLACE ahead of announcements, one PRIVMSG per line; while connected, return once written."""
        lines = self._lines(place, text)
        if not lines:
            return
        connected = self.connected
        done = self._outbox.reply(place, lines)
        if connected:
            await done

    async def announce(self, place: Place, text: str) -> bool:
        """Write TEXT to PLACE now, behind replies; True once the socket took every line of it."""
        lines = self._lines(place, text)
        return await self._outbox.announce(place, lines) if lines else True

    def _lines(self, place: Place, text: str) -> list[str]:
        if place.protocol != self.protocol:
            raise ValueError(f"IrcBackend cannot send to a {place.protocol} place")
        return split_message(text, self.line_bytes)

    async def stop(self) -> None:
        """Send QUIT, and wait (a few seconds at most) for :meth:`run` to return."""
        self._stopping.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), 10.0)

    # One connection, from TCP connect to its end.

    async def _connect_once(self, on_message: MessageHandler) -> None:
        loop = asyncio.get_running_loop()
        reactor = Reactor(loop=loop)
        conn = reactor.server()
        session = _Session(conn, pending={fold(channel) for channel in self.channels})
        self._install_handlers(reactor, session, on_message)
        self._session = session
        factory = irc.connection.AioFactory(ssl=ssl.create_default_context()) if self._tls else None
        log.info("connecting to IRC server %s:%d as %s", self.host, self.port, self._nick)
        try:
            await self._until_stopped(
                asyncio.wait_for(
                    conn.connect(
                        self.host,
                        self.port,
                        self._nick,
                        password=self._password,
                        username=self._nick,
                        ircname=self._realname,
                        **({"connect_factory": factory} if factory else {}),
                    ),
                    self._connect_timeout,
                )
            )
        except (OSError, TimeoutError) as exc:
            log.warning("cannot connect to IRC server %s:%d: %s", self.host, self.port, exc or "timed out")
            self._session = None
            return
        if not conn.connected:  # stopped while connecting
            self._session = None
            return
        lost: asyncio.Future[None] = conn.protocol.lost
        keepalive = loop.create_task(self._keepalive(session))
        try:
            await self._until_stopped(asyncio.shield(lost))
            if not lost.done():
                conn.disconnect(_QUIT_MESSAGE)  # QUIT, then close once it is written
                try:
                    await asyncio.wait_for(asyncio.shield(lost), 5.0)
                except TimeoutError:
                    session.abort()
                    await lost
        finally:
            if not lost.done():  # cancelled: do not leave the socket open
                session.abort()
            session.ready = False
            tasks = [keepalive] + ([session.drainer] if session.drainer else [])
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._session = None
            self._outbox.close()
        log.info("disconnected from IRC server %s:%d", self.host, self.port)

    async def _until_stopped(self, aw: Coroutine[Any, Any, _T] | asyncio.Future[_T]) -> _T | None:
        """Await AW unless stop() comes first; then cancel it and return None."""
        task = asyncio.ensure_future(aw)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None

    async def _keepalive(self, session: _Session) -> None:
        """Ping an idle server; drop a connection that stays silent or never registers."""
        tick = max(0.05, min(self._ping_interval, self._ping_timeout, 5.0) / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if not session.registered:
                if now - session.started > self._connect_timeout:
                    log.warning("IRC server %s:%d did not register us: reconnecting", self.host, self.port)
                    session.abort()
                    return
                continue
            idle = now - session.last_heard
            if idle >= self._ping_timeout:
                log.warning("IRC server %s:%d silent for %.0f s: reconnecting", self.host, self.port, idle)
                session.abort()
                return
            if idle >= self._ping_interval and now - session.last_ping >= self._ping_interval:
                session.last_ping = now
                session.conn.ping(f"jarvis-{int(now)}")
            if session.failed and now - session.last_join_retry >= self._ping_interval:
                session.last_join_retry = now
                self._retry_joins(session)

    def _retry_joins(self, session: _Session) -> None:
        for folded, channel in list(session.failed.items()):
            del session.failed[folded]
            session.conn.join(channel)

    # Events from the library (called in the loop, by the protocol's data_received).

    def _install_handlers(self, reactor: Any, session: _Session, on_message: MessageHandler) -> None:
        def handler(callback: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
            def guarded(conn: Any, event: Any) -> None:
                try:
                    callback(conn, event)
                except Exception:  # a bug here must not become a fatal protocol error
                    log.exception("error handling IRC %s event", event.type)

            return guarded

        def heard(conn: Any, event: Any) -> None:
            session.last_heard = time.monotonic()

        def cap(conn: Any, event: Any) -> None:
            if session.cap_done:
                return
            subcommand, *rest = event.arguments or [""]
            rest = rest or [""]
            if subcommand == "LS":
                session.caps.update(item.split("=", 1)[0] for item in rest[-1].split())
                if rest[0] == "*":  # more LS lines follow
                    return
                wanted = _WANTED_CAPS & session.caps
                if wanted:
                    conn.cap("REQ", ":" + " ".join(sorted(wanted)))
                    return
            elif subcommand not in ("ACK", "NAK"):
                return
            session.cap_done = True
            conn.cap("END")

        def nick_taken(conn: Any, event: Any) -> None:
            if session.registered:
                return
            taken = event.arguments[0] if event.arguments else conn.get_nickname()
            log.info("nick %s is taken on %s:%d: trying %s_", taken, self.host, self.port, taken)
            conn.nick(taken + "_")

        def welcome(conn: Any, event: Any) -> None:
            session.registered = True
            session.cap_done = True
            self._backoff.reset()
            log.info("registered on IRC server %s:%d as %s", self.host, self.port, conn.get_nickname())
            for channel in self.channels:
                conn.join(channel)
            settle(conn)

        def join(conn: Any, event: Any) -> None:
            if fold(event.source.nick) != fold(conn.get_nickname()):
                return
            log.info("joined %s", event.target)
            session.pending.discard(fold(event.target))
            settle(conn)

        def join_failed(conn: Any, event: Any) -> None:
            channel = event.arguments[0] if event.arguments else ""
            configured = {fold(c): c for c in self.channels}
            if fold(channel) not in configured:
                return
            reason = event.arguments[-1] if len(event.arguments) > 1 else event.type
            log.warning("cannot join %s: %s (will retry)", channel, reason)
            session.pending.discard(fold(channel))
            session.failed[fold(channel)] = configured[fold(channel)]
            settle(conn)

        def kicked(conn: Any, event: Any) -> None:
            if event.arguments and fold(event.arguments[0]) == fold(conn.get_nickname()):
                log.warning("kicked from %s by %s (will rejoin)", event.target, event.source.nick)
                session.failed[fold(event.target)] = event.target

        def settle(conn: Any) -> None:
            """Ready once registered and every JOIN is answered; then start writing the outbox."""
            if session.ready or not session.registered or session.pending:
                return
            session.ready = True
            log.info("connected to %s:%d, in %s", self.host, self.port, ", ".join(self.channels) or "no channel")
            drain = self._outbox.drain(lambda line: self._write(session, line))
            session.drainer = asyncio.get_running_loop().create_task(drain)

        def message(conn: Any, event: Any) -> None:
            source = event.source
            if not source or "!" not in source or not event.arguments:
                return  # from the server itself, not from a person
            if fold(source.nick) == fold(conn.get_nickname()):
                return
            private = event.type == "privmsg"
            account = next((tag["value"] for tag in event.tags or () if tag["key"] == "account"), None)
            msg = Message(
                place=Place(self.protocol, source.nick if private else event.target, private),
                sender=Identity(self.protocol, id=str(source), nick=source.nick, account=account),
                text=event.arguments[0],
            )
            log.debug("message from %s in %s (%d chars)", msg.sender.id, msg.place.target, len(msg.text))
            task = asyncio.get_running_loop().create_task(self._deliver(on_message, msg))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)

        def error(conn: Any, event: Any) -> None:
            log.info("IRC server %s:%d closes: %s", self.host, self.port, event.target)

        def bad_nick(conn: Any, event: Any) -> None:
            log.error("IRC server %s:%d refuses the nick: %s", self.host, self.port, " ".join(event.arguments))

        def cannot_send(conn: Any, event: Any) -> None:
            log.warning("cannot send to %s: %s", event.arguments[0], event.arguments[-1])

        def userhost(conn: Any, event: Any) -> None:
            waiter = session.userhost_reply
            if waiter is not None and not waiter.done():
                waiter.set_result(" ".join(event.arguments or ()).split())

        reactor.add_global_handler("all_raw_messages", handler(heard), -50)
        for event_type, callback in (
            ("cap", cap),
            ("nicknameinuse", nick_taken),
            ("unavailresource", nick_taken),
            ("erroneusnickname", bad_nick),
            ("welcome", welcome),
            ("join", join),
            ("kick", kicked),
            ("pubmsg", message),
            ("privmsg", message),
            ("error", error),
            ("cannotsendtochan", cannot_send),
            ("nosuchnick", cannot_send),
            ("userhost", userhost),
            *((failure, join_failed) for failure in _JOIN_FAILURES),
        ):
            reactor.add_global_handler(event_type, handler(callback))

    async def _deliver(self, on_message: MessageHandler, msg: Message) -> None:
        try:
            await on_message(self, msg)
        except Exception:
            log.exception("message handler failed on a message from %s", msg.sender.id)

    # Writing the outbox.

    async def _write(self, session: _Session, line: Outgoing) -> None:
        """Write LINE as one PRIVMSG and wait until the socket took it; a private line only to its identity."""
        target = line.place.target
        if line.place.private and line.place.identity:
            holder = await self._holder(session, target)
            if holder is None or not same_mask(holder, line.place.identity):
                log.warning(
                    "not sending to %s: the nick is %s, not %s's who asked there; line dropped",
                    target,
                    f"now {holder}'s" if holder else "not in use (or the server did not say)",
                    line.place.identity,
                )
                return
        try:
            session.conn.privmsg(target, line.text)
        except irc.client.MessageTooLong:
            log.warning("line to %s too long for IRC: dropped", target)
            return
        except irc.client.InvalidCharacters:
            log.warning("line to %s has invalid characters: dropped", target)
            return
        except irc.client.ServerNotConnectedError as exc:
            raise ConnectionError(str(exc)) from exc
        await until_drained(getattr(session.conn, "transport", None), lambda: not session.ready)

    async def _holder(self, session: _Session, nick: str) -> str | None:
        """The nick!user@host that holds NICK now, as the server says (USERHOST), or None."""
        reply: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        session.userhost_reply = reply
        try:
            session.conn.userhost([nick])
            entries = await asyncio.wait_for(reply, self._identity_timeout)
        except TimeoutError:
            log.warning("no USERHOST answer about %s within %.0f s", nick, self._identity_timeout)
            return None
        finally:
            session.userhost_reply = None
        for entry in entries:  # nick[*]=[+-]user@host; * marks an operator, +/- here/away
            name, sep, userhost = entry.partition("=")
            if sep and fold(name.rstrip("*")) == fold(nick):
                return f"{name.rstrip('*')}!{userhost[1:]}"
        return None
