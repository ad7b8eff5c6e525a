# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""LDAP access for the collection's modules, and the logic of jarvis.deploy.ldap_host.

LdapClient maps every ldap3 failure (bind, socket, schema) to one fail_json that names the DN
and the LDAP result, and never carries the bind password.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

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

HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")

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
)
DEPLOYED_AT = "jarvisDeployedAt"
# ipHost MUSTs ipHostNumber: an entry carries the class exactly while it has an address.
IP_CLASS = "ipHost"
IP_ATTRIBUTE = "ipHostNumber"
HOST_CLASSES = ("device", IP_CLASS, "jarvisHost")
RESERVED_ATTRIBUTES = ("objectClass", "cn", DEPLOYED_AT)
ACTION_VALUE_WIDTH = 72


class LdapClient:
    """One bound connection to the server of the module's server_uri/bind_dn/bind_pw/timeout options."""

    def __init__(self, module):
        self.module = module
        if LDAP3_IMPORT_ERROR is not None:
            module.fail_json(msg=missing_required_lib("ldap3"), exception=LDAP3_IMPORT_ERROR)
        params = module.params
        self._secret = params.get("bind_pw") or None
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

    def fail(self, msg, **kwargs):
        """fail_json with the bind password scrubbed from the message, whatever raised it."""
        if self._secret:
            msg = msg.replace(self._secret, "********")
        self.module.fail_json(msg=msg, **kwargs)

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
        raw = self.conn.response[0]["raw_attributes"]
        return dict((name, [_text(v) for v in values]) for name, values in raw.items())

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


def run_ldap_host(module):
    """Make the host's entry under hosts_dn match the options given, or remove it."""
    params = module.params
    name = params["name"]
    if not HOSTNAME_RE.match(name):
        module.fail_json(msg=f"name {name!r} is not a hostname label (letters, digits and inner hyphens, at most 63)")
    wanted = _wanted_attributes(module)
    dn = "cn={},{}".format(escape_rdn(name), params["hosts_dn"])

    client = LdapClient(module)
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


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
