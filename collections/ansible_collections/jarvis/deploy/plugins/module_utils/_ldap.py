# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""LDAP access for the collection's modules and inventory plugin, the decoding of a CMDB host entry,
and the logic of jarvis.deploy.ldap_host and jarvis.deploy.ldap_host_info.

LdapClient maps every ldap3 failure (bind, socket, schema) to one failure (a module's fail_json,
the inventory plugin's AnsibleParserError) that names the server and the LDAP result, and never
carries the bind password.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import HOSTNAME_RE, owner_identity

LDAP3_IMPORT_ERROR = None
try:
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn
except ImportError:
    LDAP3_IMPORT_ERROR = traceback.format_exc()

    class LDAPException(Exception):  # type: ignore[no-redef]
        """Stands in so except clauses still compile without ldap3."""


NO_SUCH_OBJECT = 32
PAGE_SIZE = 500

ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
GENERALIZED_TIME_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$")

# Option -> (attribute, multi-valued). Only options the user gives are managed.
HOST_OPTION_ATTRIBUTES = (
    ("fqdn", "jarvisFqdn", False),
    ("ip", "ipHostNumber", True),
    ("provider", "jarvisProvider", False),
    ("instance_id", "jarvisInstanceId", False),
    ("region", "jarvisRegion", False),
    ("ssh_host_keys", "jarvisSshHostKey", True),
    ("ssh_fingerprints", "jarvisSshFingerprint", True),
    ("root_public_key", "jarvisRootPublicKey", False),
    ("kernel", "jarvisKernel", False),
    ("deployed_by", "jarvisDeployedBy", False),
    ("production", "jarvisProduction", False),
    ("roles", "jarvisRole", True),
    ("owner", "jarvisOwner", False),
    ("approval", "jarvisApproval", False),
)
DEPLOYED_AT = "jarvisDeployedAt"
HOST_CLASS = "jarvisHost"
# ipHost MUSTs ipHostNumber: an entry carries the class exactly while it has an address.
IP_CLASS = "ipHost"
IP_ATTRIBUTE = "ipHostNumber"
HOST_CLASSES = ("device", IP_CLASS, HOST_CLASS)
RESERVED_ATTRIBUTES = ("objectClass", "cn", DEPLOYED_AT)
# Never handed out by the read-only interfaces, should a site keep one in a host entry.
SECRET_ATTRIBUTES = ("userPassword",)
ACTION_VALUE_WIDTH = 72

# The decoded CMDB facts of a host: key -> (attribute, kind). ldap_host_info returns them as
# `host`, the inventory plugin sets them as jarvis_cmdb_<key>.
HOST_FACTS = (
    ("fqdn", "jarvisFqdn", "one"),
    ("ip", IP_ATTRIBUTE, "many"),
    ("provider", "jarvisProvider", "one"),
    ("instance_id", "jarvisInstanceId", "one"),
    ("region", "jarvisRegion", "one"),
    ("roles", "jarvisRole", "many"),
    ("production", "jarvisProduction", "bool"),
    ("standby", "jarvisStandby", "one"),
    ("kernel", "jarvisKernel", "one"),
    ("root_public_key", "jarvisRootPublicKey", "one"),
    ("ssh_fingerprints", "jarvisSshFingerprint", "many"),
    ("deployed_at", DEPLOYED_AT, "time"),
    ("deployed_by", "jarvisDeployedBy", "one"),
    ("owner", "jarvisOwner", "owner"),
    ("approval", "jarvisApproval", "one"),
)


LDAP_SERVER_REQUIRED_TOGETHER = [["bind_dn", "bind_pw"]]


def ldap_host_argument_spec():
    """The options naming a host's entry and its server, shared by the LDAP modules.

    They are documented once, in the jarvis.deploy._ldap_host doc fragment; use them together with
    LDAP_SERVER_REQUIRED_TOGETHER.
    """
    return dict(
        name=dict(type="str", required=True),
        server_uri=dict(type="str", required=True, fallback=(env_fallback, ["JARVIS_LDAP_URI"])),
        bind_dn=dict(type="str", fallback=(env_fallback, ["JARVIS_LDAP_BIND_DN"])),
        bind_pw=dict(type="str", no_log=True, fallback=(env_fallback, ["JARVIS_LDAP_BIND_PASSWORD"])),
        hosts_dn=dict(type="str", required=True, fallback=(env_fallback, ["JARVIS_LDAP_HOSTS_DN"])),
        timeout=dict(type="int", default=10),
    )


def decode_host(entry):
    """The CMDB facts of a host entry ({attribute: [str]}, names in any case) as plain values.

    Multi-valued attributes become sorted lists (LDAP keeps no order), single-valued ones a string
    or None, jarvisProduction a bool (only TRUE is true), jarvisDeployedAt an ISO 8601 UTC time.
    An empty entry gives every fact its empty value, so callers need no special case for a
    host missing from the CMDB.

    ``owner`` is the jarvis identity the entry was made for (lower case, no trailing dot): its
    jarvisOwner, else, for an entry of class jarvisHost written by a jarvis older than owner marks,
    its jarvisFqdn; None for an entry jarvis did not write.
    """
    values = dict((attr.lower(), list(vals)) for attr, vals in entry.items())
    facts = {}
    for key, attribute, kind in HOST_FACTS:
        found = values.get(attribute.lower(), [])
        first = found[0] if found else None
        if kind == "many":
            facts[key] = sorted(set(found))
        elif kind == "bool":
            facts[key] = first is not None and first.strip().upper() == "TRUE"
        elif kind == "time":
            facts[key] = _iso_time(first)
        elif kind == "owner":
            facts[key] = owner_identity(first) or _legacy_owner(values)
        else:
            facts[key] = first
    return facts


def _legacy_owner(values):
    """The owner of an entry without jarvisOwner: its jarvisFqdn, if jarvis (class jarvisHost) wrote it."""
    classes = set(value.lower() for value in values.get("objectclass", []))
    fqdn = values.get("jarvisfqdn", [])
    return owner_identity(fqdn[0]) if HOST_CLASS.lower() in classes and fqdn else None


def without_secrets(entry):
    """ENTRY without the attributes a read-only caller must never hand out."""
    secret = set(name.lower() for name in SECRET_ATTRIBUTES)
    return dict((attr, values) for attr, values in entry.items() if attr.lower() not in secret)


def _iso_time(value):
    """20250101120000Z -> 2025-01-01T12:00:00Z; anything else is returned as it is."""
    match = GENERALIZED_TIME_RE.match(value or "")
    if not match:
        return value
    return "{}-{}-{}T{}:{}:{}Z".format(*match.groups())


class LdapClient:
    """One bound connection to the server of the server_uri/bind_dn/bind_pw/timeout options.

    FAIL is called with a message (and keyword arguments a module's fail_json understands) and
    must not return: modules pass fail_json (see for_module), the inventory plugin a function
    that raises.
    """

    def __init__(self, params, fail):
        self._fail = fail
        self._secret = params.get("bind_pw") or None
        if LDAP3_IMPORT_ERROR is not None:
            self.fail(missing_required_lib("ldap3"), exception=LDAP3_IMPORT_ERROR)
        # ldap3 wants ldap://host:port without the trailing slash LDAP URIs often carry.
        self.uri = params["server_uri"].rstrip("/")
        bind_dn = params.get("bind_dn")
        who = bind_dn or "anonymous"
        bound = False
        try:
            server = ldap3.Server(self.uri, get_info=ldap3.NONE, connect_timeout=params["timeout"])
            self.conn = ldap3.Connection(
                server,
                user=bind_dn,
                password=self._secret,
                receive_timeout=params["timeout"],
                raise_exceptions=False,
            )
            bound = self.conn.bind()
        except LDAPException as exc:
            self.fail(f"cannot reach LDAP server {self.uri} to bind as {who}: {exc}")
        if not bound:
            self.fail(f"LDAP bind as {who} to {self.uri} failed: {self._describe()}")

    @classmethod
    def for_module(cls, module):
        return cls(module.params, module.fail_json)

    def fail(self, msg, **kwargs):
        """Fail with the bind password scrubbed from the message, whatever raised it."""
        if self._secret:
            msg = msg.replace(self._secret, "********")
        self._fail(msg, **kwargs)

    def read(self, dn, search_filter="(objectClass=*)"):
        """The entry at DN as {attribute: [str]}, or None when it does not exist."""
        found = False
        try:
            found = self.conn.search(dn, search_filter, ldap3.BASE, attributes=[ldap3.ALL_ATTRIBUTES])
        except LDAPException as exc:
            self.fail(f"cannot read {dn} from {self.uri}: {exc}")
        if not found:
            if self.conn.result.get("result") in (0, NO_SUCH_OBJECT):
                return None
            self.fail(f"cannot read {dn} from {self.uri}: {self._describe()}")
        return _decoded(self.conn.response[0]["raw_attributes"])

    def host_entries(self, hosts_dn):
        """[(dn, {attribute: [str]})] of every jarvisHost entry right under HOSTS_DN, secrets left out.

        Paged, so a CMDB larger than the server's size limit is read whole.
        """
        try:
            response = self.conn.extend.standard.paged_search(
                hosts_dn,
                f"(objectClass={HOST_CLASS})",
                ldap3.LEVEL,
                attributes=[ldap3.ALL_ATTRIBUTES],
                paged_size=PAGE_SIZE,
                generator=False,
            )
        except LDAPException as exc:
            self.fail(f"cannot search {hosts_dn} on {self.uri}: {exc}")
        result = self.conn.result or {}
        if result.get("result") not in (None, 0):
            self.fail(f"cannot search {hosts_dn} on {self.uri}: {self._describe()}")
        return [
            (item["dn"], without_secrets(_decoded(item["raw_attributes"])))
            for item in response or []
            if item.get("type") == "searchResEntry"
        ]

    def add(self, dn, attributes):
        self._write("add", dn, lambda: self.conn.add(dn, attributes=attributes))

    def modify(self, dn, changes):
        self._write("modify", dn, lambda: self.conn.modify(dn, changes))

    def delete(self, dn):
        self._write("delete", dn, lambda: self.conn.delete(dn))

    def unbind(self):
        with contextlib.suppress(LDAPException):
            self.conn.unbind()

    def _write(self, verb, dn, call):
        done = False
        try:
            done = call()
        except LDAPException as exc:
            self.fail(f"cannot {verb} {dn} on {self.uri}: {exc}")
        if not done:
            self.fail(f"cannot {verb} {dn} on {self.uri}: {self._describe()}")

    def _describe(self):
        result = self.conn.result or {}
        text = "{} (result {})".format(result.get("description", "unknown error"), result.get("result"))
        if result.get("message"):
            text += ": {}".format(result["message"])
        return text


def host_dn(module):
    """cn=<name>,<hosts_dn> of the module's name option, refusing anything but a hostname label."""
    name = module.params["name"]
    if not HOSTNAME_RE.match(name):
        module.fail_json(msg=f"name {name!r} is not a hostname label (letters, digits and inner hyphens, at most 63)")
    if LDAP3_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("ldap3"), exception=LDAP3_IMPORT_ERROR)
    return "cn={},{}".format(escape_rdn(name), module.params["hosts_dn"])


