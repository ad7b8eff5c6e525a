# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS names, canonical record values, TSIG keys and error messages of the dns_record and dns_pointers modules."""

from __future__ import annotations

import base64
import socket

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.tsig
import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils import _dns

SECRET = base64.b64encode(b"jarvis-test-secret-0123456789abc").decode()
SSHFP_ED25519 = "4 2 ff2fc9e5ea1545a2fec8d30f6806e8e08a6592964062632a0ae96aaa1cb5476e"


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "record_type", "expected"),
    [
        ("loki.websages.com", "A", "loki.websages.com."),
        ("loki.websages.com.", "A", "loki.websages.com."),
        ("  loki.websages.com  ", "CNAME", "loki.websages.com."),
        ("10.201.0.5", "PTR", "5.0.201.10.in-addr.arpa."),
        ("2001:db8::1", "PTR", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."),
        ("5.0.201.10.in-addr.arpa", "PTR", "5.0.201.10.in-addr.arpa."),
        # Only PTR turns an address into its reverse name; for other types it is just a name.
        ("10.201.0.5", "A", "10.201.0.5."),
    ],
)
def test_record_names_are_absolute(record, record_type, expected):
    assert _dns.record_name(record, record_type).to_text() == expected


@pytest.mark.parametrize("record", [".", "a..b", "x" * 64 + ".websages.com", ".".join(["a" * 63] * 5)])
def test_bad_record_names_are_refused_naming_the_record(record):
    with pytest.raises(_dns.DnsRecordError, match="^record "):
        _dns.record_name(record, "A")


# --- values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_type", "spellings", "canonical"),
    [
        ("A", ["10.201.0.5", " 10.201.0.5 "], "10.201.0.5"),
        ("AAAA", ["2001:DB8::1", "2001:0db8:0:0::1", "2001:db8:0:0:0:0:0:1"], "2001:db8::1"),
        ("CNAME", ["Loki.Websages.com", "loki.websages.com.", "LOKI.WEBSAGES.COM."], "loki.websages.com."),
        ("PTR", ["loki.websages.com", "LOKI.websages.com."], "loki.websages.com."),
        ("SSHFP", ["4 2 " + "AB" * 32, "4 2 " + "ab" * 16 + " " + "ab" * 16], "4 2 " + "ab" * 32),
        ("TXT", ["v=spf1 -all", '"v=spf1 -all"', "  v=spf1 -all "], '"v=spf1 -all"'),
    ],
)
def test_equal_data_has_one_canonical_form(record_type, spellings, canonical):
    assert _dns.normalise_values(record_type, spellings) == [canonical]


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ('"two" "strings"', '"two" "strings"'),
    ],
)
def test_txt_values_not_starting_with_a_quote_are_one_string(value, canonical):
    assert _dns.normalise_value("TXT", value) == canonical


def test_values_are_sorted_and_deduplicated():
    assert _dns.normalise_values("A", ["10.0.0.2", "10.0.0.1", "10.0.0.2"]) == ["10.0.0.1", "10.0.0.2"]
    assert _dns.normalise_values("A", []) == []


@pytest.mark.parametrize(
    ("record_type", "value"),
    [("A", "300.1.1.1"), ("AAAA", "10.0.0.1"), ("SSHFP", "4 2 abcd"), ("SSHFP", "4 2 xyz"), ("A", "")],
)
def test_bad_values_are_refused_naming_the_type(record_type, value):
    with pytest.raises(_dns.DnsRecordError, match=f"is not a valid {record_type} value"):
        _dns.normalise_value(record_type, value)


def test_the_sshfp_value_of_a_host_key_is_already_canonical():
    # ssh-keygen -r printed this for the ed25519 key used in test_sshkeys.py.
    assert _dns.normalise_value("SSHFP", SSHFP_ED25519) == SSHFP_ED25519


# --- TSIG keys and servers ----------------------------------------------------------------------------


def test_no_key_name_means_unsigned():
    assert _dns.make_key(None, None, "hmac-sha256") is None
    assert _dns.make_key("", SECRET, "hmac-sha256") is None


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("hmac-sha256", "hmac-sha256."), ("hmac-sha512", "hmac-sha512."), ("hmac-md5", "HMAC-MD5.SIG-ALG.REG.INT.")],
)
def test_keys_sign_with_the_algorithm_asked_for(algorithm, expected):
    key = _dns.make_key("jarvis", SECRET, algorithm)
    assert (key.name.to_text(), key.algorithm.to_text()) == ("jarvis.", expected)


@pytest.mark.parametrize(
    ("name", "secret", "message"),
    [
        ("jarvis", "not*base64!", "key_secret of TSIG key 'jarvis' is not valid base64"),
        ("a..b", SECRET, "key_name 'a..b' is not a valid TSIG key name"),
    ],
)
def test_bad_keys_are_refused_without_showing_the_secret(name, secret, message):
    with pytest.raises(_dns.DnsRecordError) as caught:
        _dns.make_key(name, secret, "hmac-sha256")
    assert str(caught.value).startswith(message)
    assert secret not in str(caught.value)


def test_the_server_options_hide_the_secret_and_come_from_the_environment():
    spec = _dns.dns_server_argument_spec()
    assert spec["key_secret"]["no_log"] is True
    assert {name for name, option in spec.items() if "fallback" in option} == {
        "server",
        "port",
        "key_name",
        "key_secret",
        "key_algorithm",
    }
    assert set(spec["key_algorithm"]["choices"]) == set(_dns.TSIG_ALGORITHMS)
    assert ("key_name", "key_secret") in _dns.DNS_SERVER_REQUIRED_TOGETHER


