"""Design URLs: only public addresses unless allowed, one deadline per fetch; the bot never parses on its loop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.access import AccessControl
from bot.backends.base import Identity, Message, Place
from bot.core import Command, CommandCore
from bot.sources import SourceError, UrlPolicy, _vet, address_problem, fetch_url
from orchestrator.errors import DesignError
from orchestrator.pinned import pinned_design
from orchestrator.store import StoredDesign
from sandbox.designs import make_certificate

PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]
NOT_PUBLIC = {
    "127.0.0.1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # the cloud metadata service
    "0.0.0.0": "unspecified",
    "0.1.2.3": "0.0.0.0/8",
    "100.64.0.1": "shared address space",
    "100.127.255.254": "shared address space",
    "192.0.0.8": "192.0.0.0/24",
    "192.0.2.1": "private",  # TEST-NET-1
    "192.88.99.1": "6to4 relay",
    "198.18.0.1": "benchmarking",
    "198.19.255.255": "benchmarking",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "private",
    "255.255.255.255": "private",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "fec0::1": "site-local",
    "ff0e::1": "multicast",
    "2001:db8::1": "private",
    "::ffff:127.0.0.1": "IPv4-mapped address of 127.0.0.1, a loopback",
    "::ffff:10.0.0.1": "IPv4-mapped address of 10.0.0.1, a private",
    "::ffff:100.64.0.1": "IPv4-mapped address of 100.64.0.1, shared address space",
    "::ffff:169.254.169.254": "IPv4-mapped address of 169.254.169.254, a link-local",
    "::127.0.0.1": "IPv4-compatible",
    "2002:7f00:1::1": "6to4 address (2002::/16, a tunnel to 127.0.0.1)",
    "2002:a00:1::1": "a tunnel to 10.0.0.1",
    "2002:808:808::1": "a tunnel to 8.8.8.8",  # 6to4 is not global whatever it embeds
    "64:ff9b::7f00:1": "NAT64 address of 127.0.0.1, a loopback",
    "64:ff9b::a9fe:a9fe": "NAT64 address of 169.254.169.254",
    "64:ff9b:1::a00:1": "local-use NAT64",
    "2001::1": "Teredo",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
    "100::1": "private",  # discard-only
    "4000::1": "reserved",
}


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_have_no_problem(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "problem"), sorted(NOT_PUBLIC.items()))
def test_every_non_public_address_class_is_named(address: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(address))
    assert found is not None and problem in found


def vet(url: str, **policy: Any) -> str:
    parts = urlsplit(url)
    return _vet(parts, UrlPolicy(allowed_hosts=[parts.hostname or ""], **policy), time.monotonic() + 5)


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_literal_address_is_the_one_connected_to(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    assert ipaddress.ip_address(vet(f"https://{host}/design.yml")) == ipaddress.ip_address(address)


@pytest.mark.parametrize("address", sorted(NOT_PUBLIC))
def test_non_public_literal_addresses_are_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(SourceError, match="not allowed|only public addresses") as caught:
        vet(f"https://{host}/design.yml")
    assert NOT_PUBLIC[address] in str(caught.value)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "100.64.0.1", "::ffff:127.0.0.1", "fd00::1"])
def test_allow_private_lets_internal_addresses_through(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    assert vet(f"https://{host}/x", allow_private=True)


@pytest.mark.parametrize("address", ["0.0.0.0", "224.0.0.1", "ff02::1", "::", "::ffff:0.0.0.0", "::ffff:224.0.0.1"])
def test_unspecified_and_multicast_are_refused_even_when_private_is_allowed(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(SourceError, match="not allowed"):
        vet(f"https://{host}/x", allow_private=True)


def test_every_address_a_name_resolves_to_is_vetted(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [("8.8.8.8", 443), ("10.0.0.7", 443)]

    def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", answer) for answer in answers]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(SourceError, match="designs.example.com resolves to 10.0.0.7, a private address"):
        vet("https://designs.example.com/x")
    answers.pop()
    assert vet("https://designs.example.com/x") == "8.8.8.8"


def test_a_slow_name_lookup_counts_against_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        time.sleep(3)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    policy = UrlPolicy(allowed_hosts=["designs.example.com"], timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no complete answer within 0\.5s"):
        fetch_url("https://designs.example.com/x", policy)
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://gist.github.com/x", "only https://"),
        ("ftp://gist.github.com/x", "only https://"),
        ("https://user:pw@gist.github.com/x", "credentials"),
        ("https://evil.example.com/x", "not an allowed design host"),
        ("https://gist.github.com:99999/x", "Port out of range"),
        ("https://[::1/x", "not a valid URL"),
    ],
)
def test_urls_outside_the_policy_are_refused_before_any_lookup(url: str, problem: str) -> None:
    with pytest.raises(SourceError, match=problem):
        fetch_url(url, UrlPolicy())


# --- against real local HTTP servers -----------------------------------------------------------------

Handler = Callable[[socket.socket, str], None]


@contextlib.contextmanager
def http_server(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A plain-socket HTTP(S) server on 127.0.0.1 calling HANDLER(connection, path) per request; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn = tls.wrap_socket(conn, server_side=True) if tls else conn
        with conn, contextlib.suppress(OSError):
            request = b""
            while b"\r\n\r\n" not in request and (data := conn.recv(4096)):
                request += data
            if request:
                handler(conn, request.split(b" ", 2)[1].decode())

    def accept() -> None:
        while not stopped.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopped.set()
        listener.close()


LOCAL = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True, allow_http=True, timeout=1.0)


def trickle(data: bytes, every: float = 0.2) -> Handler:
    def handler(conn: socket.socket, path: str) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return handler


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"#" * 100,  # headers at once, then the body trickles
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",  # the headers themselves trickle
    ],
    ids=["body", "headers"],
)
def test_a_trickling_server_is_cut_off_at_the_deadline(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")

    def handler(conn: socket.socket, path: str) -> None:
        if body == b"ok":
            trickle(answer)(conn, path)
        else:
            conn.sendall(head + b"\r\n\r\n")
            trickle(body)(conn, path)

    with http_server(handler) as url:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"no complete answer within 1s") as caught:
            fetch_url(url + "/design.yml", LOCAL)
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5, elapsed
    assert str(caught.value).startswith(url)


def test_the_deadline_is_shared_by_every_redirect() -> None:
    def handler(conn: socket.socket, path: str) -> None:
        time.sleep(0.4)  # each answer alone is well within the deadline
        step = int(path.strip("/") or 0)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: /{step + 1}\r\nContent-Length: 0\r\n\r\n".encode())

    with http_server(handler) as url:
        started = time.monotonic()
        with pytest.raises(SourceError, match="no complete answer within 1s"):
            fetch_url(url + "/0", LOCAL)
        assert time.monotonic() - started < 2.5


def test_a_prompt_server_is_read_whole() -> None:
    body = b"instances: []\n" * 500

    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    with http_server(handler) as url:
        assert fetch_url(url + "/d.yml", LOCAL) == body


def test_an_http_1_0_answer_read_after_the_connection_is_handed_over_is_read_whole() -> None:
    """http.client closes the connection as soon as it knows the answer ends with it; reading goes on."""
    body = b"# design\n" * 4000

    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/yaml\r\n\r\n")
        time.sleep(0.1)
        for start in range(0, len(body), 9000):
            conn.sendall(body[start : start + 9000])
            time.sleep(0.02)

    with http_server(handler) as url:
        assert fetch_url(url + "/d.yml", LOCAL) == body


def test_a_chunked_answer_is_read_whole() -> None:
    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    with http_server(handler) as url:
        assert fetch_url(url + "/d.yml", LOCAL) == b"hello world"


def test_a_truncated_answer_is_refused() -> None:
    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\ninstances: []\n")

    with http_server(handler) as url, pytest.raises(SourceError, match="36 bytes short"):
        fetch_url(url + "/d.yml", LOCAL)


def test_an_answer_over_the_size_limit_is_refused_without_content_length() -> None:
    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"#" * 5000)

    policy = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True, allow_http=True, max_bytes=1000)
    with http_server(handler) as url, pytest.raises(SourceError, match="larger than 1000 bytes"):
        fetch_url(url + "/d.yml", policy)


def test_loopback_is_refused_unless_private_addresses_are_allowed() -> None:
    with http_server(trickle(b"")) as url:
        policy = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_http=True, timeout=1.0)
        with pytest.raises(SourceError, match="127.0.0.1 resolves to 127.0.0.1, a loopback address: only public"):
            fetch_url(url + "/d.yml", policy)


def test_every_redirect_is_checked_again() -> None:
    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 301 Moved\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n\r\n")

    with http_server(handler) as url, pytest.raises(SourceError, match="169.254.169.254 is not an allowed design host"):
        fetch_url(url + "/d.yml", LOCAL)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_is_pinned_to_the_vetted_address_and_checks_the_certificate(certificate: tuple[Path, Path]) -> None:
    def handler(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\ninstances: []\n")

    trusted = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True, timeout=2.0, ca_file=str(certificate[0]))
    with http_server(handler, tls_server_context(certificate)) as url:
        assert fetch_url(url + "/d.yml", trusted) == b"instances: []\n"
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            fetch_url(url + "/d.yml", UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True, timeout=2.0))


def test_a_trickling_https_server_is_cut_off_at_the_deadline(certificate: tuple[Path, Path]) -> None:
    policy = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True, timeout=1.0, ca_file=str(certificate[0]))
    with http_server(trickle(b"HTTP/1.1 200 OK\r\n\r\n" + b"#" * 50), tls_server_context(certificate)) as url:
        started = time.monotonic()
        with pytest.raises(SourceError, match="no complete answer within 1s"):
            fetch_url(url + "/d.yml", policy)
        assert 0.9 <= time.monotonic() - started < 2.5


def test_a_server_that_never_finishes_the_tls_handshake_is_cut_off() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does), never answers
    try:
        policy = UrlPolicy(allowed_hosts=["127.0.0.1"], allow_private=True, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(SourceError, match="no complete answer within 1s"):
            fetch_url(f"https://127.0.0.1:{listener.getsockname()[1]}/d.yml", policy)
        assert time.monotonic() - started < 2.5
    finally:
        listener.close()


# --- the bot parses designs off its event loop --------------------------------------------------------


class RecordingSources:
    """Design sources that note the thread they were called on, and refuse every design."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def load(self, spec: str) -> Any:
        self.threads.append(threading.current_thread())
        raise DesignError("design", "expands to more than 20000 YAML nodes through its aliases")


