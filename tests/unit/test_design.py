"""The design format: the seed's document, the richer one, and every refusal naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator._collection import design_rules
from orchestrator.design import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_DESIGN_BYTES,
    MAX_EXPANDED_TEXT,
    load_design_file,
    parse_design,
)
from orchestrator.errors import DesignError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED = (EXAMPLES / "seed-linode.yml").read_text()


def refusal(text: str, mappings: dict | None = None) -> DesignError:
    with pytest.raises(DesignError) as caught:
        parse_design(text, "test", mappings)
    return caught.value


def test_seed_document_is_accepted_verbatim() -> None:
    (host,) = parse_design(SEED, "seed").hosts
    assert host["hostname"] == "loki"
    assert host["provider"] == "linode"
    assert (host["image"], host["region"], host["size"]) == ("linode/debian12", "us-southeast", "g6-nanode-1")
    assert host["gitosis_admin"] == "gitosis@freyr.websages.com:gitosis-admin.git"
    assert host["ssh_keys"] == ["ssh-dss AAAA... whitejs@eir.websages.com"]
    assert host["dns"]["zone"] == "websages.com"


def test_provider_names_are_case_insensitive() -> None:
    for name in ("EC2", "ec2", "Aws"):
        design = SEED.replace("Linode", name).replace("Debian 6", "ami-0123456789abcdef0")
        assert parse_design(design, "t").hosts[0]["provider"] == "ec2"


def test_legacy_size_must_be_a_positive_integer() -> None:
    error = refusal(SEED.replace("size: 512", "size: huge"))
    assert str(error) == 'instance.size: expected a positive integer, got "huge"'


@pytest.mark.parametrize(
    "hostname", ["loki;rm -rf /", "loki)(cn=*", "lo ki", "-loki", "loki$(id)", "a" * 64, "loki\nx"]
)
def test_hostile_hostnames_are_refused_naming_the_field(hostname: str) -> None:
    design = SEED.replace("hostname: loki", f"hostname: {hostname!r}")
    assert refusal(design).path == "instance.hostname"


def test_unknown_provider_lists_the_known_ones() -> None:
    error = refusal(SEED.replace("Linode", "DigitalOcean"))
    assert error.path == "instance.provider"
    assert "ec2, linode, vsphere" in str(error)


def test_unknown_image_lists_the_table_and_points_at_config() -> None:
    error = refusal(SEED.replace("Debian 6", "Windows 95"))
    assert error.path == "instance.guestid"
    assert "debian 12" in str(error) and "mappings.linode.images" in str(error)


def test_mappings_from_config_extend_the_tables() -> None:
    design = SEED.replace("Linode", "ec2")
    (host,) = parse_design(design, "t", {"ec2": {"images": {"Debian 6": "ami-0aaaaaaaaaaaaaaaa"}}}).hosts
    assert (host["image"], host["region"], host["size"]) == ("ami-0aaaaaaaaaaaaaaaa", "us-east-1", "t3.nano")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("instance: [1, 2]", "instance"),
        ("- a\n- b", "design"),
        ("instance:\n  hostname: loki\n  colour: red", "instance.colour"),
        ("instances: []", "instances"),
        ("instance: {}\ninstances: []", "design"),
        ("instance:\n  hostname: loki\n  fqdn: odin.websages.com\n  provider: ec2", "instance.fqdn"),
        ("instance:\n  hostname: loki\n  fqdn: loki.websages.com\n  provider: ec2", "instance.guestid"),
        ("instance: {hostname: loki", "design"),
        ("instance:\n\tx: 1", "design"),
    ],
)
def test_malformed_designs_name_the_key_at_fault(text: str, path: str) -> None:
    assert refusal(text).path == path


def test_yaml_errors_say_where() -> None:
    assert "line 1" in str(refusal("instance: {hostname: loki"))


def test_alias_bombs_are_refused_before_expansion() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    error = refusal("\n".join(lines))
    assert "aliases" in str(error)


def test_oversized_documents_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    big.write_text("# " + "x" * MAX_DESIGN_BYTES)
    with pytest.raises(DesignError, match="larger than"):
        load_design_file(big)
    assert "limit" in str(refusal("#" * (MAX_DESIGN_BYTES + 1)))


def test_python_tags_are_not_executed() -> None:
    assert refusal("instance: !!python/object/apply:os.system ['true']").path == "design"


def test_rich_cluster_example_with_defaults() -> None:
    hosts = load_design_file(
        EXAMPLES / "cluster.yml", {"ec2": {"images": {"debian 12": "ami-0bbbbbbbbbbbbbbbb"}}}
    ).hosts
    assert [host["hostname"] for host in hosts] == ["odin", "thor"]
    assert hosts[0]["size"] == "t3.micro" and hosts[1]["size"] == "t3.small"
    assert hosts[0]["dns"] == {"zone": "websages.com", "reverse_zone": None, "ttl": 600}
    assert hosts[0]["mounts"] == [{"path": "/srv/cache", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=64m"}]
    assert hosts[1]["provider_options"] == {"tags": {"role": "web"}}


def test_duplicate_hostnames_in_a_cluster_are_refused() -> None:
    text = "defaults: {provider: ec2, image: ami-0aaaaaaaaaaaaaaaa, region: Atlanta, size: 512}\ninstances:\n"
    text += "  - {hostname: a, fqdn: a.example.com}\n  - {hostname: a, fqdn: a.example.org}\n"
    assert refusal(text).path == "instances[1].hostname"


def test_mount_fields_cannot_smuggle_fstab_columns() -> None:
    text = "defaults: {provider: ec2, image: ami-0aaaaaaaaaaaaaaaa, region: Atlanta, size: 512}\ninstances:\n"
    text += "  - hostname: a\n    fqdn: a.example.com\n"
    text += "    mounts: [{src: tmpfs, path: /x, fstype: tmpfs, opts: 'a b'}]\n"
    assert refusal(text).path == "instances[0].mounts[0].opts"


def test_vsphere_sizes_are_cpus_by_memory() -> None:
    design = SEED.replace("Linode", "VMware").replace("Debian 6", "debian-12-template").replace("Atlanta", "DC0")
    (host,) = parse_design(design, "t").hosts
    assert (host["provider"], host["image"], host["region"], host["size"]) == (
        "vsphere",
        "debian-12-template",
        "DC0",
        "1x512",
    )
    assert refusal(design.replace("size: 512", "size: 3")).path == "instance.size"


CLUSTER = "defaults: {provider: ec2, image: ami-0aaaaaaaaaaaaaaaa, region: Atlanta, size: 512}\ninstances:\n"


def test_roles_default_to_none_and_the_seed_has_none() -> None:
    (host,) = parse_design(SEED, "seed").hosts
    assert host["roles"] == []
    (host,) = parse_design(CLUSTER + "  - {hostname: a, fqdn: a.example.com}\n", "t").hosts
    assert host["roles"] == []


def test_roles_keep_their_order_once_each_and_come_from_defaults() -> None:
    text = CLUSTER.replace("size: 512}", "size: 512, roles: [base]}")
    text += "  - {hostname: a, fqdn: a.example.com, roles: [web, db_main, web, cache-1]}\n"
    text += "  - {hostname: b, fqdn: b.example.com}\n"
    first, second = parse_design(text, "t").hosts
    assert first["roles"] == ["web", "db_main", "cache-1"], "an instance's roles replace the defaults'"
    assert second["roles"] == ["base"]


@pytest.mark.parametrize(
    ("roles", "path"),
    [
        ("web", "instances[0].roles"),
        ("[Web]", "instances[0].roles[0]"),
        ("[web, 1x]", "instances[0].roles[1]"),
        ("[web, 'a b']", "instances[0].roles[1]"),
        ("['web)(cn=*']", "instances[0].roles[0]"),
        (f"[{'a' * 64}]", "instances[0].roles[0]"),
        ("[[web]]", "instances[0].roles[0]"),
        ("[" + ", ".join(f"r{i}" for i in range(33)) + "]", "instances[0].roles"),
    ],
)
def test_bad_roles_are_refused_naming_the_key(roles: str, path: str) -> None:
    assert refusal(CLUSTER + f"  - {{hostname: a, fqdn: a.example.com, roles: {roles}}}\n").path == path


def test_32_roles_and_duplicates_beyond_are_accepted() -> None:
    roles = [f"r{i}" for i in range(32)]
    text = CLUSTER + f"  - {{hostname: a, fqdn: a.example.com, roles: [{', '.join(roles + roles[:5])}]}}\n"
    assert parse_design(text, "t").hosts[0]["roles"] == roles


def test_legacy_instance_cannot_have_roles() -> None:
    assert refusal(SEED + "  roles: [web]\n").path == "instance.roles"


def test_canonical_hosts_are_valid_instances() -> None:
    """The orchestrator re-sends stored hosts as ``instances:``: they must normalise to themselves."""
    text = CLUSTER + "  - {hostname: a, fqdn: a.example.com, roles: [web]}\n"
    hosts = parse_design(text, "t").hosts
    assert parse_design(yaml.safe_dump({"instances": hosts}), "t").hosts == hosts


# --- hostile YAML: bounded before any object is built -------------------------------------------------


def test_a_small_document_with_a_huge_expansion_is_refused() -> None:
    """Under the alias and node counts, yet megabytes once expanded: 4 KB of text times 10**4."""
    lines = [f"a: &a '{'x' * 4000}'"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(4)]
    text = "\n".join(lines)
    assert len(text) < 6 * 1024 and text.count("*") <= MAX_ALIASES
    error = refusal(text)
    assert str(error) == f"design: expands to more than {MAX_EXPANDED_TEXT // 1024} KiB of text through its aliases"


def test_billion_laughs_within_the_alias_count_is_refused_by_its_node_count() -> None:
    lines = ["a: &a [" + ", ".join(["lol"] * 1000) + "]"]
    lines += ["b: &b [" + ", ".join(["*a"] * 30) + "]"]
    assert "more than 20000 YAML nodes" in str(refusal("\n".join(lines)))


def test_classic_billion_laughs_is_refused() -> None:
    lines = ['lol0: &lol0 "lol"']
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, 10)]
    assert refusal("\n".join(lines)).path == "design"


@pytest.mark.parametrize("text", ["a: &a [*a]", "a: &a {b: *a}", "a: &a [1, [2, {c: *a}]]", "&a [*a]"])
def test_recursive_aliases_are_refused(text: str) -> None:
    assert "has a recursive YAML alias: &a at line 1" in str(refusal(text))


def test_aliases_within_bounds_still_work() -> None:
    text = CLUSTER.replace("size: 512}", "size: 512, roles: &roles [web, db]}")
    text += "  - {hostname: a, fqdn: a.example.com, roles: *roles, provider_options: {ec2: {tags: &t {x: y}}}}\n"
    text += "  - {hostname: b, fqdn: b.example.com, provider_options: {ec2: {tags: *t}}}\n"
    first, second = parse_design(text, "t").hosts
    assert first["roles"] == second["roles"] == ["web", "db"]
    assert second["provider_options"] == {"tags": {"x": "y"}}


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused_with_a_message_not_a_recursion_error(style: str) -> None:
    if style == "flow":
        text = "instance: " + "[" * 200 + "]" * 200
    else:
        text = "instance:\n" + "".join(" " * (2 * depth) + f"k{depth}:\n" for depth in range(1, 200)) + "  " * 200 + "x"
    assert f"nests more than {MAX_DEPTH} levels deep" in str(refusal(text))


def test_nesting_a_design_needs_is_fine() -> None:
    tags = "{a: " * 30 + "x" + "}" * 30
    text = CLUSTER + f"  - {{hostname: a, fqdn: a.example.com, provider_options: {{ec2: {{tags: {tags}}}}}}}\n"
    assert parse_design(text, "t").hosts[0]["provider_options"]["tags"]["a"]["a"]


@pytest.mark.parametrize("where", ["hostname", "provider_options"])
def test_a_huge_string_is_refused_wherever_it_is(where: str) -> None:
    big = "x" * 5000
    text = CLUSTER + (
        f"  - {{hostname: {big}, fqdn: a.example.com}}\n"
        if where == "hostname"
        else f"  - {{hostname: a, fqdn: a.example.com, provider_options: {{ec2: {{tags: {{k: {big}}}}}}}}}\n"
    )
    assert "design: has a value of 5000 characters at line 3" in str(refusal(text))


def test_nul_bytes_are_refused_raw_or_escaped() -> None:
    assert "unacceptable character #x0000" in str(refusal("instance: {hostname: lo\x00ki}"))
    error = refusal(CLUSTER + '  - {hostname: a, fqdn: a.example.com, provider_options: {ec2: {tags: {k: "a\\0b"}}}}\n')
    assert str(error) == "design: has a NUL character in the value at line 3, column 75"


def test_lone_surrogates_are_refused() -> None:
    assert "lone surrogate" in str(refusal('instance: {hostname: "\\ud800"}'))


@pytest.mark.parametrize(
    "data", [b"\xff\xfeinstance: {}", b"instance: {hostname: lo\xc3ki}", "caf\u00e9".encode("latin-1")]
)
def test_text_that_is_not_utf8_is_refused(data: bytes) -> None:
    with pytest.raises(DesignError, match="is not UTF-8 text") as caught:
        parse_design(data, "t")
    assert caught.value.path == "design"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("!!float abc", "the value at line 1, column 11 is not a valid number"),
        ("!!int ''", "is not a valid integer"),
        ("!!int abc", "is not a valid integer"),
        ("!!bool maybe", "is not a valid boolean"),
        (".inf", "is not finite"),
        ("-.inf", "is not finite"),
        (".nan", "is not finite"),
        ("1.0e+999", "is not finite"),
        ("0x" + "f" * 17, "the integer at line 1, column 11 has more than 64 bits"),
        ("1" * 30, "has more than 64 bits"),
        ("!!binary aGVsbG8=", "uses the YAML type 'binary'"),
        ("!!set {a, b}", "uses the YAML type 'set'"),
        ("!!omap [a: 1]", "uses the YAML type 'omap'"),
        ("!!pairs [a: 1]", "uses the YAML type 'pairs'"),
        ("!!python/name:os.system", "could not determine a constructor"),
        ("!!python/object/new:os.system [true]", "could not determine a constructor"),
    ],
)
def test_values_that_are_not_plain_data_are_refused(value: str, problem: str) -> None:
    error = refusal(f"instance: {value}")
    assert error.path == "design" and problem in str(error)


def test_dates_stay_the_text_they_were_written_as() -> None:
    text = (
        CLUSTER
        + "  - {hostname: a, fqdn: a.example.com, provider_options: {ec2: {tags: {d: 2024-01-31, e: 2024-13-45}}}}\n"
    )
    assert parse_design(text, "t").hosts[0]["provider_options"]["tags"] == {"d": "2024-01-31", "e": "2024-13-45"}


def test_a_hostile_file_source_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    from bot.sources import DesignSources, UrlPolicy

    lines = [f"a: &a '{'x' * 4000}'"] + [
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcd", "bcde", strict=True)
    ]
    (tmp_path / "bomb.yml").write_text("\n".join(lines))
    sources = DesignSources(UrlPolicy(), [tmp_path], None)
    with pytest.raises(DesignError, match="expands to more than"):
        sources.load(str(tmp_path / "bomb.yml"))


# --- what hypothesis found (tests/unit/test_design_properties.py) -------------------------------------

ONE_HOST = CLUSTER + "  - {hostname: a, fqdn: a.example.com, %s}\n"


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ('roles: ["web\\n"]', "instances[0].roles[0]"),  # ROLE_RE's $ matched before a trailing newline
        ('kernel: {minimum: "6.1\\n"}', "instances[0].kernel.minimum"),
        ('kernel: {minimum: "\u0666.\u0661"}', "instances[0].kernel.minimum"),  # \d matched Arabic-Indic digits
        ('provider: vsphere, image: t, region: DC0, size: "\u0662x\u0662\u0660\u0664\u0668"', "instances[0].size"),
        ("provider_options: {ec2: {tags: {1: x}}}", "instances[0].provider_options.ec2.tags"),  # JSON makes it "1"
        ("provider_options: {ec2: {tags: {a: [{null: x}]}}}", "instances[0].provider_options.ec2.tags.a[0]"),
    ],
)
def test_values_that_used_to_slip_through_are_refused(field: str, path: str) -> None:
    assert refusal(ONE_HOST % field).path == path


def test_a_hostname_that_only_lower_cases_to_ascii_is_refused() -> None:
    error = refusal(CLUSTER + "  - {hostname: \u212aoki, fqdn: koki.example.com}\n")  # KELVIN SIGN
    assert error.path == "instances[0].hostname" and "'\\u212aoki' is not a hostname" in str(error)
    assert refusal(CLUSTER + "  - {hostname: koki, fqdn: \u212aoki.example.com}\n").path == "instances[0].fqdn"


def test_a_key_with_a_newline_is_quoted_in_the_path() -> None:
    error = refusal(CLUSTER + '  - {hostname: a, fqdn: a.example.com, "web\\n": 1}\n')
    assert error.path == 'instances[0]."web\\n"' and "\n" not in str(error)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"bytes"])
def test_provider_settings_are_plain_finite_data(value: object) -> None:
    host = {"hostname": "a", "fqdn": "a.example.com", "provider": "ec2", "image": "ami-0aaaaaaaaaaaaaaaa"}
    host |= {"region": "Atlanta", "size": 512, "provider_options": {"ec2": {"tags": {"k": [value]}}}}
    with pytest.raises(design_rules.DesignError) as caught:
        design_rules.normalize({"instances": [host]})
    assert caught.value.path == "instances[0].provider_options.ec2.tags.k[0]"
