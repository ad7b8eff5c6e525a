"""Where a design named in chat comes from: an HTTPS URL, an LDAP entry (``cn=loki``) or a file.

Each source is guarded: URLs only from allowed hosts, never from loopback or private addresses
unless config allows them, with a size limit, a timeout and every redirect re-checked; LDAP names
are hostnames and escaped besides; files only under configured directories. The document then
goes through the orchestrator's safe YAML loader and design validation.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import ldap3
from ldap3.utils.conv import escape_filter_chars

from orchestrator.design import MAX_DESIGN_BYTES, Design, load_design_file, parse_design
from orchestrator.errors import JarvisError

HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
GIST_PAGE = re.compile(r"^/(?:(?P<user>[A-Za-z0-9-]+)/)?(?P<id>[0-9a-f]+)/?$")
MAX_REDIRECTS = 3


class SourceError(JarvisError):
    """A design source that is not allowed, not reachable, or not there."""


@dataclass
class UrlPolicy:
    allowed_hosts: list[str] = field(default_factory=lambda: ["gist.github.com", "gist.githubusercontent.com"])
    allow_private: bool = False  # loopback, private, link-local, reserved addresses (the sandbox allows them)
    allow_http: bool = False
    max_bytes: int = MAX_DESIGN_BYTES
    timeout: float = 10.0
    ca_file: str | None = None

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for allowed in self.allowed_hosts:
            allowed = allowed.lower()
            if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
                return True
        return False


@dataclass
class LdapSource:
    uri: str
    base_dn: str
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, repr=False)
    timeout: int = 10  # seconds; ldap3 wants whole seconds


def gist_raw_url(url: str) -> str:
    """A gist's page URL turned into its raw form; other URLs unchanged."""
    parts = urlsplit(url)
    match = GIST_PAGE.match(parts.path)
    if parts.hostname == "gist.github.com" and match:
        user = f"{match['user']}/" if match["user"] else ""
        return f"https://gist.githubusercontent.com/{user}{match['id']}/raw"
    return url


class DesignSources:
    """Loads designs for the bot; every method raises SourceError or DesignError with a clear message."""

    def __init__(
        self,
        url_policy: UrlPolicy,
        directories: list[Path],
        ldap: LdapSource | None,
        mappings: dict[str, Any] | None = None,
    ) -> None:
        self.url_policy = url_policy
        self.directories = [directory.resolve() for directory in directories]
        self.ldap = ldap
        self.mappings = mappings

    def load(self, spec: str) -> Design:
        """A design from ``https://…``, ``cn=NAME`` or a path; blocking (run it in a thread)."""
        spec = spec.strip()
        if re.match(r"^[a-z][a-z0-9+.-]*://", spec, re.IGNORECASE):
            return parse_design(fetch_url(spec, self.url_policy), spec, self.mappings)
        if spec.lower().startswith("cn="):
            return self._from_ldap(spec[3:])
        return self._from_file(spec)

    def host_entry(self, name: str) -> dict[str, list[str]] | None:
        """The CMDB entry of host NAME (attribute -> values), or None."""
        if self.ldap is None:
            raise SourceError("no LDAP directory is configured")
        if not HOSTNAME.match(name.lower()):
            raise SourceError(f"{name!r} is not a hostname")
        try:
            with _ldap_connection(self.ldap) as conn:
                conn.search(
                    self.ldap.base_dn,
                    f"(cn={escape_filter_chars(name.lower())})",
                    attributes=["*"],
                    size_limit=2,
                    time_limit=int(self.ldap.timeout),
                )
                entries = list(conn.entries)
        except ldap3.core.exceptions.LDAPException as exc:
            raise SourceError(f"cannot read cn={name} from {self.ldap.uri}: {type(exc).__name__}") from None
        if not entries:
            return None
        return {key: [str(v) for v in values] for key, values in entries[0].entry_attributes_as_dict.items()}

    def _from_ldap(self, name: str) -> Design:
        entry = self.host_entry(name)
        if entry is None:
            raise SourceError(f"cn={name} is not in {self.ldap.base_dn if self.ldap else 'LDAP'}")
        documents = entry.get("jarvisDesign") or []
        if not documents:
            raise SourceError(f"cn={name} has no jarvisDesign attribute holding its design")
        return parse_design(documents[0], f"cn={name.lower()}", self.mappings)

    def _from_file(self, spec: str) -> Design:
        path = Path(spec).expanduser().resolve()
        if not any(path.is_relative_to(directory) for directory in self.directories):
            allowed = ", ".join(str(d) for d in self.directories) or "none configured"
            raise SourceError(f"{spec} is not under a design directory ({allowed})")
        return load_design_file(path, self.mappings)


def fetch_url(url: str, policy: UrlPolicy) -> bytes:
    """GET a design over HTTPS from an allowed host, re-checking every redirect; at most max_bytes."""
    url = gist_raw_url(url)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        address = _vet(parts, policy)
        response, connection = _get(parts, address, policy)
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise SourceError(f"{url} redirects nowhere")
                url = gist_raw_url(urljoin(url, location))
                continue
            if response.status != 200:
                raise SourceError(f"{url} answered {response.status} {response.reason}")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise SourceError(f"{url} is {length} bytes; the limit is {policy.max_bytes}")
            body = response.read(policy.max_bytes + 1)
            if len(body) > policy.max_bytes:
                raise SourceError(f"{url} is larger than {policy.max_bytes} bytes")
            return body
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"cannot read {url}: {exc}") from None
        finally:
            connection.close()
    raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _vet(parts: Any, policy: UrlPolicy) -> str:
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
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError) as exc:
        raise SourceError(f"cannot resolve {host}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_unspecified or ip.is_multicast:
            raise SourceError(f"{host} resolves to {address}: not allowed")
        internal = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
        if internal and not policy.allow_private:
            raise SourceError(f"{host} resolves to {address}, a loopback or private address: not allowed")
    return addresses[0]


def _get(parts: Any, address: str, policy: UrlPolicy) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    """GET the URL from the vetted ADDRESS (no second DNS lookup), verifying TLS for the host name."""
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=policy.ca_file)
        connection = _PinnedHTTPSConnection(host, address, port, context=context, timeout=policy.timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=policy.timeout)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        connection.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "jarvis", "Accept": "*/*"})
        return connection.getresponse(), connection
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise SourceError(f"cannot fetch {parts.geturl()}: {exc}") from None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a given address, with SNI and certificate checks for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _ldap_connection:  # noqa: N801 - used as a context manager like a function
    """An ldap3 connection that is always unbound (ldap3's own ``with`` keeps auto-bound ones)."""

    def __init__(self, source: LdapSource) -> None:
        server = ldap3.Server(source.uri, connect_timeout=source.timeout, get_info=ldap3.NONE)
        self.conn = ldap3.Connection(
            server, source.bind_dn, source.bind_password, receive_timeout=source.timeout, read_only=True
        )

    def __enter__(self) -> ldap3.Connection:
        if not self.conn.bind():
            raise ldap3.core.exceptions.LDAPBindError(self.conn.result.get("description", "bind failed"))
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.unbind()