@pytest.mark.parametrize("command", ["deploy", "plan", "redeploy"])
def test_the_bot_loads_and_parses_designs_off_its_event_loop(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command that reads a design (from a URL, LDAP or a file) does it in a worker thread.

    (destroy, and redeploy without from-source, read it only to compare: tests/unit/test_chat_forms.py.)"""
    monkeypatch.setattr("orchestrator.service.redeploy_facts", lambda config, host: {"jarvis_production": False})
    sources = RecordingSources()
    last = SimpleNamespace(source="cn=loki")
    built = StoredDesign("D0", "deploy", "successful", "cn=loki", "cn=loki", None, None, [{"hostname": "loki"}], {}, 0)
    orchestrator = SimpleNamespace(
        config=None, host_status=lambda name: last, pinned=lambda name: (pinned_design(built, [name]), built)
    )
    core = CommandCore(orchestrator, sources, AccessControl.from_config({"destroy": ["test:*"]}))  # type: ignore[arg-type]
    message = Message(Place("test", "#ops", False), Identity("test", "alice!a@example.com", "alice"), "")
    args = {"deploy": ["cn=loki"], "plan": ["cn=loki"], "redeploy": ["loki", "from-source"]}[command]

    async def ask() -> tuple[list[str], threading.Thread]:
        return await core.answer(None, message, Command(command, args)), threading.current_thread()  # type: ignore[arg-type]

    answer, loop_thread = asyncio.run(ask())
    assert answer == ["alice: design: expands to more than 20000 YAML nodes through its aliases"]
    assert len(sources.threads) == 1 and sources.threads[0] is not loop_thread