def run_ldap_host_info(module):
    """Read the host's entry (read-only, so check mode changes nothing) and decode it."""
    dn = host_dn(module)
    client = LdapClient.for_module(module)
    try:
        entry = client.read(dn, "(cn={})".format(escape_filter_chars(module.params["name"])))
    finally:
        client.unbind()
    attributes = _sorted_entry(without_secrets(entry or {}))
    module.exit_json(
        changed=False, exists=entry is not None, dn=dn, host=decode_host(attributes), attributes=attributes
    )


def run_ldap_host(module):
    """Make the host's entry under hosts_dn match the options given, or remove it."""
    params = module.params
    name = params["name"]
    dn = host_dn(module)
    wanted = _wanted_attributes(module)

    client = LdapClient.for_module(module)
    try:
        before = client.read(dn, f"(cn={escape_filter_chars(name)})")
        if params["state"] == "absent":
            result = _remove(module, client, dn, before)
        else:
            result = _ensure(module, client, dn, name, before, wanted)
    finally:
        client.unbind()
    module.exit_json(**result)


def _wanted_attributes(module):
    """{attribute: [values]} for the options given; [] means remove the attribute."""
    params = module.params
    wanted = {}
    managed = {}
    for option, attribute, multi in HOST_OPTION_ATTRIBUTES:
        value = params.get(option)
        managed[attribute.lower()] = option
        if value is None:
            continue
        if option == "owner":
            value = owner_identity(value) or ""
        if multi:
            wanted[attribute] = _unique(v.strip() for v in value if v.strip())
        else:
            wanted[attribute] = _unique(v for v in [_ldap_value(value)] if v)
    reserved = dict((a.lower(), a) for a in RESERVED_ATTRIBUTES)
    for attribute, value in (params.get("attributes") or {}).items():
        if not ATTRIBUTE_NAME_RE.match(attribute):
            module.fail_json(msg=f"attributes: {attribute!r} is not an LDAP attribute name")
        if attribute.lower() in reserved:
            module.fail_json(msg=f"attributes: {reserved[attribute.lower()]} is managed by the module itself")
        if attribute.lower() in managed:
            module.fail_json(msg=f"attributes: {attribute} is set with the {managed[attribute.lower()]} option")
        values = value if isinstance(value, list) else [value]
        wanted[attribute] = _unique(v for v in map(_ldap_value, values) if v)
    return wanted


