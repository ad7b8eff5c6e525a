"""Properties of the design validator, over documents hypothesis makes up (hostile ones included).

Any document either validates or raises a :class:`DesignError` whose path names a key (or the
design as a whole), with a short one-line message fit for chat; never any other exception. A
validated design's hosts survive the status store and being handed back as a design unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator._collection import design_rules
from orchestrator.design import parse_design
from orchestrator.errors import DesignError
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore

QUICK = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c root@loki.websages.com"
AMI = "ami-0123456789abcdef0"

# Text that has bitten, or would bite, someone: templates, control and invisible characters, options.
NASTY = [
    "{{ lookup('pipe', 'touch /tmp/x') }}",
    "{{ jarvis_credentials | to_json }}",
    "{% for x in range(9) %}{{ x }}{% endfor %}",
    "{# comment #}",
    "${HOME}",
    "$(id)",
    "-oProxyCommand=touch /tmp/x",
    "--help",
    "line\r\nPRIVMSG #ops :owned",
    "\x1b]0;owned\x07",
    "\x00",
    "\x7f",
    "\u0085",
    "\u202eevil",
    "\u2066x\u2069",
    "zero\u200bwidth",
    "\ufeffbom",
    "\u212aelvin",  # KELVIN SIGN: lower-cases to an ASCII k
    "\u0130",  # lower-cases to two code points
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "a" * 5000,
    " ",
    "",
    "~",
    "null",
    "2024-01-31",
    "0x1f",
    "1e3",
    "yes",
    "web\n",
    "6.1\n",
    "loki.",
    "LOKI",
    "loki\n",
]
text = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.text(st.characters(codec="ascii"), max_size=20))
scalars = st.one_of(
    text,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
)
keys = st.one_of(
    st.sampled_from(
        sorted(design_rules.HOST_KEYS)
        + list(design_rules.LEGACY_KEYS)
        + ["instance", "instances", "defaults", "ec2", "aws", "linode", "vsphere", "tags", "zone", "ttl"]
        + ["src", "path", "fstype", "opts", "server", "environment", "manifest", "upgrade", "minimum", "rotate"]
    ),
    text,
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=25
)


def _no_nul(value: str) -> bool:
    return "\x00" not in value and not any("\ud800" <= char <= "\udfff" for char in value)


# Values each field may validly take (near-valid designs also put them where they do not belong).
VALID = {
    "hostname": ["loki", "LOKI", "a", "web-01", "x" * 63],
    "provider": ["ec2", "AWS", "Amazon EC2", "linode", "Linode", "vsphere", "ESXi", "VMware"],
    "image": [AMI, "Debian 12", "debian-12", "linode/debian12", "debian-12-template"],
    "region": ["Atlanta", "tokyo", "us-east-1", "us-southeast", "DC0"],
    "size": [512, 1024, "2048", 8192, "t3.micro", "g6-nanode-1", "2x4096"],
    "ssh_keys": [[], [ED25519], [ED25519, "ssh-rsa AAAAB3NzaC1yc2E= {{ lookup('pipe','id') }}"]],
    "gitosis_admin": [None, "gitosis@freyr.websages.com:gitosis-admin.git"],
    "dns": [{}, {"ttl": 60}, {"zone": "websages.com", "reverse_zone": "201.10.in-addr.arpa", "ttl": 3600}],
    "mounts": [[], [{"src": "tmpfs", "path": "/srv/cache", "fstype": "tmpfs", "opts": "size=64m"}]],
    "puppet": [{}, {"server": "puppet.websages.com", "environment": "staging", "manifest": "node default {}\n"}],
    "kernel": [{}, {"upgrade": True, "minimum": "6.1"}, {"minimum": 6}],
    "root_key": [{}, {"rotate": True}],
    "roles": [[], ["web"], ["web", "db_main", "web"]],
    "standby": [None, "thor.websages.com"],
}
plain_values = st.recursive(
    st.one_of(
        st.sampled_from([n for n in NASTY if "\x00" not in n and len(n) <= 4096]),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10).filter(_no_nul), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def valid_hosts(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """A rich-format host that must validate, with optional fields and hostile (but allowed) provider options."""
    name = draw(st.sampled_from(VALID["hostname"])).lower()
    name = f"{name[:59]}{index}"
    provider = draw(st.sampled_from(["ec2", "linode", "vsphere"]))
    image = {"ec2": AMI, "linode": draw(st.sampled_from(["Debian 12", "linode/debian12"]))}.get(provider, "tmpl-1")
    region = {"ec2": "Atlanta", "linode": "tokyo"}.get(provider, "DC0")
    host: dict[str, Any] = {
        "hostname": draw(st.sampled_from([name, name.upper()])),
        "fqdn": draw(st.sampled_from([f"{name}.websages.com", f"{name}.WebSages.com."])),
        "provider": draw(st.sampled_from([alias for alias in design_rules.PROVIDER_ALIASES[provider]])),
        "image": image,
        "region": region,
        "size": draw(st.sampled_from([512, 1024, "2048"])),
    }
    for key in ("ssh_keys", "gitosis_admin", "dns", "mounts", "puppet", "kernel", "root_key", "roles", "standby"):
        if draw(st.booleans()):
            host[key] = copy.deepcopy(draw(st.sampled_from(VALID[key])))
    if draw(st.booleans()):
        tags = draw(st.dictionaries(st.text(min_size=1, max_size=10).filter(_no_nul), plain_values, max_size=4))
        host["provider_options"] = {provider: {"tags": tags}}
    return host


@st.composite
def valid_designs(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        instance = {
            "hostname": "loki",
            "fqdn": "loki.websages.com",
            "provider": draw(st.sampled_from(["Linode", "linode"])),
            "guestid": "Debian 6",
            "datacenter": draw(st.sampled_from(["Atlanta", "Tokyo"])),
            "size": draw(st.sampled_from([512, 1024, 8192])),
            "gitosis-admin": "gitosis@freyr.websages.com:gitosis-admin.git",
            "sshpubkey": draw(st.sampled_from([ED25519, f"{ED25519} {{{{ 6*7 }}}}"])),
        }
        return {"instance": instance}
    count = draw(st.integers(1, 3))
    design: dict[str, Any] = {"instances": [draw(valid_hosts(index)) for index in range(count)]}
    if draw(st.booleans()):
        design["defaults"] = {"roles": ["base"], "dns": {"ttl": 600}}
    return design


def paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside NODE (a key of a mapping, an index of a list)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*at, key)
        yield from paths(value, (*at, key))


@st.composite
def near_valid_designs(draw: st.DrawFn) -> Any:
    """A valid design with a few fields replaced (by another field's value, anything, or nothing) or added."""
    design = draw(valid_designs())
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(design)) or [()]))
        if not where:
            break
        parent = design
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        action = draw(st.sampled_from(["replace", "other field", "nasty", "drop", "add"]))
        if action == "drop":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(anything)
        elif action == "other field":
            parent[last] = copy.deepcopy(draw(st.sampled_from([v for values in VALID.values() for v in values])))
        elif action == "nasty":
            parent[last] = draw(st.sampled_from(NASTY))
        else:
            parent[last] = draw(anything)
    return design


