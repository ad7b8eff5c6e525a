"""jarvis.deploy.dns_record against the sandbox's real named, through ansible-playbook."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from sandbox.named import DnsInfo
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration


def served(info: DnsInfo, name: str, rdtype: str) -> list[str]:
    """What the server itself answers for NAME/RDTYPE, in dnspython's text form."""
    query = dns.message.make_query(name, rdtype)
    response = dns.query.tcp(query, info.server, port=info.port, timeout=5)
    rrset = response.get_rrset(response.answer, dns.name.from_text(name), 1, dns.rdatatype.from_text(rdtype))
    return sorted(rdata.to_text() for rdata in rrset) if rrset else []


def assert_ok(result: dict[str, Any], changed: bool) -> None:
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is changed, result


def sshfp(seed: str, algorithm: int) -> str:
    return f"{algorithm} 2 {hashlib.sha256(seed.encode()).hexdigest()}"


def test_a_record_in_four_beats(named_server: DnsInfo) -> None:
    args = {"record": "loki.websages.com", "type": "A", "values": ["10.201.0.5"], "ttl": 600}
    env = named_server.env()

    check = run_module("dns_record", args, check=True, diff=True, env=env)
    assert_ok(check, changed=True)
    assert check["record"] == "loki.websages.com."
    assert check["zone"] == "websages.com."
    assert (check["before"], check["after"]) == ([], ["10.201.0.5"])
    assert check["actions"] == ["create loki.websages.com. A 10.201.0.5 (TTL 600)"]
    assert check["diff"]["after"]["values"] == ["10.201.0.5"]
    assert check["diff"]["before"]["values"] == []
    assert served(named_server, "loki.websages.com.", "A") == []

    assert_ok(run_module("dns_record", args, env=env), changed=True)
    assert served(named_server, "loki.websages.com.", "A") == ["10.201.0.5"]

    again = run_module("dns_record", args, check=True, env=env)
    assert_ok(again, changed=False)
    assert again["actions"] == []
    assert again["before"] == again["after"] == ["10.201.0.5"]
    assert_ok(run_module("dns_record", {**args, "record": "loki.websages.com."}, env=env), changed=False)


def test_ptr_record_from_an_address(named_server: DnsInfo) -> None:
    args = {"record": "10.201.0.5", "type": "PTR", "values": ["loki.websages.com"]}
    first = run_module("dns_record", args, env=named_server.env())
    assert_ok(first, changed=True)
    assert first["record"] == "5.0.201.10.in-addr.arpa."
    assert first["zone"] == "201.10.in-addr.arpa."
    assert served(named_server, "5.0.201.10.in-addr.arpa.", "PTR") == ["loki.websages.com."]

    same = {**args, "values": ["Loki.Websages.com."]}
    assert_ok(run_module("dns_record", same, env=named_server.env()), changed=False)


def test_sshfp_record_with_two_values(named_server: DnsInfo) -> None:
    ed25519, ecdsa = sshfp("ed25519", 4), sshfp("ecdsa", 3)
    args = {"record": "odin.websages.com", "type": "SSHFP", "values": [ed25519.upper(), ecdsa], "ttl": 300}
    first = run_module("dns_record", args, env=named_server.env())
    assert_ok(first, changed=True)
    assert first["after"] == sorted([ecdsa, ed25519])
    assert served(named_server, "odin.websages.com.", "SSHFP") == sorted([ecdsa, ed25519])

    # Hex case, order and a hex string split by a space are only spelling.
    split = f"{ecdsa[:20]} {ecdsa[20:]}"
    same = {**args, "values": [split, ed25519], "zone": "websages.com."}
    assert_ok(run_module("dns_record", same, env=named_server.env()), changed=False)


def test_changing_the_value_and_the_ttl(named_server: DnsInfo) -> None:
    env = named_server.env()
    args = {"record": "thor.websages.com", "type": "A", "values": ["10.201.0.6"]}
    assert_ok(run_module("dns_record", args, env=env), changed=True)

    moved = {**args, "values": ["10.201.0.7"]}
    check = run_module("dns_record", moved, check=True, diff=True, env=env)
    assert_ok(check, changed=True)
    assert check["diff"]["before"]["values"] == ["10.201.0.6"]
    assert check["diff"]["after"]["values"] == ["10.201.0.7"]
    assert served(named_server, "thor.websages.com.", "A") == ["10.201.0.6"]

    result = run_module("dns_record", moved, env=env)
    assert_ok(result, changed=True)
    assert result["actions"] == ["replace thor.websages.com. A 10.201.0.6 with 10.201.0.7"]
    assert served(named_server, "thor.websages.com.", "A") == ["10.201.0.7"]

    result = run_module("dns_record", {**moved, "ttl": 60}, env=env)
    assert_ok(result, changed=True)
    assert result["actions"] == ["change TTL of thor.websages.com. A from 3600 to 60"]


