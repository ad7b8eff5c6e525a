# Private to this collection: the host design format and its validation (the mapping tables: _design_tables).
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a design (the seed's ``instance:`` document or the richer ``instances:`` one) into hosts.

Pure Python with no third-party imports, so the same code serves the ``jarvis.deploy.design``
module, the static playbooks and the orchestrator. Every problem is reported with the path of
the key at fault (``instance.size: expected a positive integer, got "huge"``), and nothing is
half-accepted: a design either normalises completely or raises :class:`DesignError`.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Collection

from ansible_collections.jarvis.deploy.plugins.module_utils._design_tables import (
    DEFAULT_MAPPINGS,
    PROVIDER_ALIASES,
    RAW_IDS,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import HOSTNAME_RE, is_host_name
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import KEY_TYPES
from ansible_collections.jarvis.deploy.plugins.module_utils._puppet import NAME_RE as PUPPET_NAME_RE

# A key as a design writes it: a known type, one space, its data, maybe one space and a printable comment.
SSH_KEY_RE = re.compile("^(" + "|".join(map(re.escape, KEY_TYPES)) + r") [A-Za-z0-9+/=.]+( [\x21-\x7e][\x20-\x7e]*)?$")
# Neither the host nor the path may start with '-', so no part of a remote reads as an ssh or git option.
GIT_REMOTE_RE = re.compile(r"^[a-z_][a-z0-9_-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._/][A-Za-z0-9._/-]*$")
MOUNT_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]*$")
MOUNT_FIELD_RE = re.compile(r"^[A-Za-z0-9._/:@=,+-]+$")
PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Roles become CMDB values (jarvisRole) and inventory group names (role_<name>).
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_ROLES = 32

LEGACY_KEYS = {
    "hostname": "hostname",
    "fqdn": "fqdn",
    "provider": "provider",
    "guestid": "image",
    "datacenter": "region",
    "size": "size",
    "gitosis-admin": "gitosis_admin",
    "sshpubkey": "ssh_keys",
}
HOST_KEYS = {
    "hostname",
    "fqdn",
    "provider",
    "image",
    "region",
    "size",
    "ssh_keys",
    "gitosis_admin",
    "dns",
    "mounts",
    "puppet",
    "kernel",
    "provider_options",
    "standby",
    "root_key",
    "roles",
}
MAX_INSTANCES = 100
MAX_STRING = 4096
MAX_LIST = 64  # ssh_keys, mounts: a host's, not a directory's


class DesignError(ValueError):
    """A design that cannot be deployed; ``path`` names the key at fault."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def merge_mappings(overrides: dict | None) -> dict:
    """The default mapping tables with the user's ``mappings`` from config laid over them."""
    tables = copy.deepcopy(DEFAULT_MAPPINGS)
    for provider, kinds in (overrides or {}).items():
        name = _provider_name(str(provider), "mappings")
        if not isinstance(kinds, dict):
            raise DesignError(f"mappings.{_key(provider)}", f"expected a mapping, got {_show(kinds)}")
        for kind, table in kinds.items():
            if kind not in ("images", "regions", "sizes") or not isinstance(table, dict):
                raise DesignError(f"mappings.{_key(provider)}.{_key(kind)}", "expected images, regions or sizes tables")
            tables[name][kind].update({str(key).lower(): str(value) for key, value in table.items()})
    return tables


def normalize(
    design: object,
    mappings: dict | None = None,
    *,
    gitosis_allowed: Collection[str] | None = None,
    zones: Collection[str] | None = None,
) -> list[dict]:
    """Validate a design document and return its hosts in the canonical (rich) form.

    ``mappings`` are the user's overrides of :data:`DEFAULT_MAPPINGS`. ``gitosis_allowed`` are the
    gitosis-admin remotes the config lets the controller reach (empty: none); a host naming another is
    refused. ``zones`` are the DNS zones jarvis may write (empty: none); a host whose zone or reverse zone
    is another is refused. None means this caller does not check: it re-normalises hosts checked before.
    """
    tables = merge_mappings(mappings)
    if not isinstance(design, dict):
        raise DesignError("design", f"expected a mapping with 'instance' or 'instances', got {_show(design)}")
    unknown = set(design) - {"instance", "instances", "defaults"}
    if unknown:
        raise DesignError(
            _key(sorted(unknown, key=str)[0]), "unknown top-level key (expected instance, instances, defaults)"
        )
    if ("instance" in design) == ("instances" in design):
        raise DesignError("design", "give exactly one of 'instance' (one host) or 'instances' (a list)")
    if "instance" in design:
        if "defaults" in design:
            raise DesignError("defaults", "only allowed beside 'instances'")
        raws = [("instance", _from_legacy(design["instance"]))]
    else:
        raws = _expand_instances(design["instances"], design.get("defaults", {}))
    allowed = None if gitosis_allowed is None else sorted(set(gitosis_allowed))
    hosts = [_normalize_host(path, raw, tables, allowed) for path, raw in raws]
    seen: dict[str, str] = {}
    for (path, _raw), host in zip(raws, hosts, strict=True):
        if host["hostname"] in seen:
            raise DesignError(f"{path}.hostname", f"{host['hostname']!r} is also used by {seen[host['hostname']]}")
        seen[host["hostname"]] = path
        if zones is not None:
            _check_zones(path, _raw, host, zones)
    return hosts


def _check_zones(path: str, raw: dict, host: dict, zones: Collection[str]) -> None:
    """Refuse a host whose records would go into a zone the site does not let jarvis write."""
    allowed = sorted({zone.rstrip(".").lower() for zone in zones})
    given = raw.get("dns") if isinstance(raw.get("dns"), dict) else {}
    for key, zone in (("zone", host["dns"]["zone"]), ("reverse_zone", host["dns"]["reverse_zone"])):
        if zone is None or zone in allowed:
            continue
        where = f"{path}.dns.{key}" if key in given else f"{path}.fqdn"
        listed = f"jarvis may write only {', '.join(allowed)}" if allowed else "no zones are configured (zones:)"
        raise DesignError(where, f"the zone {zone!r} is not one jarvis may write: {listed}")


def _from_legacy(instance: object) -> dict:
    """Map the seed's keys (guestid, datacenter, size, gitosis-admin, sshpubkey) onto the rich ones."""
    if not isinstance(instance, dict):
        raise DesignError("instance", f"expected a mapping, got {_show(instance)}")
    raw: dict = {}
    for key, value in instance.items():
        if key not in LEGACY_KEYS:
            raise DesignError(f"instance.{_key(key)}", f"unknown key (known: {', '.join(LEGACY_KEYS)})")
        if key == "size" and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise DesignError("instance.size", f"expected a positive integer, got {_show(value)}")
        raw[LEGACY_KEYS[key]] = [value] if key == "sshpubkey" else value
    raw["_legacy"] = True
    return raw


def _expand_instances(instances: object, defaults: object) -> list[tuple[str, dict]]:
    if not isinstance(instances, list) or not instances:
        raise DesignError("instances", f"expected a non-empty list, got {_show(instances)}")
    if len(instances) > MAX_INSTANCES:
        raise DesignError("instances", f"at most {MAX_INSTANCES} hosts per design, got {len(instances)}")
    if not isinstance(defaults, dict):
        raise DesignError("defaults", f"expected a mapping, got {_show(defaults)}")
    _check_keys("defaults", defaults, HOST_KEYS - {"hostname", "fqdn"})
    raws = []
    for index, instance in enumerate(instances):
        path = f"instances[{index}]"
        if not isinstance(instance, dict):
            raise DesignError(path, f"expected a mapping, got {_show(instance)}")
        _check_keys(path, instance, HOST_KEYS)
        raws.append((path, {**copy.deepcopy(defaults), **instance}))
    return raws


def _short_list(path: str, value: object, expected: str) -> list:
    """VALUE when it is a list of at most MAX_LIST items (a host's, not a directory's), else a DesignError."""
    if not isinstance(value, list):
        raise DesignError(path, f"expected {expected}, got {_show(value)}")
    if len(value) > MAX_LIST:
        raise DesignError(path, f"at most {MAX_LIST} entries, got {len(value)}")
    return value


def _check_keys(path: str, mapping: dict, allowed: set[str]) -> None:
    for key in mapping:
        if key not in allowed:
            raise DesignError(f"{path}.{_key(key)}", f"unknown key (known: {', '.join(sorted(allowed))})")


def _normalize_host(path: str, raw: dict, tables: dict, gitosis_allowed: list[str] | None) -> dict:
    legacy = raw.pop("_legacy", False)
    keys = {v: k for k, v in LEGACY_KEYS.items()} if legacy else {k: k for k in HOST_KEYS}

    def at(key: str) -> str:
        return f"{path}.{keys.get(key, key)}"

    hostname = _string(at("hostname"), raw.get("hostname"), required=True)
    hostname = hostname.lower() if hostname.isascii() else hostname  # "\u212a".lower() is an ASCII "k"
    if not HOSTNAME_RE.match(hostname):
        raise DesignError(
            at("hostname"),
            f"{hostname!a} is not a hostname (letters, digits and inner hyphens, at most 63 characters)",
        )
    fqdn = _fqdn(at("fqdn"), raw.get("fqdn"), hostname)
    provider = _provider_name(_string(at("provider"), raw.get("provider"), required=True), at("provider"))
    host: dict = {
        "hostname": hostname,
        "fqdn": fqdn,
        "provider": provider,
        "image": _mapped(at("image"), raw.get("image"), provider, "images", tables),
        "region": _mapped(at("region"), raw.get("region"), provider, "regions", tables),
        "size": _mapped(at("size"), raw.get("size"), provider, "sizes", tables),
        "ssh_keys": _ssh_keys(at("ssh_keys"), raw.get("ssh_keys", [])),
        "gitosis_admin": None,
        "dns": _dns(at("dns"), raw.get("dns", {}), fqdn),
        "mounts": _mounts(at("mounts"), raw.get("mounts", [])),
        "puppet": _puppet(at("puppet"), raw.get("puppet", {})),
        "kernel": _kernel(at("kernel"), raw.get("kernel", {})),
        "provider_options": _provider_options(at("provider_options"), raw.get("provider_options", {}), provider),
        "standby": None,
        "root_key": _root_key(at("root_key"), raw.get("root_key", {})),
        "roles": _roles(at("roles"), raw.get("roles", [])),
    }
    if raw.get("gitosis_admin") is not None:
        host["gitosis_admin"] = _gitosis_admin(at("gitosis_admin"), raw["gitosis_admin"], gitosis_allowed)
    if raw.get("standby") is not None:
        host["standby"] = _fqdn(at("standby"), raw["standby"], None)
    return host


def as_design(hosts: list) -> dict:
    """A design document of canonical HOSTS, which :func:`normalize` turns back into the same hosts.

    How jarvis hands hosts it stored to a playbook that validates its design (AWX job templates).
    """
    return {
        "instances": [
            {**host, "provider_options": {host["provider"]: host["provider_options"]}}
            if host["provider_options"]
            else host
            for host in hosts
        ]
    }


def _provider_name(value: str, path: str) -> str:
    wanted = value.strip().lower()
    for name, aliases in PROVIDER_ALIASES.items():
        if wanted in aliases:
            return name
    raise DesignError(path, f"unknown provider {_show(value)} (known: {', '.join(PROVIDER_ALIASES)})")


def _mapped(path: str, value: object, provider: str, kind: str, tables: dict) -> str:
    """Resolve a design's image/region/size through the provider's table, or accept a raw id."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise DesignError(path, f"expected a name from the {provider} {kind} table, got {_show(value)}")
    text = str(value).strip()
    table = tables[provider][kind]
    if text.lower() in table:
        return table[text.lower()]
    if text.isascii() and RAW_IDS[provider][kind].match(text):  # \d matches any script's digits
        return text
    known = ", ".join(sorted(table)) or "none configured"
    raise DesignError(
        path,
        f"unknown {kind[:-1]} {_show(value)} for {provider} (known: {known}; "
        f"add it under mappings.{provider}.{kind} in the config)",
    )


def _string(path: str, value: object, required: bool = False, multiline: bool = False) -> str:
    if value is None and required:
        raise DesignError(path, "is required")
    if not isinstance(value, str) or not value.strip():
        raise DesignError(path, f"expected a non-empty string, got {_show(value)}")
    allowed = "\n\t" if multiline else ""
    if len(value) > MAX_STRING or any(ord(char) < 32 and char not in allowed for char in value):
        raise DesignError(path, "contains control characters or is too long")
    return value if multiline else value.strip()


def _gitosis_admin(path: str, value: object, allowed: list[str] | None) -> str:
    """A gitosis-admin remote, which the controller will connect to: only one the config allows."""
    remote = _string(path, value)
    if not GIT_REMOTE_RE.match(remote):
        raise DesignError(path, f"expected user@host:path.git, got {_show(remote)}")
    if allowed is not None and remote not in allowed:
        which = (
            f"allowed: {', '.join(allowed)}"
            if allowed
            else "none are allowed: set gitosis.remotes or gitosis.allowed in the config"
        )
        raise DesignError(path, f"{remote!r} is not an allowed gitosis-admin remote ({which})")
    return remote


def _fqdn(path: str, value: object, hostname: str | None) -> str:
    if value is None and hostname is not None:
        raise DesignError(path, "is required (the host's fully qualified name, e.g. loki.example.com)")
    fqdn = _string(path, value)
    fqdn = (fqdn.lower() if fqdn.isascii() else fqdn).rstrip(".")
    if not is_host_name(fqdn, fqdn=True):
        raise DesignError(path, f"{_show(value)} is not a fully qualified domain name")
    if hostname is not None and fqdn.split(".")[0] != hostname:
        raise DesignError(path, f"{fqdn!r} does not start with the hostname {hostname!r}")
    return fqdn


def _ssh_keys(path: str, value: object) -> list[str]:
    given = _short_list(path, value, "a list of public keys")
    keys = []
    for index, key in enumerate(given):
        where = f"{path}[{index}]" if len(given) > 1 else path
        text = _string(where, key)
        if not SSH_KEY_RE.match(text):
            raise DesignError(where, f"not an SSH public key: {_show(text[:40])}")
        keys.append(text)
    return keys


def _dns(path: str, value: object, fqdn: str) -> dict:
    if not isinstance(value, dict):
        raise DesignError(path, f"expected a mapping, got {_show(value)}")
    _check_keys(path, value, {"zone", "reverse_zone", "ttl"})
    zone = value.get("zone", fqdn.split(".", 1)[1])
    zone = _fqdn(f"{path}.zone", zone, None) if "." in str(zone) else _string(f"{path}.zone", zone).lower()
    if fqdn == zone:
        raise DesignError(f"{path}.zone", f"{fqdn!r} is the zone's apex: a host's fqdn must be a name inside its zone")
    if not fqdn.endswith("." + zone):
        raise DesignError(f"{path}.zone", f"{fqdn!r} is not inside the zone {zone!r}")
    ttl = value.get("ttl", 3600)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= 2147483647:
        raise DesignError(f"{path}.ttl", f"expected a positive integer, got {_show(ttl)}")
    reverse = value.get("reverse_zone")
    if reverse is not None:
        reverse = _fqdn(f"{path}.reverse_zone", reverse, None)
    return {"zone": zone, "reverse_zone": reverse, "ttl": ttl}


def _mounts(path: str, value: object) -> list[dict]:
    mounts = []
    for index, mount in enumerate(_short_list(path, value, "a list")):
        where = f"{path}[{index}]"
        if not isinstance(mount, dict):
            raise DesignError(where, f"expected a mapping with src, path, fstype, got {_show(mount)}")
        _check_keys(where, mount, {"src", "path", "fstype", "opts"})
        target = _string(f"{where}.path", mount.get("path"), required=True)
        if not MOUNT_PATH_RE.match(target) or ".." in target.split("/"):
            raise DesignError(f"{where}.path", f"expected an absolute path, got {_show(target)}")
        fields = {}
        for key, default in (("src", None), ("fstype", None), ("opts", "defaults")):
            field = _string(f"{where}.{key}", mount.get(key, default), required=True)
            if not MOUNT_FIELD_RE.match(field):
                raise DesignError(f"{where}.{key}", f"contains characters not allowed in fstab: {_show(field)}")
            if field.startswith("-"):
                raise DesignError(
                    f"{where}.{key}", f"must not start with '-' (mount would read it as an option): {_show(field)}"
                )
            fields[key] = field
        mounts.append({"path": target, **fields})
    return mounts


def _puppet(path: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise DesignError(path, f"expected a mapping, got {_show(value)}")
    _check_keys(path, value, {"server", "environment", "manifest"})
    puppet: dict = {"server": None, "environment": "production", "manifest": None}
    for key in ("server", "environment"):
        if value.get(key) is not None:
            text = _string(f"{path}.{key}", value[key])
            if not PUPPET_NAME_RE.match(text):
                raise DesignError(f"{path}.{key}", f"unexpected characters in {_show(text)}")
            puppet[key] = text
    if value.get("manifest") is not None:
        puppet["manifest"] = _string(f"{path}.manifest", value["manifest"], multiline=True)
    return puppet


def _kernel(path: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise DesignError(path, f"expected a mapping, got {_show(value)}")
    _check_keys(path, value, {"upgrade", "minimum"})
    upgrade = value.get("upgrade", False)
    if not isinstance(upgrade, bool):
        raise DesignError(f"{path}.upgrade", f"expected true or false, got {_show(upgrade)}")
    minimum = value.get("minimum")
    if minimum is not None and not re.fullmatch(r"[0-9]+(\.[0-9]+){0,2}", str(minimum)):
        raise DesignError(f"{path}.minimum", f"expected a version like 6.1, got {_show(minimum)}")
    return {"upgrade": upgrade, "minimum": None if minimum is None else str(minimum)}


def _root_key(path: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise DesignError(path, f"expected a mapping, got {_show(value)}")
    _check_keys(path, value, {"rotate"})
    rotate = value.get("rotate", False)
    if not isinstance(rotate, bool):
        raise DesignError(f"{path}.rotate", f"expected true or false, got {_show(rotate)}")
    return {"rotate": rotate}


def _roles(path: str, value: object) -> list[str]:
    """Role names in the order given, each once: they end up as jarvisRole values and group names."""
    if not isinstance(value, list):
        raise DesignError(path, f"expected a list of role names, got {_show(value)}")
    roles: list[str] = []
    for index, role in enumerate(value):
        if not isinstance(role, str) or not ROLE_RE.fullmatch(role):
            raise DesignError(
                f"{path}[{index}]",
                f"expected a role name (a lower-case letter, then up to 62 of a-z, 0-9, _ and -), got {_show(role)}",
            )
        if role not in roles:
            roles.append(role)
    if len(roles) > MAX_ROLES:
        raise DesignError(path, f"at most {MAX_ROLES} roles per host, got {len(roles)}")
    return roles


def _provider_options(path: str, value: object, provider: str) -> dict:
    """The host's provider's settings, from a mapping keyed by provider name (see :func:`as_design`)."""
    if not isinstance(value, dict):
        raise DesignError(path, f"expected a mapping of provider name to settings, got {_show(value)}")
    options: dict = {}
    for name, settings in value.items():
        if _provider_name(str(name), f"{path}.{_key(name)}") == provider:
            options.update(_settings(f"{path}.{_key(name)}", settings))
    return options


def _settings(path: str, settings: object) -> dict:
    if not isinstance(settings, dict) or not all(isinstance(key, str) for key in settings):
        raise DesignError(path, f"expected a mapping, got {_show(settings)}")
    for key, value in settings.items():
        _plain_data(f"{path}.{_key(key)}", value)
    return dict(settings)


def _plain_data(path: str, value: object) -> None:
    """Settings are data as stored and sent (JSON): text keys all the way down, finite numbers."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DesignError(path, f"expected a mapping with text keys, got the key {_show(key)}")
            _plain_data(f"{path}.{_key(key)}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _plain_data(f"{path}[{index}]", item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise DesignError(path, f"expected a finite number, got {_show(value)}")
    elif value is not None and not isinstance(value, (str, int, float)):
        raise DesignError(path, f"expected text, a number, true, false or null, got a {type(value).__name__}")


def _key(key: object) -> str:
    """A mapping key for an error's path: as it is when plain, else quoted short like a value."""
    text = str(key)
    return text if PLAIN_KEY_RE.fullmatch(text) else _show(text)


def _show(value: object) -> str:
    """Quote a value for an error message, short and on one line."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    return repr(value)