def top_keys(document: Any) -> set[str]:
    return {design_rules._key(key) for key in document} if isinstance(document, dict) else set()


def assert_names_a_key(error: DesignError | design_rules.DesignError, document: Any) -> None:
    """The error's path is "design" or starts at a key of DOCUMENT; its message fits one chat line."""
    assert error.path == "design" or any(
        error.path == key or error.path.startswith((f"{key}.", f"{key}[")) for key in top_keys(document)
    ), error.path
    assert str(error) == f"{error.path}: {error.problem}"
    assert str(error).isprintable() and len(str(error)) < 600, str(error)


def assert_outcome(document: Any) -> list[dict[str, Any]] | None:
    """Validate DOCUMENT: its hosts, or None after checking the refusal names a key."""
    try:
        hosts: list[dict[str, Any]] = design_rules.normalize(copy.deepcopy(document))
    except design_rules.DesignError as error:
        assert_names_a_key(error, document)
        return None
    assert_canonical(hosts)
    return hosts


SINGLE_LINE_ASCII = re.compile(r"[\x20-\x7e]*")


def assert_canonical(hosts: list[dict[str, Any]]) -> None:
    """What jarvis uses as names, command arguments or LDAP values is printable ASCII on one line."""
    for host in hosts:
        names = [host["hostname"], host["fqdn"], host["image"], host["region"], host["size"], *host["roles"]]
        names += [host["dns"]["zone"], host["dns"]["reverse_zone"] or "", host["standby"] or ""]
        names += [host["gitosis_admin"] or "", host["kernel"]["minimum"] or "", *host["ssh_keys"]]
        names += [value for mount in host["mounts"] for value in mount.values()]
        names += [host["puppet"]["server"] or "", host["puppet"]["environment"]]
        for name in names:
            assert SINGLE_LINE_ASCII.fullmatch(name), name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeploymentStore]:
    db = DeploymentStore(Path(tmp_path_factory.mktemp("store")) / "jarvis.db")
    yield db
    db.close()


