"""Pure helpers of jarvis.deploy's DNS and SSH host-key modules: names, canonical values, key facts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.jarvis.deploy.plugins.module_utils import _dns, _sshkeys  # noqa: E402

ED25519_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIKzD6AGRYAasWbhjwOp5CslNGLUKEiLgrEx6skUsY7Vj"


@pytest.mark.parametrize(
    ("record", "record_type", "expected"),
    [
        ("loki.websages.com", "A", "loki.websages.com."),
        ("loki.websages.com.", "A", "loki.websages.com."),
        ("10.201.0.5", "PTR", "5.0.201.10.in-addr.arpa."),
        ("2001:db8::1", "PTR", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."),
        ("5.0.201.10.in-addr.arpa", "PTR", "5.0.201.10.in-addr.arpa."),
        # Only PTR turns addresses into reverse names; elsewhere "10.201.0.5" is just a name.
        ("10.201.0.5", "A", "10.201.0.5."),
    ],
)
def test_record_names_are_absolute(record: str, record_type: str, expected: str) -> None:
    assert _dns.record_name(record, record_type).to_text() == expected


@pytest.mark.parametrize("record", [".", "a..b", "x" * 64 + ".websages.com"])
def test_bad_record_names_are_refused(record: str) -> None:
    with pytest.raises(_dns.DnsRecordError, match="record"):
        _dns.record_name(record, "A")


@pytest.mark.parametrize(
    ("record_type", "spellings", "canonical"),
    [
        ("A", ["10.201.0.5", " 10.201.0.5 "], "10.201.0.5"),
        ("AAAA", ["2001:DB8::1", "2001:0db8:0:0::1"], "2001:db8::1"),
        ("CNAME", ["Loki.Websages.com", "loki.websages.com."], "loki.websages.com."),
        ("PTR", ["loki.websages.com", "LOKI.websages.com."], "loki.websages.com."),
        ("SSHFP", ["4 2 " + "AB" * 32, "4 2 " + "ab" * 16 + " " + "ab" * 16], "4 2 " + "ab" * 32),
        ("TXT", ["v=spf1 -all", '"v=spf1 -all"'], '"v=spf1 -all"'),
        ("TXT", ['say "hi"'], '"say \\"hi\\""'),
    ],
)
def test_values_compare_in_canonical_form(record_type: str, spellings: list[str], canonical: str) -> None:
    assert _dns.normalise_values(record_type, spellings) == [canonical]


@pytest.mark.parametrize(
    ("record_type", "value"), [("A", "300.1.1.1"), ("AAAA", "10.0.0.1"), ("SSHFP", "4 2 abcd"), ("A", "")]
)
def test_bad_values_are_refused(record_type: str, value: str) -> None:
    with pytest.raises(_dns.DnsRecordError, match=f"is not a valid {record_type} value"):
        _dns.normalise_values(record_type, [value])


def test_bad_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(_dns.DnsRecordError) as caught:
        _dns.make_key("jarvis", "not*base64!", "hmac-sha256")
    assert "not*base64!" not in str(caught.value)


def test_actions_say_what_changes() -> None:
    name, values = "loki.websages.com.", ["10.201.0.5"]
    assert _dns.plan_actions(name, "A", "present", None, [], 600, values) == [
        "create loki.websages.com. A 10.201.0.5 (TTL 600)"
    ]
    assert _dns.plan_actions(name, "A", "present", 600, values, 600, values) == []
    assert _dns.plan_actions(name, "A", "present", 600, values, 60, values) == [
        "change TTL of loki.websages.com. A from 600 to 60"
    ]
    assert _dns.plan_actions(name, "A", "absent", 600, values, 3600, []) == ["delete loki.websages.com. A (10.201.0.5)"]
    assert _dns.plan_actions(name, "A", "absent", None, [], 3600, []) == []


def test_host_key_facts() -> None:
    facts = _sshkeys.host_key_facts("ssh-ed25519", ED25519_BLOB)
    assert facts["public_key"] == f"ssh-ed25519 {ED25519_BLOB}"
    assert facts["fingerprint"].startswith("SHA256:")
    assert not facts["fingerprint"].endswith("=")
    assert facts["sshfp"].startswith("4 2 ")
    assert len(facts["sshfp"].split()[2]) == 64


def test_keyscan_output_is_parsed_sorted_and_deduplicated() -> None:
    output = "\n".join(
        [
            "# 127.0.0.1:22 SSH-2.0-OpenSSH_9.2p1",
            f"[127.0.0.1]:2222 ssh-ed25519 {ED25519_BLOB}",
            f"[127.0.0.1]:2222 ssh-ed25519 {ED25519_BLOB}",
            "[127.0.0.1]:2222 ssh-rsa !!notbase64!!",
            "garbage",
        ]
    )
    assert [key["type"] for key in _sshkeys.parse_keyscan(output)] == ["ssh-ed25519"]
