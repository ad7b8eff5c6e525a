# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Move the CNAMEs that point at one host over to another, behind the jarvis.deploy.dns_pointers module.

Pointers are found by a TSIG-signed zone transfer, and each is moved only if it still points where it
did when it was read (an RFC 2136 value-dependent prerequisite), so a concurrent change is never overwritten.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.jarvis.deploy.plugins.module_utils._dns import (
    DNSPYTHON_IMPORT_ERROR,
    HAS_DNSPYTHON,
    DnsPrerequisiteError,
    DnsRecordError,
    dns_server_from_params,
    normalise_value,
    parse_rdata,
    rdata_text,
    record_name,
)

try:
    import dns.exception
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.update
    import dns.xfr
    import dns.zone
except ImportError:
    HAS_XFR = False
    XFR_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_XFR = True
    XFR_IMPORT_ERROR = None

# Why a server refuses a zone transfer (the kinds as in _dns.UPDATE_REFUSALS).
TRANSFER_REFUSALS = {
    "unsigned": "the server refuses unsigned zone transfers: set key_name and key_secret",
    "not allowed": "the server does not allow {key} to transfer this zone (allow-transfer)",
    "not authoritative": "the server is not authoritative for zone {zone}, or does not accept {key}",
    "other": "the zone was not transferred",
}


class Pointer:
    """One CNAME: its owner NAME in ZONE, its TTL and the canonical name it points at."""

    __slots__ = ("name", "zone", "ttl", "target")

    def __init__(self, name, zone, ttl, target):
        self.name = name
        self.zone = zone
        self.ttl = ttl
        self.target = target

    @property
    def owner(self):
        """The owner name as returned to users: absolute, lower case."""
        return self.name.canonicalize().to_text()


class Plan:
    """The pointers to move, those already at the new target, and the listed names left alone (with why)."""

    def __init__(self, moves, staying, left_alone):
        self.moves = moves
        self.staying = staying
        self.left_alone = left_alone


def transfer_pointers(server, zone):
    """Every CNAME of ZONE by owner name, read with one zone transfer (AXFR over TCP, signed with the server's key)."""
    what = f"transferring zone {zone}"
    copy = dns.zone.Zone(zone, relativize=False)
    query = dns.message.make_query(zone, dns.rdatatype.AXFR)
    if server.key is not None:
        query.use_tsig(server.key)
    with server.translated_errors(what):
        try:
            dns.query.inbound_xfr(server.host, copy, query, port=server.port, timeout=server.timeout)
        except dns.xfr.TransferError as exc:
            raise DnsRecordError(_transfer_refusal(server, zone, exc.rcode)) from None
    pointers = {}
    for name, rdataset in copy.iterate_rdatasets(dns.rdatatype.CNAME):
        for rdata in rdataset:  # a CNAME set holds exactly one record
            pointers[name] = Pointer(name, zone, rdataset.ttl, rdata_text("CNAME", rdata))
    return pointers


def _transfer_refusal(server, zone, rcode):
    return server.refusal(rcode, zone, f"transferring zone {zone}", TRANSFER_REFUSALS)


def read_pointer(server, name):
    """The CNAME at NAME, asked of the server directly (its zone found by SOA queries); None when it holds none."""
    zone = server.find_zone(name)
    ttl, values = server.read(zone, name, "CNAME")
    return Pointer(name, zone, ttl, values[0]) if values else None


def plan_pointers(server, zone, target, to, names, discover):
    """Which CNAMEs point at TARGET (to move) or at TO already, among ZONE's (when DISCOVER) and NAMES.

    A listed name that holds no CNAME, or one pointing elsewhere, is left alone, with why.
    """
    found = transfer_pointers(server, zone) if discover else {}
    considered = {name: pointer for name, pointer in found.items() if pointer.target in (target, to)}
    left_alone = []
    for name in names:
        if name in considered:
            continue
        pointer = found[name] if name in found else read_pointer(server, name)
        if pointer is None:
            left_alone.append((name.canonicalize().to_text(), "it holds no CNAME"))
        elif pointer.target not in (target, to):
            left_alone.append((pointer.owner, f"it points at {pointer.target}, not at {target}"))
        else:
            considered[name] = pointer
    pointers = sorted(considered.values(), key=lambda pointer: pointer.name)
    moves = [pointer for pointer in pointers if pointer.target == target]
    staying = [pointer for pointer in pointers if pointer.target == to]
    return Plan(moves, staying, left_alone)