# --- (a) validates, or a DesignError naming a key ----------------------------------------------------


@QUICK
@given(anything)
def test_any_document_validates_or_is_refused_naming_a_key(document: Any) -> None:
    assert_outcome(document)


@QUICK
@given(st.dictionaries(st.sampled_from(["instance", "instances", "defaults"]), anything, min_size=1))
def test_any_top_level_shape_validates_or_is_refused_naming_a_key(document: Any) -> None:
    assert_outcome(document)


@settings(QUICK, max_examples=150)
@given(near_valid_designs())
def test_near_valid_designs_validate_or_are_refused_naming_a_key(document: Any) -> None:
    assert_outcome(document)


YAMLISH = st.lists(
    st.one_of(st.sampled_from(list("{}[]:,-&*!|>'\"#%@`?\n \t\\.0aZ") + ["&a ", "*a", "!!", "<<: "]), st.characters()),
    max_size=60,
).map("".join)


@settings(QUICK, max_examples=150)
@given(st.one_of(YAMLISH, st.text(max_size=60), st.binary(max_size=60)))
def test_any_text_parses_into_a_design_or_a_design_error(document: str | bytes) -> None:
    try:
        parse_design(document, "hypothesis")
    except DesignError as error:
        assert str(error).isprintable() and len(str(error)) < 600, str(error)


@st.composite
def near_valid_texts(draw: st.DrawFn) -> str:
    """A near-valid design dumped as YAML, sometimes with a line cut, doubled or typed over."""
    lines = yaml.safe_dump(draw(near_valid_designs()), allow_unicode=draw(st.booleans())).splitlines()
    if lines and draw(st.booleans()):
        index = draw(st.integers(0, len(lines) - 1))
        lines[index] = draw(st.sampled_from(["", lines[index] * 2, lines[index][: len(lines[index]) // 2]]))
        lines[index] += draw(YAMLISH.map(lambda t: t.replace("\n", " ")))
    return "\n".join(lines)


@settings(QUICK, max_examples=60)
@given(near_valid_texts())
def test_near_valid_texts_parse_or_are_refused_naming_a_key(text: str) -> None:
    try:
        design = parse_design(text, "hypothesis")
    except DesignError as error:
        assert_names_a_key(error, _document_or_none(text))
        return
    assert_canonical(design.hosts)


def _document_or_none(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, KeyError, IndexError):
        return None


# --- (b) a validated design survives the store and as_design unchanged ----------------------------


@settings(QUICK, max_examples=60)
@given(design=valid_designs())
def test_valid_designs_survive_the_store_and_as_design(design: dict[str, Any], store: DeploymentStore) -> None:
    hosts = design_rules.normalize(copy.deepcopy(design))
    assert_canonical(hosts)
    deployment_id = store.create_deployment(
        hosts, list(deploy_stages()), source="hypothesis", requested_by="{{ 6*7 }} (test)"
    )
    store.set_deployment_state(deployment_id, "successful")  # releases its hosts for the next example
    record = store.deployment(deployment_id)
    assert record is not None and record["hosts"] == hosts
    assert design_rules.normalize(design_rules.as_design(copy.deepcopy(record["hosts"]))) == hosts
    assert parse_design(yaml.safe_dump(design), "t").hosts == hosts, "the YAML loader gives the same plain data"
    assert parse_design(yaml.safe_dump(design_rules.as_design(hosts)), "t").hosts == hosts


@settings(QUICK, max_examples=100)
@given(design=near_valid_designs())
def test_whatever_validates_survives_the_store_and_as_design(design: Any, store: DeploymentStore) -> None:
    hosts = assert_outcome(design)
    if hosts is None:
        return
    deployment_id = store.create_deployment(hosts, list(deploy_stages()), source="h", requested_by="h")
    store.set_deployment_state(deployment_id, "successful")  # releases its hosts for the next example
    record = store.deployment(deployment_id)
    assert record is not None and record["hosts"] == hosts
    assert design_rules.normalize(design_rules.as_design(copy.deepcopy(hosts))) == hosts
