"""jarvis.deploy.dns_pointers against the sandbox's real named: CNAMEs moved to a standby host and back."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.tsig
import dns.update
import dns.zone
import pytest

from sandbox.named import DnsInfo
from tests.support.ansible import run_module

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.jarvis.deploy.plugins.module_utils import _dns, _dns_pointers  # noqa: E402

pytestmark = pytest.mark.integration

ZONE = "websages.com."
LOKI, THOR, ODIN = "loki.websages.com.", "thor.websages.com.", "odin.websages.com."
WWW, MAIL, FTP, BACKUP = "www.websages.com.", "mail.websages.com.", "ftp.websages.com.", "backup.websages.com."


def tsig_key(info: DnsInfo) -> dns.tsig.Key:
    return dns.tsig.Key(info.tsig_key_name, info.tsig_secret, info.tsig_algorithm)


def signed_server(info: DnsInfo) -> Any:
    """The module_utils' view of the sandbox's named, signing with its TSIG key."""
    key = _dns.make_key(info.tsig_key_name, info.tsig_secret, info.tsig_algorithm)
    return _dns.DnsServer(info.server, info.port, 5, key)


def set_cnames(info: DnsInfo, cnames: dict[str, str]) -> None:
    """Make CNAMES (owner -> target) the only CNAMEs of the zone, in one signed update."""
    key = tsig_key(info)
    query = dns.message.make_query(ZONE, dns.rdatatype.AXFR)
    query.use_tsig(key)
    zone = dns.zone.Zone(ZONE, relativize=False)
    dns.query.inbound_xfr(info.server, zone, query, port=info.port, timeout=5)
    update = dns.update.UpdateMessage(ZONE, keyring=key)
    for name, _rdataset in zone.iterate_rdatasets(dns.rdatatype.CNAME):
        update.delete(name, dns.rdatatype.CNAME)
    for owner, target in cnames.items():
        update.add(owner, 300, dns.rdatatype.CNAME, target)
    assert dns.query.tcp(update, info.server, port=info.port, timeout=5).rcode() == 0


def cname(info: DnsInfo, owner: str) -> str | None:
    """The target the server itself answers for OWNER's CNAME, or None."""
    response = dns.query.tcp(dns.message.make_query(owner, "CNAME"), info.server, port=info.port, timeout=5)
    rrset = response.get_rrset(response.answer, dns.name.from_text(owner), 1, dns.rdatatype.CNAME)
    return rrset[0].to_text() if rrset else None


def assert_ok(result: dict[str, Any], changed: bool) -> None:
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is changed, result


@pytest.fixture
def services(named_server: DnsInfo) -> DnsInfo:
    """www and mail point at loki, ftp at odin, backup at the standby thor itself."""
    set_cnames(named_server, {WWW: LOKI, MAIL: LOKI, FTP: ODIN, BACKUP: THOR})
    return named_server


def test_move_to_the_standby_in_four_beats_and_back(services: DnsInfo) -> None:
    env = services.env()
    args = {"zone": "websages.com", "target": "loki.websages.com", "to": "Thor.Websages.com."}

    check = run_module("dns_pointers", args, check=True, diff=True, env=env)
    assert_ok(check, changed=True)
    assert check["moved"] == [MAIL, WWW]
    assert check["pointing"] == [BACKUP, MAIL, WWW]
    assert check["actions"] == [
        f"moved {MAIL} from {LOKI} to {THOR}.",
        f"moved {WWW} from {LOKI} to {THOR}.",
    ]
    assert check["diff"] == {
        "before": {BACKUP: THOR, MAIL: LOKI, WWW: LOKI},
        "after": {BACKUP: THOR, MAIL: THOR, WWW: THOR},
    }
    assert cname(services, WWW) == LOKI, "check mode changed nothing"

    first = run_module("dns_pointers", args, env=env)
    assert_ok(first, changed=True)
    assert first["moved"] == [MAIL, WWW]
    assert (cname(services, WWW), cname(services, MAIL)) == (THOR, THOR)
    assert (cname(services, FTP), cname(services, BACKUP)) == (ODIN, THOR), "nothing else touched"

    again = run_module("dns_pointers", args, check=True, env=env)
    assert_ok(again, changed=False)
    assert (again["moved"], again["actions"]) == ([], [])
    assert again["pointing"] == [BACKUP, MAIL, WWW]
    assert_ok(run_module("dns_pointers", args, env=env), changed=False)

    back = {"zone": "websages.com", "target": THOR, "to": LOKI, "names": first["moved"], "discover": False}
    returned = run_module("dns_pointers", back, env=env)
    assert_ok(returned, changed=True)
    assert returned["moved"] == [MAIL, WWW]
    assert (cname(services, WWW), cname(services, MAIL)) == (LOKI, LOKI)
    assert cname(services, BACKUP) == THOR, "thor's own pointer stays: only what was moved is moved back"
    assert cname(services, FTP) == ODIN


