"""The IRC wire, private to the IRC backend: the library's connection with jarvis's changes, and lines.

Lines are cut to fit one PRIVMSG; nicks and ``nick!user@host`` masks compare as IRC folds case.
"""

from __future__ import annotations

import asyncio
from typing import Any

import irc.strings
from irc.client_aio import AioConnection, AioReactor, IrcProtocol
from jaraco.stream.buffer import LenientDecodingLineBuffer

__all__ = ["Reactor", "fold", "same_mask", "split_message"]


def split_message(text: str, limit: int = 400) -> list[str]:
    """Split TEXT into the lines of one PRIVMSG each: no CR, LF or NUL, at most LIMIT bytes of UTF-8.

    Long lines are cut at the last space that fits, or mid-word if a word alone is too long; blank
    lines are dropped (IRC cannot send an empty message).
    """
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.replace("\0", "").rstrip()
        while line.strip():
            encoded = line.encode()
            if len(encoded) <= limit:
                lines.append(line)
                break
            fits = encoded[:limit].decode(errors="ignore")  # the longest prefix cut at a character
            if line[len(fits)] == " ":  # the cut falls on a space already
                cut = len(fits)
            else:
                space = fits.rfind(" ")
                cut = space if space > 0 and fits[:space].strip() else len(fits)
            lines.append(fits[:cut].rstrip())
            line = line[cut:].lstrip(" ")
    return lines


class _Protocol(IrcProtocol):  # type: ignore[misc]
    """The library's protocol, plus: open with ``CAP LS`` and tell when the connection is gone."""

    def __init__(self, connection: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(connection, loop)
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Before NICK and USER (the library sends them next): the server then holds registration
        # until CAP END, so capabilities are settled before the welcome.
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(b"CAP LS 302\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if not self.lost.done():
                self.lost.set_result(None)


class _Connection(AioConnection):  # type: ignore[misc]
    protocol_class = _Protocol
    # People paste Latin-1 too; a strict decoder would make one such line a fatal protocol error.
    buffer_class = LenientDecodingLineBuffer


class Reactor(AioReactor):  # type: ignore[misc]
    connection_class = _Connection


def fold(name: str) -> str:
    return str(irc.strings.lower(name))


def same_mask(one: str, other: str) -> bool:
    """Whether two nick!user@host masks are the same (nick and host compared without case)."""
    nick, _, userhost = one.partition("!")
    other_nick, _, other_userhost = other.partition("!")
    user, _, host = userhost.rpartition("@")
    other_user, _, other_host = other_userhost.rpartition("@")
    return fold(nick) == fold(other_nick) and user == other_user and host.lower() == other_host.lower()
