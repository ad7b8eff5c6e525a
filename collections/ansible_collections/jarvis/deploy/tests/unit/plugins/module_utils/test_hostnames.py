# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host names: one label pattern for designs, the CMDB, VMs and secrets files; FQDNs built of such labels."""

from __future__ import annotations

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import HOSTNAME_RE, is_host_name, owner_identity


@pytest.mark.parametrize("label", ["loki", "LOKI", "db-1", "0", "a" * 63, "x9"])
def test_labels(label):
    assert HOSTNAME_RE.match(label)


@pytest.mark.parametrize(
    "label", ["", "-loki", "loki-", "a" * 64, "lo_ki", "lo ki", "\u212aoki", "\u017foki", "lok\u0131"]
)
def test_what_is_no_label(label):
    assert not HOSTNAME_RE.match(label)


@pytest.mark.parametrize(
    ("name", "fqdn", "valid"),
    [
        ("loki", False, True),
        ("loki", True, False),
        ("loki.websages.com", True, True),
        ("loki.websages.com.", False, False),
        ("loki..com", False, False),
        (".loki", False, False),
        (".".join(["a" * 63] * 4), True, False),
        (".".join(["a" * 62] * 4), True, True),
        ("../etc/passwd", False, False),
    ],
)
def test_host_names_are_labels_joined_by_dots(name, fqdn, valid):
    assert is_host_name(name, fqdn=fqdn) is valid


@pytest.mark.parametrize(("given", "identity"), [("DB1.WebSages.com.", "db1.websages.com"), (" ", None), (None, None)])
def test_an_identity_is_lower_case_without_the_final_dot(given, identity):
    assert owner_identity(given) == identity
