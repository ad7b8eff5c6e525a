"""A person on the sandbox's XMPP server, for tests: logs in, joins rooms, talks, waits for answers.

A plain slixmpp client over the sandbox's plaintext loopback stream. Everything it receives is
kept in ``received``; :meth:`XmppPerson.expect` waits for the next message from a given sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from slixmpp import JID, ClientXMPP
from slixmpp.stanza import Message as XmppMessage

from sandbox.prosody import XmppInfo

__all__ = ["Heard", "XmppPerson"]


@dataclass(frozen=True)
class Heard:
    """One message the person received."""

    sender: str  # full JID: "room@muc/nick" in a room, "user@domain/resource" in private
    kind: str  # groupchat, chat, normal
    body: str
    delayed: bool  # room history or another delayed message


class XmppPerson:
    """USER of the sandbox's Prosody, used as ``async with XmppPerson(info, "alice") as alice:``."""

    def __init__(self, info: XmppInfo, user: str, resource: str = "test") -> None:
        self.info = info
        self.jid = JID(f"{info.jid(user)}/{resource}")
        self.received: list[Heard] = []
        self._consumed: set[int] = set()  # indexes into received that expect() returned already
        self._arrived = asyncio.Event()
        self._session = asyncio.Event()
        self._client = ClientXMPP(self.jid, info.passwords[user])
        for plugin in ("xep_0030", "xep_0045", "xep_0203"):
            self._client.register_plugin(plugin)
        self._client.enable_plaintext = True
        self._client.enable_starttls = False
        self._client.enable_direct_tls = False
        self._client.plugin["feature_mechanisms"].unencrypted_plain = True
        self._client.add_event_handler("session_start", lambda _event: self._session.set())
        self._client.add_event_handler("message", self._on_message)

    async def __aenter__(self) -> XmppPerson:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self, timeout: float = 10.0) -> None:
        self._client.connect(self.info.host, self.info.port)
        await asyncio.wait_for(self._session.wait(), timeout)
        self._client.send_presence()

    async def close(self) -> None:
        if self._client.transport is not None:
            await self._client.disconnect(wait=1.0)
        self._client.cancel_connection_attempt()
        sender = getattr(self._client, "_run_out_filters", None)
        if isinstance(sender, asyncio.Future):
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def join(self, room: str, nick: str, timeout: float = 10.0) -> None:
        """Join ROOM as NICK, taking whatever history the room offers (it lands in ``received``)."""
        await self._client.plugin["xep_0045"].join_muc_wait(JID(room), nick, timeout=timeout)

    async def hide_real_jids(self, room: str) -> None:
        """As the room's owner, show occupants' real JIDs to moderators only (a semi-anonymous room)."""
        muc = self._client.plugin["xep_0045"]
        form = await muc.get_room_config(JID(room))
        form.get_fields(use_dict=True)["muc#roomconfig_whois"]["value"] = "moderators"
        await muc.set_room_config(JID(room), form)

    def say(self, room: str, text: str) -> None:
        self._client.send_message(mto=JID(room), mbody=text, mtype="groupchat")

    def tell(self, jid: str, text: str, *, delayed: bool = False) -> None:
        """A private chat message to JID; DELAYED marks it as sent an hour ago (XEP-0203)."""
        message = self._client.make_message(mto=JID(jid), mbody=text, mtype="chat")
        if delayed:
            message["delay"]["stamp"] = datetime.now(UTC) - timedelta(hours=1)
            message["delay"]["from"] = self.jid.bare
        message.send()

    async def expect(self, sender: str, timeout: float = 5.0) -> Heard:
        """The next unread message from SENDER (a bare JID, or a full one like "room@muc/nick")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, heard in enumerate(self.received):
                if index not in self._consumed and _matches(heard.sender, sender):
                    self._consumed.add(index)
                    return heard
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.jid.bare} heard nothing from {sender} in {timeout:.1f} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _on_message(self, stanza: XmppMessage) -> None:
        if stanza["type"] == "error" or not stanza["body"]:
            return
        delayed = stanza.get_plugin("delay", check=True) is not None
        self.received.append(Heard(stanza["from"].full, stanza["type"], stanza["body"], delayed))
        self._arrived.set()


def _matches(full: str, wanted: str) -> bool:
    return full == wanted if "/" in wanted else JID(full).bare == JID(wanted).bare
