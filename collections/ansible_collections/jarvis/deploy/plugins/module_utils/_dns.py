# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 2136 dynamic updates with TSIG over TCP, behind the jarvis.deploy.dns_record and dns_pointers modules,
and the signed reads of jarvis.deploy.dns_record_info."""

from __future__ import annotations

import ipaddress
import traceback
from contextlib import contextmanager

from ansible.module_utils.basic import env_fallback, missing_required_lib

try:
    import dns.exception
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.reversename
    import dns.tsig
    import dns.update
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None

RECORD_TYPES = ("A", "AAAA", "CNAME", "PTR", "SSHFP", "TXT")
TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
_NAME_VALUED = ("CNAME", "PTR")


class DnsRecordError(Exception):
    """A failure whose message is safe to show: it names server and zone, never the secret."""


class DnsPrerequisiteError(DnsRecordError):
    """The server applied nothing because a prerequisite of the update no longer held."""


# Answers to an update whose prerequisites (RFC 2136 section 2.4) failed.
_PREREQUISITE_RCODES = ("NXDOMAIN", "YXDOMAIN", "NXRRSET", "YXRRSET")
# Why a server refuses an update: REFUSED to no key or to this key, NOTAUTH, anything else.
UPDATE_REFUSALS = {
    "unsigned": "the server refuses unsigned updates: set key_name and key_secret",
    "not allowed": "the server does not allow {key} to update this zone",
    "not authoritative": "the server is not authoritative for zone {zone}",
    "other": "the update was not applied",
}


def dns_server_argument_spec():
    """The options naming the server and its TSIG key, shared by the DNS modules.

    They are documented once, in the jarvis.deploy._dns_server doc fragment; use them together
    with DNS_SERVER_REQUIRED_TOGETHER.
    """
    return dict(
        server=dict(type="str", required=True, fallback=(env_fallback, ["JARVIS_DNS_SERVER"])),
        port=dict(type="int", default=53, fallback=(env_fallback, ["JARVIS_DNS_PORT"])),
        key_name=dict(type="str", fallback=(env_fallback, ["JARVIS_TSIG_KEY_NAME"])),
        key_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["JARVIS_TSIG_SECRET"])),
        key_algorithm=dict(
            type="str",
            default="hmac-sha256",
            choices=list(TSIG_ALGORITHMS),
            fallback=(env_fallback, ["JARVIS_TSIG_ALGORITHM"]),
        ),
        timeout=dict(type="int", default=10),
    )


DNS_SERVER_REQUIRED_TOGETHER = [("key_name", "key_secret")]


def record_name(record, record_type):
    """The absolute owner name for RECORD; for PTR an IP address becomes its reverse pointer name."""
    text = record.strip()
    if record_type == "PTR":
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            return dns.reversename.from_address(str(address))
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise DnsRecordError(f"record {record!r} is not a valid DNS name: {exc}") from None
    if name == dns.name.root:
        raise DnsRecordError(f"record must name something below the root, not {record!r}")
    return name


def normalise_value(record_type, value):
    """VALUE in the canonical text form the server hands back, so equal data compares equal.

    Names are absolute whether or not they end in a dot; a TXT value not starting with a
    quote is one string, spaces included.
    """
    text = value.strip()
    if record_type == "TXT" and not text.startswith('"'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    try:
        rdata = parse_rdata(record_type, text)
    except dns.exception.DNSException as exc:
        raise DnsRecordError(f"{value!r} is not a valid {record_type} value: {exc}") from None
    return rdata_text(record_type, rdata)


def normalise_values(record_type, values):
    """The sorted, de-duplicated canonical forms of VALUES."""
    return sorted(set(normalise_value(record_type, value) for value in values))


def parse_rdata(record_type, text):
    """TEXT in zone file syntax as rdata of RECORD_TYPE; names in it are absolute."""
    rdtype = dns.rdatatype.from_text(record_type)
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False)


def rdata_text(record_type, rdata):
    """RDATA in canonical text form: names lower-cased, so equal data compares equal."""
    text = rdata.to_text()
    return text.lower() if record_type in _NAME_VALUED else text


def make_key(key_name, key_secret, key_algorithm):
    """The TSIG key to sign with, or None to send unsigned messages."""
    if not key_name:
        return None
    algorithm = dns.tsig.HMAC_MD5 if key_algorithm == "hmac-md5" else dns.name.from_text(key_algorithm)
    try:
        return dns.tsig.Key(key_name, key_secret, algorithm)
    except ValueError:
        raise DnsRecordError(f"key_secret of TSIG key {key_name!r} is not valid base64") from None
    except dns.exception.DNSException as exc:
        raise DnsRecordError(f"key_name {key_name!r} is not a valid TSIG key name: {exc}") from None


def dns_server_from_params(params):
    """The DnsServer that the dns_server_argument_spec options in PARAMS describe."""
    key = make_key(params["key_name"], params["key_secret"], params["key_algorithm"])
    return DnsServer(params["server"], params["port"], params["timeout"], key)


class DnsServer:
    """One authoritative server, spoken to over TCP, every message signed when a key is given."""

    def __init__(self, host, port, timeout, key=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.key = key

    @property
    def where(self):
        return f"{self.host}:{self.port}"

    @property
    def key_label(self):
        if self.key is None:
            return "no TSIG key"
        return f"TSIG key {self.key.name.to_text(omit_final_dot=True)!r}"

    def exchange(self, message, what):
        """Send MESSAGE; any transport or TSIG failure becomes a DnsRecordError about WHAT."""
        if self.key is not None and not isinstance(message, dns.update.UpdateMessage):
            message.use_tsig(self.key)
        with self.translated_errors(what):
            return dns.query.tcp(message, self.host, port=self.port, timeout=self.timeout)

    @contextmanager
    def translated_errors(self, what):
        """Turn transport, timeout and TSIG failures of talking to this server into DnsRecordErrors about WHAT."""
        try:
            yield
        except dns.exception.Timeout:
            raise DnsRecordError(f"DNS server {self.where} did not answer within {self.timeout} s ({what})") from None
        except dns.tsig.PeerBadKey:
            raise DnsRecordError(f"DNS server {self.where} does not know {self.key_label} ({what})") from None
        except dns.tsig.PeerBadSignature:
            raise DnsRecordError(
                f"DNS server {self.where} rejected the signature of {self.key_label}:"
                f" wrong key_secret or key_algorithm? ({what})"
            ) from None
        except dns.tsig.PeerBadTime:
            raise DnsRecordError(
                f"DNS server {self.where} rejected the time of the signature: are the clocks in sync? ({what})"
            ) from None
        except dns.exception.DNSException as exc:
            raise DnsRecordError(f"DNS exchange with {self.where} failed ({what}): {exc}") from None
        except OSError as exc:
            raise DnsRecordError(f"cannot reach DNS server {self.where} ({what}): {exc.strerror or exc}") from None

    def find_zone(self, name):
        """The zone holding NAME: walk up its labels asking for SOA until the server is authoritative."""
        candidate = name
        while True:
            query = dns.message.make_query(candidate, dns.rdatatype.SOA)
            response = self.exchange(query, f"looking up the zone of {name}")
            if response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                for rrset in response.answer:
                    if rrset.rdtype == dns.rdatatype.SOA and rrset.name == candidate:
                        return candidate
                # A negative answer from the zone's server carries the zone's SOA.
                for rrset in response.authority:
                    if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                        return rrset.name
            if candidate == dns.name.root:
                raise DnsRecordError(
                    f"no zone for {name} found on DNS server {self.where}:"
                    " it is authoritative for none of its parent names (set zone, or check server and port)"
                )
            candidate = candidate.parent()

    def read(self, zone, name, record_type):
        """The TTL and canonical values the server holds for NAME/RECORD_TYPE; (None, []) when none."""
        rdtype = dns.rdatatype.from_text(record_type)
        what = f"reading {name} {record_type} in zone {zone}"
        response = self.exchange(dns.message.make_query(name, rdtype), what)
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return None, []
        if rcode != dns.rcode.NOERROR:
            raise DnsRecordError(
                f"DNS server {self.where} answered {dns.rcode.to_text(rcode)} ({what}):"
                f" is it authoritative for zone {zone}?"
            )
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        if rrset is None:
            return None, []
        return rrset.ttl, sorted(rdata_text(record_type, rdata) for rdata in rrset)

    def update(self, zone, name, record_type, ttl, values):
        """Make NAME/RECORD_TYPE hold exactly VALUES (delete the RRset when VALUES is empty)."""
        rdtype = dns.rdatatype.from_text(record_type)
        message = dns.update.UpdateMessage(zone, keyring=self.key)
        if values:
            rdatas = [parse_rdata(record_type, value) for value in values]
            message.replace(name, ttl, *rdatas)
        else:
            message.delete(name, rdtype)
        self.send_update(message, zone, f"updating {name} {record_type} in zone {zone}")

    def send_update(self, message, zone, what):
        """Send the update MESSAGE for ZONE; a refusal becomes a DnsRecordError about WHAT.

        Failed prerequisites raise DnsPrerequisiteError: the server then applied nothing.
        """
        rcode = self.exchange(message, what).rcode()
        if rcode == dns.rcode.NOERROR:
            return
        if dns.rcode.to_text(rcode) in _PREREQUISITE_RCODES:
            raise DnsPrerequisiteError(
                f"DNS server {self.where} answered {dns.rcode.to_text(rcode)} ({what}):"
                " a prerequisite of the update no longer holds, so nothing was changed"
            )
        raise DnsRecordError(self.refusal(rcode, zone, what, UPDATE_REFUSALS))

    def refusal(self, rcode, zone, what, reasons):
        """Why the server answered RCODE to WHAT, in ZONE: REASONS says it per kind of refusal (see UPDATE_REFUSALS)."""
        if rcode == dns.rcode.REFUSED:
            reason = reasons["unsigned" if self.key is None else "not allowed"]
        else:
            reason = reasons["not authoritative" if rcode == dns.rcode.NOTAUTH else "other"]
        reason = reason.format(key=self.key_label, zone=zone)
        return f"DNS server {self.where} answered {dns.rcode.to_text(rcode)} ({what}): {reason}"


def plan_actions(name, record_type, state, before_ttl, before, ttl, after):
    """Human-readable steps that turn BEFORE into AFTER; empty when nothing differs."""
    label = f"{name} {record_type}"
    if state == "absent":
        return [f"delete {label} ({', '.join(before)})"] if before else []
    if not before:
        return [f"create {label} {', '.join(after)} (TTL {ttl})"]
    actions = []
    if before != after:
        actions.append(f"replace {label} {', '.join(before)} with {', '.join(after)}")
    if before_ttl != ttl:
        actions.append(f"change TTL of {label} from {before_ttl} to {ttl}")
    return actions


def _describe_served(values, ttl):
    return f"{', '.join(values)} (TTL {ttl})" if values else "nothing"


def _diff_side(name, record_type, ttl, values):
    return {"record": name, "type": record_type, "ttl": ttl if values else None, "values": values}


def zone_of(server, name, zone):
    """The zone option as a name holding NAME, or, without it, the zone SERVER holds NAME in."""
    if not zone:
        return server.find_zone(name)
    try:
        zone_name = dns.name.from_text(zone.strip())
    except dns.exception.DNSException as exc:
        raise DnsRecordError(f"zone {zone!r} is not a valid DNS name: {exc}") from None
    if not name.is_subdomain(zone_name):
        raise DnsRecordError(f"record {name} is not inside zone {zone_name}")
    return zone_name


def run_dns_record_info(module):
    """Read one RRset as the server holds it now; read-only, so check mode is the same run."""
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNSPYTHON_IMPORT_ERROR)
    params = module.params
    record_type = params["type"]
    try:
        name = record_name(params["record"], record_type)
        server = dns_server_from_params(params)
        zone = zone_of(server, name, params["zone"])
        ttl, values = server.read(zone, name, record_type)
    except DnsRecordError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=False,
        record=name.to_text(),
        type=record_type,
        zone=zone.to_text(),
        exists=bool(values),
        values=values,
        ttl=ttl,
    )


def run_dns_record(module):
    """Bring one RRset to the wanted state and exit the module with before/after and actions."""
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNSPYTHON_IMPORT_ERROR)
    params = module.params
    record_type = params["type"]
    state = params["state"]
    ttl = params["ttl"]
    try:
        name = record_name(params["record"], record_type)
        after = normalise_values(record_type, params["values"] or []) if state == "present" else []
        if state == "present" and not after:
            raise DnsRecordError("values must hold at least one value when state=present")
        server = dns_server_from_params(params)
        zone = zone_of(server, name, params["zone"])
        before_ttl, before = server.read(zone, name, record_type)
        actions = plan_actions(name.to_text(), record_type, state, before_ttl, before, ttl, after)
        if actions and not module.check_mode:
            server.update(zone, name, record_type, ttl, after)
            served_ttl, served = server.read(zone, name, record_type)
            if served != after or (after and served_ttl != ttl):
                raise DnsRecordError(
                    f"DNS server {server.where} accepted the update of {name} {record_type} in zone {zone}"
                    f" but serves {_describe_served(served, served_ttl)} instead:"
                    " does a CNAME clash with other data at that name?"
                )
    except DnsRecordError as exc:
        module.fail_json(msg=str(exc))

    result = {
        "changed": bool(actions),
        "record": name.to_text(),
        "type": record_type,
        "zone": zone.to_text(),
        "before": before,
        "after": after,
        "actions": actions,
    }
    if module._diff:
        result["diff"] = {
            "before": _diff_side(name.to_text(), record_type, before_ttl, before),
            "after": _diff_side(name.to_text(), record_type, ttl, after),
        }
    module.exit_json(**result)
