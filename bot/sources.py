"""Where a design named in chat comes from: an HTTPS URL, an LDAP entry (``cn=loki``) or a file.

Each source is guarded: URLs only from allowed hosts, only from public (globally routable)
addresses unless config allows private ones, with a size limit, one deadline for the whole fetch
and every redirect re-checked; LDAP names
are hostnames and escaped besides; files only under configured directories. The document then
goes through the orchestrator's safe YAML loader and design validation.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from orchestrator import (
    MAX_DESIGN_BYTES,
    CmdbError,
    Design,
    DesignPolicy,
    Directory,
    JarvisError,
    load_design_file,
    parse_design,
    read_entry,
)

GIST_PAGE = re.compile(r"^/(?:(?P<user>[A-Za-z0-9-]+)/)?(?P<id>[0-9a-f]+)(?:/(?P<revision>[0-9a-f]{40}))?/?$")
MAX_REDIRECTS = 3
READ_CHUNK = 16 * 1024


class SourceError(JarvisError):
    """A design source that is not allowed, not reachable, or not there."""


@dataclass
class UrlPolicy:
    allowed_hosts: list[str] = field(default_factory=lambda: ["gist.github.com", "gist.githubusercontent.com"])
    allow_private: bool = False  # loopback, private, link-local, reserved and other non-public addresses (the sandbox)
    allow_http: bool = False
    max_bytes: int = MAX_DESIGN_BYTES
    timeout: float = 10.0  # seconds for a whole fetch: lookup, connect, redirects, every byte
    ca_file: str | None = None

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for allowed in self.allowed_hosts:
            allowed = allowed.lower()
            if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
                return True
        return False


LdapSource = Directory  # where designs kept in LDAP are: the CMDB's directory


def gist_raw_url(url: str) -> str:
    """A gist's page URL turned into its raw form, keeping the revision it names; other URLs unchanged."""
    parts = urlsplit(url)
    match = GIST_PAGE.match(parts.path)
    if parts.hostname == "gist.github.com" and match:
        user = f"{match['user']}/" if match["user"] else ""
        revision = f"/{match['revision']}" if match["revision"] else ""
        return f"https://gist.githubusercontent.com/{user}{match['id']}/raw{revision}"
    return url


class DesignSources:
    """Loads designs for the bot; every method raises SourceError or DesignError with a clear message."""

    def __init__(
        self,
        url_policy: UrlPolicy,
        directories: list[Path],
        ldap: LdapSource | None,
        design_policy: DesignPolicy | None = None,
    ) -> None:
        self.url_policy = url_policy
        self.directories = [directory.resolve() for directory in directories]
        self.ldap = ldap
        # The config's (Config.design_policy); by default no gitosis-admin remote and no zone is allowed.
        self.design_policy = design_policy or DesignPolicy(gitosis_allowed=(), zones=())

    def load(self, spec: str) -> Design:
        """A design from ``https://…``, ``cn=NAME`` or a path; blocking (run it in a thread)."""
        spec = spec.strip()
        if re.match(r"^[a-z][a-z0-9+.-]*://", spec, re.IGNORECASE):
            body, resolved = fetch_url_resolved(spec, self.url_policy)
            return parse_design(body, spec, policy=self.design_policy, resolved_source=resolved)
        if spec.lower().startswith("cn="):
            return self._from_ldap(spec[3:])
        return self._from_file(spec)

    def host_entry(self, name: str) -> dict[str, list[str]] | None:
        """The CMDB entry of host NAME (attribute -> values), or None."""
        if self.ldap is None:
            raise SourceError("no LDAP directory is configured")
        try:
            return read_entry(self.ldap, name.lower())
        except CmdbError as exc:
            raise SourceError(str(exc)) from None

    def _from_ldap(self, name: str) -> Design:
        entry = self.host_entry(name)
        if entry is None:
            raise SourceError(f"cn={name} is not in {self.ldap.base_dn if self.ldap else 'LDAP'}")
        documents = entry.get("jarvisDesign") or []
        if not documents:
            raise SourceError(f"cn={name} has no jarvisDesign attribute holding its design")
        return parse_design(documents[0], f"cn={name.lower()}", policy=self.design_policy)

    def _from_file(self, spec: str) -> Design:
        path = Path(spec).expanduser().resolve()
        if not any(path.is_relative_to(directory) for directory in self.directories):
            allowed = ", ".join(str(d) for d in self.directories) or "none configured"
            raise SourceError(f"{spec} is not under a design directory ({allowed})")
        return load_design_file(path, policy=self.design_policy)