def test_a_server_from_module_parameters():
    params = {"server": "127.0.0.1", "port": 5300, "timeout": 3}
    signed = _dns.dns_server_from_params(
        {**params, "key_name": "jarvis", "key_secret": SECRET, "key_algorithm": "hmac-sha256"}
    )
    assert (signed.where, signed.timeout, signed.key_label) == ("127.0.0.1:5300", 3, "TSIG key 'jarvis'")
    unsigned = _dns.dns_server_from_params(
        {**params, "key_name": None, "key_secret": None, "key_algorithm": "hmac-sha256"}
    )
    assert (unsigned.key, unsigned.key_label) == (None, "no TSIG key")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (dns.exception.Timeout(), "DNS server 127.0.0.1:5300 did not answer within 3 s (reading x)"),
        (dns.tsig.PeerBadKey(), "DNS server 127.0.0.1:5300 does not know TSIG key 'jarvis' (reading x)"),
        (
            dns.tsig.PeerBadSignature(),
            "DNS server 127.0.0.1:5300 rejected the signature of TSIG key 'jarvis':"
            " wrong key_secret or key_algorithm? (reading x)",
        ),
        (
            dns.tsig.PeerBadTime(),
            "DNS server 127.0.0.1:5300 rejected the time of the signature: are the clocks in sync? (reading x)",
        ),
        (dns.exception.FormError("bad form"), "DNS exchange with 127.0.0.1:5300 failed (reading x): bad form"),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "cannot reach DNS server 127.0.0.1:5300 (reading x): Connection refused",
        ),
    ],
)
def test_failures_talking_to_a_server_say_which_server_and_what_for(error, message):
    server = _dns.DnsServer("127.0.0.1", 5300, 3, _dns.make_key("jarvis", SECRET, "hmac-sha256"))
    with pytest.raises(_dns.DnsRecordError) as caught, server.translated_errors("reading x"):
        raise error
    assert str(caught.value) == message
    assert SECRET not in str(caught.value)


def test_other_errors_pass_through_untranslated():
    server = _dns.DnsServer("127.0.0.1", 5300, 3)
    with pytest.raises(KeyError), server.translated_errors("reading x"):
        raise KeyError("not ours")


def test_a_server_that_is_not_there():
    port = closed_port()
    server = _dns.DnsServer("127.0.0.1", port, 2)
    query = dns.message.make_query("loki.websages.com.", "A")
    with pytest.raises(_dns.DnsRecordError, match=f"^cannot reach DNS server 127.0.0.1:{port} \\(asking\\): "):
        server.exchange(query, "asking")


class AnsweringServer(_dns.DnsServer):
    """A DnsServer whose every exchange is answered with one RCODE, without a network."""

    def __init__(self, rcode, key=None):
        super().__init__("127.0.0.1", 5300, 3, key)
        self.rcode = rcode

    def exchange(self, message, what):
        answer = dns.message.Message()
        answer.set_rcode(self.rcode)
        return answer


@pytest.mark.parametrize(
    ("signed", "rcode", "reason"),
    [
        (False, dns.rcode.REFUSED, "the server refuses unsigned updates: set key_name and key_secret"),
        (True, dns.rcode.REFUSED, "the server does not allow TSIG key 'jarvis' to update this zone"),
        (True, dns.rcode.NOTAUTH, "the server is not authoritative for zone websages.com."),
        (False, dns.rcode.SERVFAIL, "the update was not applied"),
    ],
)
def test_a_refused_update_says_what_to_fix(signed, rcode, reason):
    server = AnsweringServer(rcode, _dns.make_key("jarvis", SECRET, "hmac-sha256") if signed else None)
    with pytest.raises(_dns.DnsRecordError) as refused:
        server.send_update(None, dns.name.from_text("websages.com"), "updating loki.websages.com. A")
    assert not isinstance(refused.value, _dns.DnsPrerequisiteError)
    assert str(refused.value) == (
        f"DNS server 127.0.0.1:5300 answered {dns.rcode.to_text(rcode)} (updating loki.websages.com. A): {reason}"
    )


def test_an_update_whose_prerequisite_failed_changed_nothing():
    with pytest.raises(_dns.DnsPrerequisiteError, match=r"answered NXRRSET \(updating x\): a prerequisite"):
        AnsweringServer(dns.rcode.NXRRSET).send_update(None, dns.name.from_text("websages.com"), "updating x")


# --- plans ------------------------------------------------------------------------------------------------

NAME = "loki.websages.com."


@pytest.mark.parametrize(
    ("state", "before_ttl", "before", "ttl", "after", "actions"),
    [
        ("present", None, [], 600, ["10.0.0.1"], ["create loki.websages.com. A 10.0.0.1 (TTL 600)"]),
        (
            "present",
            None,
            [],
            600,
            ["10.0.0.1", "10.0.0.2"],
            ["create loki.websages.com. A 10.0.0.1, 10.0.0.2 (TTL 600)"],
        ),
        ("present", 600, ["10.0.0.1"], 600, ["10.0.0.1"], []),
        ("present", 600, ["10.0.0.1"], 60, ["10.0.0.1"], ["change TTL of loki.websages.com. A from 600 to 60"]),
        (
            "present",
            600,
            ["10.0.0.1"],
            60,
            ["10.0.0.2"],
            [
                "replace loki.websages.com. A 10.0.0.1 with 10.0.0.2",
                "change TTL of loki.websages.com. A from 600 to 60",
            ],
        ),
        ("absent", 600, ["10.0.0.1", "10.0.0.2"], 3600, [], ["delete loki.websages.com. A (10.0.0.1, 10.0.0.2)"]),
        ("absent", None, [], 3600, [], []),
    ],
)
def test_plans_say_what_changes_and_are_empty_when_nothing_does(state, before_ttl, before, ttl, after, actions):
    assert _dns.plan_actions(NAME, "A", state, before_ttl, before, ttl, after) == actions