def _ensure(module, client, dn, name, before, wanted):
    # timezone.utc, not datetime.UTC: modules also run on target hosts with Python < 3.11.
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")  # noqa: UP017
    actions = []
    if before is None:
        after = {"objectClass": _classes_for(bool(wanted.get(IP_ATTRIBUTE))), "cn": [name]}
        after.update((attr, values) for attr, values in wanted.items() if values)
        after[DEPLOYED_AT] = [now]
        actions.append("add entry {} ({})".format(dn, ", ".join(after["objectClass"])))
        actions.extend(
            _describe_set(attr, [], values) for attr, values in after.items() if attr not in ("objectClass", "cn")
        )
        if not module.check_mode:
            client.add(dn, after)
    else:
        current = _by_lower(before)
        changes = {}
        for attr, values in wanted.items():
            have = current.get(attr.lower(), (attr, []))[1]
            if set(have) != set(values):
                changes[attr] = values
                actions.append(_describe_set(attr, have, values))
        class_changes = _class_changes(current, changes)
        actions.extend(f"{op} objectClass {cls}" for op, cls in class_changes)
        after = before
        if changes or class_changes:
            changes[DEPLOYED_AT] = [now]
            actions.append(_describe_set(DEPLOYED_AT, current.get(DEPLOYED_AT.lower(), ("", []))[1], [now]))
            after = _apply(before, changes, class_changes)
            if not module.check_mode:
                client.modify(dn, _modifications(current, changes, class_changes))
    changed = bool(actions)
    if changed and not module.check_mode:
        after = client.read(dn) or {}
    result = dict(changed=changed, dn=dn, entry=_sorted_entry(after), actions=actions)
    if module._diff:
        result["diff"] = dict(before=_sorted_entry(before or {}), after=_sorted_entry(after))
    return result