def fetch_url(url: str, policy: UrlPolicy) -> bytes:
    """GET a design over HTTPS from an allowed host, re-checking every redirect; at most max_bytes.

    The whole fetch, from the first name lookup to the last byte across every redirect, has one
    deadline (``policy.timeout``), so a server that trickles its answer is cut off.
    """
    return fetch_url_resolved(url, policy)[0]


def fetch_url_resolved(url: str, policy: UrlPolicy) -> tuple[bytes, str]:
    """:func:`fetch_url`'s body and the URL it finally came from (after redirects: a gist's revision)."""
    deadline = time.monotonic() + policy.timeout
    try:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                url = gist_raw_url(url)
                parts = urlsplit(url)
            except ValueError as exc:
                raise SourceError(f"{url} is not a valid URL: {exc}") from None
            body, location = _get(url, parts, _vet(parts, policy, deadline), policy, deadline)
            if location is None:
                return body, url
            try:
                url = urljoin(url, location)
            except ValueError as exc:
                raise SourceError(f"{url} redirects to {location!r}, not a valid URL: {exc}") from None
    except TimeoutError:
        raise SourceError(
            f"{url}: no complete answer within {policy.timeout:g}s, the time a design fetch may take "
            "(redirects included); giving up"
        ) from None
    raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")