def test_absent_deletes_the_record_set(named_server: DnsInfo) -> None:
    env = named_server.env()
    values = ["v=spf1 -all", '"two" "strings"']
    created = run_module("dns_record", {"record": "freya.websages.com", "type": "TXT", "values": values}, env=env)
    assert_ok(created, changed=True)
    assert created["after"] == ['"two" "strings"', '"v=spf1 -all"']

    args = {"record": "freya.websages.com", "type": "TXT", "state": "absent"}
    check = run_module("dns_record", args, check=True, env=env)
    assert_ok(check, changed=True)
    assert check["after"] == []
    assert_ok(run_module("dns_record", args, env=env), changed=True)
    assert served(named_server, "freya.websages.com.", "TXT") == []
    assert_ok(run_module("dns_record", args, env=env), changed=False)


def test_a_wrong_secret_fails_without_showing_it(named_server: DnsInfo) -> None:
    wrong = base64.b64encode(b"not the jarvis sandbox secret!!!").decode()
    env = {**named_server.env(), "JARVIS_TSIG_SECRET": wrong}
    result = run_module("dns_record", {"record": "loki.websages.com", "type": "A", "values": ["10.201.0.9"]}, env=env)
    assert result.get("failed"), result
    assert f"127.0.0.1:{named_server.port}" in result["msg"]
    assert "rejected the signature of TSIG key 'jarvis-sandbox'" in result["msg"]
    assert wrong not in result["_stdout"]
    assert named_server.tsig_secret not in result["_stdout"]


def test_unsigned_and_unknown_keys_are_refused(named_server: DnsInfo) -> None:
    env = {"JARVIS_DNS_SERVER": named_server.server, "JARVIS_DNS_PORT": str(named_server.port)}
    args = {"record": "loki.websages.com", "type": "A", "values": ["10.201.0.9"]}
    unsigned = run_module("dns_record", args, env=env)
    assert unsigned.get("failed"), unsigned
    assert "answered REFUSED" in unsigned["msg"]
    assert "zone websages.com." in unsigned["msg"]
    assert "set key_name and key_secret" in unsigned["msg"]

    stranger = {"JARVIS_TSIG_KEY_NAME": "stranger", "JARVIS_TSIG_SECRET": named_server.tsig_secret}
    unknown = run_module("dns_record", args, env={**env, **stranger})
    assert unknown.get("failed"), unknown
    assert "does not know TSIG key 'stranger'" in unknown["msg"]
    assert named_server.tsig_secret not in unknown["_stdout"]


def test_a_name_outside_every_zone_fails_clearly(named_server: DnsInfo) -> None:
    args = {"record": "loki.example.org", "type": "A", "values": ["10.201.0.9"]}
    result = run_module("dns_record", args, env=named_server.env())
    assert result.get("failed"), result
    assert result["msg"].startswith(f"no zone for loki.example.org. found on DNS server 127.0.0.1:{named_server.port}")


def test_a_cname_beside_other_data_fails_clearly(named_server: DnsInfo) -> None:
    env = named_server.env()
    assert_ok(
        run_module("dns_record", {"record": "heimdall.websages.com", "type": "A", "values": ["10.201.0.8"]}, env=env),
        changed=True,
    )
    clash = run_module(
        "dns_record", {"record": "heimdall.websages.com", "type": "CNAME", "values": ["loki.websages.com"]}, env=env
    )
    assert clash.get("failed"), clash
    assert "serves nothing instead: does a CNAME clash" in clash["msg"]


def test_dns_record_info_reads_what_the_server_holds(named_server: DnsInfo) -> None:
    env = named_server.env()
    args = {"record": "vidar-info.websages.com", "type": "A", "values": ["10.201.0.21", "10.201.0.20"], "ttl": 900}
    assert_ok(run_module("dns_record", args, env=env), changed=True)
    for check in (False, True):
        read = run_module(
            "dns_record_info", {"record": "vidar-info.websages.com", "zone": "websages.com"}, check=check, env=env
        )
        assert_ok(read, changed=False)
        assert (read["exists"], read["values"], read["ttl"]) == (True, ["10.201.0.20", "10.201.0.21"], 900)
        assert (read["record"], read["type"], read["zone"]) == ("vidar-info.websages.com.", "A", "websages.com.")
    missing = run_module("dns_record_info", {"record": "nobody-info.websages.com"}, env=env)
    assert_ok(missing, changed=False)
    assert (missing["exists"], missing["values"], missing["ttl"], missing["zone"]) == (False, [], None, "websages.com.")
    outside = run_module("dns_record_info", {"record": "vidar.example.org", "zone": "websages.com"}, env=env)
    assert outside["failed"] is True and outside["msg"] == "record vidar.example.org. is not inside zone websages.com."