def move_pointers(server, moves, to, moved):
    """Point every pointer in MOVES at TO, one atomic update per zone; append the owners moved to MOVED.

    Each move carries the prerequisite that its CNAME still points where it pointed when read.
    """
    new_target = parse_rdata("CNAME", to)
    by_zone = {}
    for pointer in moves:
        by_zone.setdefault(pointer.zone, []).append(pointer)
    for zone, pointers in by_zone.items():
        message = dns.update.UpdateMessage(zone, keyring=server.key)
        for pointer in pointers:
            message.present(pointer.name, parse_rdata("CNAME", pointer.target))
            message.replace(pointer.name, pointer.ttl, new_target)
        owners = ", ".join(pointer.owner for pointer in pointers)
        try:
            server.send_update(message, zone, f"moving {owners} in zone {zone} to {to}")
        except DnsPrerequisiteError as exc:
            raise DnsPrerequisiteError(_stale_pointers(server, zone, pointers, to) or str(exc)) from None
        moved.extend(pointer.owner for pointer in pointers)


def _stale_pointers(server, zone, pointers, to):
    """Why the prerequisites of moving POINTERS failed: which of them changed since they were read."""
    changes = []
    for pointer in pointers:
        _ttl, values = server.read(zone, pointer.name, "CNAME")
        now = f"points at {values[0]}" if values else "holds no CNAME"
        if values != [pointer.target]:
            changes.append(f"{pointer.owner} now {now}, not {pointer.target}")
    if not changes:
        return None
    return (
        f"DNS server {server.where} refused to move {', '.join(pointer.owner for pointer in pointers)}"
        f" in zone {zone} to {to} because they changed since they were read ({'; '.join(changes)}):"
        f" nothing was changed in zone {zone}, so nobody else's change is overwritten"
    )


def _host_name(option, value):
    try:
        return normalise_value("CNAME", value)
    except DnsRecordError as exc:
        raise DnsRecordError(f"{option}: {exc}") from None


def _owner_names(names):
    owners = []
    for text in names:
        try:
            owners.append(record_name(text, "CNAME"))
        except DnsRecordError as exc:
            raise DnsRecordError(f"names: {exc}") from None
    return owners


def run_dns_pointers(module):
    """Move the pointers at target over to `to` and exit the module with what moved and what points there."""
    if not (HAS_DNSPYTHON and HAS_XFR):
        module.fail_json(
            msg=missing_required_lib("dnspython >= 2.1"), exception=DNSPYTHON_IMPORT_ERROR or XFR_IMPORT_ERROR
        )
    params = module.params
    moved = []
    try:
        try:
            zone = dns.name.from_text(params["zone"].strip())
        except dns.exception.DNSException as exc:
            raise DnsRecordError(f"zone {params['zone']!r} is not a valid DNS name: {exc}") from None
        target = _host_name("target", params["target"])
        to = _host_name("to", params["to"])
        if target == to:
            raise DnsRecordError(f"target and to are the same name ({target}): there is nothing to move")
        names = _owner_names(params["names"] or [])
        server = dns_server_from_params(params)
        plan = plan_pointers(server, zone, target, to, names, params["discover"])
        if plan.moves and not module.check_mode:
            move_pointers(server, plan.moves, to, moved)
    except DnsRecordError as exc:
        module.fail_json(msg=str(exc), moved=moved)

    for owner, reason in plan.left_alone:
        module.warn(f"left {owner} alone: {reason}")
    considered = sorted(plan.moves + plan.staying, key=lambda pointer: pointer.name)
    module.exit_json(
        changed=bool(plan.moves),
        moved=[pointer.owner for pointer in plan.moves],
        pointing=[pointer.owner for pointer in considered],
        left_alone=[owner for owner, _reason in plan.left_alone],
        actions=[f"moved {pointer.owner} from {target} to {to}." for pointer in plan.moves],
        diff={
            "before": {pointer.owner: pointer.target for pointer in considered},
            "after": {pointer.owner: to for pointer in considered},
        },
    )