# Not public although Python 3.11's is_global says so, or worth naming (RFC 6890 and the IANA registries).
SPECIAL_NETWORKS = [
    (ipaddress.ip_network(network), name)
    for network, name in (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("100.64.0.0/10", "shared address space (100.64.0.0/10, carrier-grade NAT)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.88.99.0/24", "the 6to4 relay anycast range (192.88.99.0/24)"),
        ("198.18.0.0/15", "the benchmarking range (198.18.0.0/15)"),
        ("2001::/32", "a Teredo tunnel address (2001::/32)"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (64:ff9b:1::/48)"),
        ("::/96", "an IPv4-compatible address (::/96, deprecated)"),
        ("fec0::/10", "a site-local address (fec0::/10, deprecated)"),
    )
]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why IP is not a public internet address, or None: ``is_global`` plus what Python 3.11 misses."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _embedded_problem("an IPv4-mapped address", ip.ipv4_mapped)
        if ip.sixtofour is not None:  # a tunnel to whatever IPv4 address it embeds (RFC 7526: deprecated)
            return f"a 6to4 address (2002::/16, a tunnel to {ip.sixtofour})"
        if ip in NAT64:  # what DNS64 answers on an IPv6-only network: as public as the IPv4 address inside
            return _embedded_problem("a NAT64 address", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for check, name in (
        ("is_unspecified", "the unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
    ):
        if getattr(ip, check):
            return name
    for network, name in SPECIAL_NETWORKS:
        if ip.version == network.version and ip in network:
            return name
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded_problem(kind: str, embedded: ipaddress.IPv4Address) -> str | None:
    problem = address_problem(embedded)
    return f"{kind} of {embedded}, {problem}" if problem else None


def _vet(parts: Any, policy: UrlPolicy, deadline: float) -> str:
    """Check scheme, host and every address it resolves to; return the address to connect to."""
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_http):
        raise SourceError(f"{parts.geturl()}: only https:// URLs are allowed")
    if parts.username or parts.password:
        raise SourceError(f"{parts.geturl()}: credentials in URLs are not allowed")
    host = parts.hostname or ""
    if not policy.host_allowed(host):
        raise SourceError(f"{host or parts.geturl()} is not an allowed design host ({', '.join(policy.allowed_hosts)})")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise SourceError(f"{parts.geturl()}: {exc}") from None
    addresses = _resolve(host, port, deadline)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        problem = address_problem(ip)
        effective = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        if effective.is_unspecified or effective.is_multicast:
            raise SourceError(f"{host} resolves to {address}, {problem}: not allowed")
        if problem and not policy.allow_private:
            raise SourceError(
                f"{host} resolves to {address}, {problem}: "
                "only public addresses are allowed, not loopback or private ones"
            )
    return addresses[0]


def _resolve(host: str, port: int, deadline: float) -> list[str]:
    """The addresses HOST resolves to, within the deadline (getaddrinfo has no timeout of its own)."""
    answer: list[list[str] | Exception] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.append([str(info[4][0]) for info in infos])
        except (OSError, UnicodeError) as exc:
            answer.append(exc)

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(_remaining(deadline))  # a lookup still running then ends on its own, unheeded
    if not answer:
        raise TimeoutError(f"resolving {host}")
    if isinstance(answer[0], Exception):
        raise SourceError(f"cannot resolve {host}: {answer[0]}")
    if not answer[0]:
        raise SourceError(f"cannot resolve {host}: no addresses")
    return answer[0]


def _remaining(deadline: float) -> float:
    """Seconds left before DEADLINE (a time.monotonic() value); TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the fetch's deadline has passed")
    return left


def _get(url: str, parts: Any, address: str, policy: UrlPolicy, deadline: float) -> tuple[bytes, str | None]:
    """GET the URL from the vetted ADDRESS (no second DNS lookup): (body, None) or (b"", redirect location).

    TimeoutError (the deadline) passes through; every other failure is a SourceError.
    """
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=policy.ca_file)
        connection = _PinnedHTTPSConnection(host, address, port, deadline, context)
    else:
        connection = _PinnedHTTPConnection(host, address, port, deadline)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        connection.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "jarvis", "Accept": "*/*"})
        response = connection.getresponse()
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            if not location:
                raise SourceError(f"{url} redirects nowhere")
            return b"", location
        if response.status != 200:
            raise SourceError(f"{url} answered {response.status} {response.reason}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > policy.max_bytes:
            raise SourceError(f"{url} is {length} bytes; the limit is {policy.max_bytes}")
        body = bytearray()
        while chunk := response.read1(min(READ_CHUNK, policy.max_bytes + 1 - len(body))):
            body += chunk
            if len(body) > policy.max_bytes:
                raise SourceError(f"{url} is larger than {policy.max_bytes} bytes")
        if response.length:  # http.client does not raise IncompleteRead when reading by amounts
            raise SourceError(f"cannot fetch {url}: the answer ended {response.length} bytes short of its length")
        return bytes(body), None
    except TimeoutError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise SourceError(f"cannot fetch {url}: {exc}") from None
    finally:
        connection.close()


class _DeadlineSocket:
    """A connection's socket as http.client uses it, giving every read and write the time left as timeout.

    A timeout per read alone would let a server that sends a byte now and then hold a fetch for ever.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        # The socket's own file keeps it open while a response that outlives the connection reads it.
        return io.BufferedReader(_DeadlineReader(self._sock, self._sock.makefile("rb", buffering=0), self._deadline))

    def close(self) -> None:
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, raw: Any, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = raw
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        count: int = self._raw.readinto(buffer)
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a vetted address, within the fetch's deadline."""

    def __init__(self, host: str, address: str, port: int, deadline: float) -> None:
        super().__init__(host, port, timeout=_remaining(deadline))
        self._address = address
        self._deadline = deadline

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), _remaining(self._deadline))
        sock.settimeout(_remaining(self._deadline))
        return sock

    def connect(self) -> None:
        self.sock = _DeadlineSocket(self._open(), self._deadline)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS to a vetted address, with SNI and certificate checks for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, deadline: float, context: ssl.SSLContext) -> None:
        super().__init__(host, address, port, deadline)
        self._context = context

    def connect(self) -> None:
        # The handshake as a whole gets the socket's timeout, which _open set to the time left.
        tls = self._context.wrap_socket(self._open(), server_hostname=self.host)
        self.sock = _DeadlineSocket(tls, self._deadline)
