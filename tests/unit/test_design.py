"""The design format: the seed's document, the richer one, and every refusal naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.design import MAX_DESIGN_BYTES, load_design_file, parse_design
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
