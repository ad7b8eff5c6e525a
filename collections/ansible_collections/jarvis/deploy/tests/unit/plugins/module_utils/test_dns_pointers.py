# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of dns_pointers that need no server: names checked per option, owners shown, refusals explained."""

from __future__ import annotations

import base64

import dns.name
import dns.rcode
import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._dns import DnsRecordError, DnsServer, make_key
from ansible_collections.jarvis.deploy.plugins.module_utils._dns_pointers import (
    Pointer,
    _host_name,
    _owner_names,
    _transfer_refusal,
)

SECRET = base64.b64encode(b"jarvis-test-secret-0123456789abc").decode()
ZONE = dns.name.from_text("websages.com")


def test_targets_are_compared_in_canonical_form():
    assert _host_name("target", "Loki.WebSages.com") == "loki.websages.com."
    assert _host_name("to", "thor.websages.com.") == "thor.websages.com."


def test_a_bad_target_names_its_option():
    with pytest.raises(DnsRecordError, match="^to: 'thor..websages.com' is not a valid CNAME value"):
        _host_name("to", "thor..websages.com")


def test_owner_names_are_absolute():
    assert [name.to_text() for name in _owner_names(["www.websages.com", "ftp.websages.com."])] == [
        "www.websages.com.",
        "ftp.websages.com.",
    ]
    assert _owner_names([]) == []


def test_a_bad_owner_name_says_it_came_from_names():
    with pytest.raises(DnsRecordError, match="^names: record 'a..b' is not a valid DNS name"):
        _owner_names(["www.websages.com", "a..b"])


def test_pointers_show_their_owner_lower_cased_and_absolute():
    pointer = Pointer(dns.name.from_text("WWW.WebSages.com"), ZONE, 300, "loki.websages.com.")
    assert pointer.owner == "www.websages.com."


@pytest.mark.parametrize(
    ("signed", "rcode", "reason"),
    [
        (False, dns.rcode.REFUSED, "the server refuses unsigned zone transfers: set key_name and key_secret"),
        (True, dns.rcode.REFUSED, "the server does not allow TSIG key 'jarvis' to transfer this zone (allow-transfer)"),
        (
            True,
            dns.rcode.NOTAUTH,
            "the server is not authoritative for zone websages.com., or does not accept TSIG key 'jarvis'",
        ),
        (True, dns.rcode.SERVFAIL, "the zone was not transferred"),
    ],
)
def test_a_refused_transfer_says_what_to_fix(signed, rcode, reason):
    server = DnsServer("127.0.0.1", 5300, 3, make_key("jarvis", SECRET, "hmac-sha256") if signed else None)
    message = _transfer_refusal(server, ZONE, rcode)
    assert message == (
        f"DNS server 127.0.0.1:5300 answered {dns.rcode.to_text(rcode)} (transferring zone websages.com.): {reason}"
    )
    assert SECRET not in message
