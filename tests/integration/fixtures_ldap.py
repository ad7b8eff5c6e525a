"""The sandbox's slapd, shared by every test that needs the LDAP CMDB."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

# ldap3 2.9 imports pyasn1's deprecated tagMap/typeMap at import time; with filterwarnings=error
# that import would fail. Import it once here with that warning silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "(tag|type)Map is deprecated", DeprecationWarning)
    import ldap3  # noqa: F401

from sandbox import slapd  # noqa: E402
from sandbox.slapd import LdapInfo  # noqa: E402

__all__ = ["slapd_server"]


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
