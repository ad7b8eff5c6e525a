"""A person on IRC, for tests: a plain blocking socket that registers, joins, talks and listens.

Deliberately independent of the ``irc`` library the bot uses, so a test sees what the server
really sends.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class IrcLine:
    """One line from the server, parsed; ``received`` is a time.monotonic() stamp."""

    prefix: str
    command: str
    params: list[str]
    received: float

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0]

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def parse_line(raw: str, received: float = 0.0) -> IrcLine:
    """Parse ``[@tags] [:prefix] COMMAND params [:trailing]`` (tags are dropped)."""
    if raw.startswith("@"):
        raw = raw.split(" ", 1)[1] if " " in raw else ""
    prefix = ""
    if raw.startswith(":"):
        prefix, _, raw = raw[1:].partition(" ")
    head, sep, trailing = raw.partition(" :")
    words = head.split()
    command, params = (words[0].upper() if words else ""), words[1:]
    if sep:
        params.append(trailing)
    return IrcLine(prefix, command, params, received)


class IrcPerson:
    """Connect as NICK and register; use as a context manager so the socket is always closed."""

    def __init__(self, host: str, port: int, nick: str, user: str = "user", timeout: float = 5.0) -> None:
        self.nick = nick
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""
        self.seen: list[IrcLine] = []  # every line received and not yet consumed by a wait
        try:
            self.send_raw(f"NICK {nick}")
            self.send_raw(f"USER {user} 0 * :A person in a test")
            self.wait_for(lambda line: line.command == "001", timeout)
        except BaseException:
            self._sock.close()
            raise

    def __enter__(self) -> IrcPerson:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT (if the server is still there) and close the socket."""
        with contextlib.suppress(OSError):
            self.send_raw("QUIT :bye")
        self._sock.close()

    def send_raw(self, line: str) -> None:
        self._sock.sendall(line.encode() + b"\r\n")

    def join(self, channel: str, timeout: float = 5.0) -> None:
        """Join CHANNEL and wait until the server lists its members (the join is complete)."""
        self.send_raw(f"JOIN {channel}")
        self.wait_for(lambda line: line.command == "366" and line.params[1:2] == [channel], timeout)

    def say(self, target: str, text: str) -> None:
        self.send_raw(f"PRIVMSG {target} :{text}")

    def wait_for(self, matches: Callable[[IrcLine], bool], timeout: float = 5.0) -> IrcLine:
        """Return the first line (earlier ones included) that MATCHES; raise TimeoutError if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            for index, line in enumerate(self.seen):
                if matches(line):
                    del self.seen[index]
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.nick}: no matching line within {timeout} s; saw {self.seen[-5:]}")
            self._receive(remaining)

    def messages_from(self, nick: str, count: int, timeout: float = 5.0, target: str | None = None) -> list[IrcLine]:
        """Wait for COUNT PRIVMSGs from NICK (to TARGET, if given), in the order they came."""
        return [
            self.wait_for(
                lambda line: (
                    line.command == "PRIVMSG" and line.nick == nick and (target is None or line.params[0] == target)
                ),
                timeout,
            )
            for _ in range(count)
        ]

    def _receive(self, timeout: float) -> None:
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            raise ConnectionError(f"{self.nick}: the server closed the connection")
        now = time.monotonic()
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\r\n")
        for raw in lines:
            line = parse_line(raw.decode(errors="replace"), now)
            if line.command == "PING":
                self.send_raw(f"PONG :{line.text}")
            else:
                self.seen.append(line)