def test_listed_names_elsewhere_are_left_alone(services: DnsInfo) -> None:
    names = [FTP, "ghost.websages.com", "WWW.websages.com"]
    args = {"zone": "websages.com", "target": LOKI, "to": THOR, "names": names, "discover": False}
    result = run_module("dns_pointers", args, env=services.env())
    assert_ok(result, changed=True)
    assert result["moved"] == [WWW]
    assert result["left_alone"] == [FTP, "ghost.websages.com."]
    assert f"left {FTP} alone: it points at {ODIN}, not at {LOKI}" in result["warnings"]
    assert "left ghost.websages.com. alone: it holds no CNAME" in result["warnings"]
    assert (cname(services, WWW), cname(services, MAIL), cname(services, FTP)) == (THOR, LOKI, ODIN)


def test_a_pointer_changed_since_it_was_read_is_not_overwritten(services: DnsInfo) -> None:
    server = signed_server(services)
    zone = dns.name.from_text(ZONE)
    plan = _dns_pointers.plan_pointers(server, zone, LOKI, THOR, [], discover=True)
    assert [pointer.owner for pointer in plan.moves] == [MAIL, WWW]

    set_cnames(services, {WWW: ODIN, MAIL: LOKI})  # someone else moves www meanwhile
    moved: list[str] = []
    with pytest.raises(_dns.DnsPrerequisiteError) as failure:
        _dns_pointers.move_pointers(server, plan.moves, THOR, moved)
    assert f"DNS server 127.0.0.1:{services.port} refused to move {MAIL}, {WWW} in zone {ZONE}" in str(failure.value)
    assert f"{WWW} now points at {ODIN}, not {LOKI}" in str(failure.value)
    assert "nothing was changed" in str(failure.value)
    assert moved == []
    assert (cname(services, WWW), cname(services, MAIL)) == (ODIN, LOKI), "one update per zone: all or nothing"


def test_listed_names_in_another_zone_move_too(services: DnsInfo) -> None:
    alias = "alias.201.10.in-addr.arpa."
    key = tsig_key(services)
    update = dns.update.UpdateMessage("201.10.in-addr.arpa.", keyring=key)
    update.replace(alias, 300, dns.rdatatype.CNAME, LOKI)
    assert dns.query.tcp(update, services.server, port=services.port, timeout=5).rcode() == 0
    server = signed_server(services)
    try:
        plan = _dns_pointers.plan_pointers(
            server, dns.name.from_text(ZONE), LOKI, THOR, [dns.name.from_text(alias)], discover=True
        )
        assert [(p.owner, p.zone.to_text()) for p in plan.moves] == [
            (alias, "201.10.in-addr.arpa."),
            (MAIL, ZONE),
            (WWW, ZONE),
        ]
        moved: list[str] = []
        _dns_pointers.move_pointers(server, plan.moves, THOR, moved)
        assert sorted(moved) == sorted([alias, MAIL, WWW])
        assert (cname(services, alias), cname(services, WWW)) == (THOR, THOR)
    finally:
        update = dns.update.UpdateMessage("201.10.in-addr.arpa.", keyring=key)
        update.delete(alias, dns.rdatatype.CNAME)
        dns.query.tcp(update, services.server, port=services.port, timeout=5)


def test_transfers_need_the_key_and_a_served_zone(services: DnsInfo) -> None:
    where = f"127.0.0.1:{services.port}"
    unsigned = _dns.DnsServer(services.server, services.port, 5)
    with pytest.raises(_dns.DnsRecordError, match=f"{where} answered REFUSED .transferring zone {ZONE}.: .*unsigned"):
        _dns_pointers.transfer_pointers(unsigned, dns.name.from_text(ZONE))

    with pytest.raises(_dns.DnsRecordError, match=f"{where} answered NOTAUTH .transferring zone example.org.."):
        _dns_pointers.transfer_pointers(signed_server(services), dns.name.from_text("example.org"))


def test_a_wrong_secret_fails_without_showing_it(services: DnsInfo) -> None:
    wrong = base64.b64encode(b"not the jarvis sandbox secret!!!").decode()
    env = {**services.env(), "JARVIS_TSIG_SECRET": wrong}
    result = run_module("dns_pointers", {"zone": "websages.com", "target": LOKI, "to": THOR}, env=env)
    assert result.get("failed"), result
    assert f"DNS server 127.0.0.1:{services.port} rejected the signature of TSIG key 'jarvis-sandbox'" in result["msg"]
    assert f"transferring zone {ZONE}" in result["msg"]
    assert wrong not in result["_stdout"]
    assert services.tsig_secret not in result["_stdout"]
    assert cname(services, WWW) == LOKI