def _remove(module, client, dn, before):
    actions = []
    if before is not None:
        actions.append(f"delete entry {dn}")
        if not module.check_mode:
            client.delete(dn)
    result = dict(changed=bool(actions), dn=dn, entry={}, actions=actions)
    if module._diff:
        result["diff"] = dict(before=_sorted_entry(before or {}), after={})
    return result


def _classes_for(has_ip):
    return [cls for cls in HOST_CLASSES if has_ip or cls != IP_CLASS]


def _class_changes(current, changes):
    """[("add"|"remove", class)] so the entry carries device, jarvisHost and (with an address) ipHost."""
    have = set(v.lower() for v in current.get("objectclass", ("", []))[1])
    if IP_ATTRIBUTE in changes:
        has_ip = bool(changes[IP_ATTRIBUTE])
    else:
        has_ip = bool(current.get(IP_ATTRIBUTE.lower(), ("", []))[1])
    ops = [("add", cls) for cls in _classes_for(has_ip) if cls.lower() not in have]
    if not has_ip and IP_CLASS.lower() in have:
        ops.append(("remove", IP_CLASS))
    return ops


def _modifications(current, changes, class_changes):
    """ldap3 modify changes: REPLACE each changed attribute ([] deletes it), ADD/DELETE classes."""
    mods = {}
    for attr, values in changes.items():
        real_name = current.get(attr.lower(), (attr, []))[0]
        mods[real_name] = [(ldap3.MODIFY_REPLACE, values)]
    class_ops = []
    for op, cls in class_changes:
        class_ops.append((ldap3.MODIFY_ADD if op == "add" else ldap3.MODIFY_DELETE, [cls]))
    if class_ops:
        mods["objectClass"] = class_ops
    return mods


def _apply(before, changes, class_changes):
    """The entry as it will be after the modification (for check mode and the diff)."""
    after = dict((attr, list(values)) for attr, values in before.items())
    names = dict((attr.lower(), attr) for attr in after)
    for attr, values in changes.items():
        real_name = names.get(attr.lower(), attr)
        if values:
            after[real_name] = list(values)
        else:
            after.pop(real_name, None)
    if class_changes:
        class_attr = names.get("objectclass", "objectClass")
        classes = after.setdefault(class_attr, [])
        for op, cls in class_changes:
            if op == "add":
                classes.append(cls)
            else:
                classes[:] = [c for c in classes if c.lower() != cls.lower()]
    return after


def _describe_set(attr, have, values):
    if not values:
        return f"remove {attr}"
    if len(values) == 1 and len(have) <= 1:
        return f"set {attr} to {_short(values[0])}"
    added = len(set(values) - set(have))
    removed = len(set(have) - set(values))
    return f"set {attr} to {len(values)} values ({added} added, {removed} removed)"


def _short(value):
    value = " ".join(value.split())
    if len(value) > ACTION_VALUE_WIDTH:
        return value[: ACTION_VALUE_WIDTH - 3] + "..."
    return value


def _by_lower(entry):
    return dict((attr.lower(), (attr, values)) for attr, values in entry.items())


def _sorted_entry(entry):
    return dict((attr, sorted(values)) for attr, values in sorted(entry.items()))


def _ldap_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value).strip()


def _unique(values):
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _decoded(raw_attributes):
    return dict((name, [_text(v) for v in values]) for name, values in raw_attributes.items())


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
