"""The sandbox's slapd, shared by every test that needs the LDAP CMDB."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

# ldap3 2.9 imports pyasn1's deprecated tagMap/typeMap at import time; with filterwarnings=error
# that import would fail. Import it once here with that warning silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "(tag|type)Map is deprecated", DeprecationWarning)
    import ldap3  # noqa: F401

from sandbox import slapd  # noqa: E402
from sandbox.slapd import LdapInfo  # noqa: E402

__all__ = ["HostsOu", "hosts_ou", "slapd_server"]


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapInfo]:
    """One slapd for the session: ~0.1 s to start, tests keep apart by using their own host names."""
    state_dir = tmp_path_factory.mktemp("slapd")
    # start_daemon drops its Popen while slapd runs on purpose; that is no leak to report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        info = slapd.start(state_dir)
    try:
        yield info
    finally:
        slapd.stop(state_dir)


@dataclass
class HostsOu:
    """An ou of one test module's own under the session's slapd, and how to reach it."""

    hosts_dn: str
    env: dict[str, str]  # the JARVIS_LDAP_* variables the modules and the inventory plugin read
    conn: ldap3.Connection  # bound as the admin, for writing entries ldap_host would refuse


@contextmanager
def hosts_ou(slapd_server: LdapInfo, prefix: str) -> Iterator[HostsOu]:
    """Create an ou named PREFIX-<random> so that other tests' hosts never show up in it."""
    hosts_dn = f"ou={prefix}-{uuid.uuid4().hex[:8]},{slapd_server.base_dn}"
    env = {
        "JARVIS_LDAP_URI": slapd_server.uri,
        "JARVIS_LDAP_BIND_DN": slapd_server.bind_dn,
        "JARVIS_LDAP_BIND_PASSWORD": slapd_server.bind_password,
        "JARVIS_LDAP_HOSTS_DN": hosts_dn,
    }
    conn = ldap3.Connection(
        ldap3.Server(slapd_server.uri, get_info=ldap3.NONE),
        slapd_server.bind_dn,
        slapd_server.bind_password,
        auto_bind=True,
    )
    try:
        assert conn.add(hosts_dn, ["top", "organizationalUnit"], {"ou": hosts_dn.split(",")[0][3:]})
        yield HostsOu(hosts_dn, env, conn)
    finally:
        conn.unbind()
