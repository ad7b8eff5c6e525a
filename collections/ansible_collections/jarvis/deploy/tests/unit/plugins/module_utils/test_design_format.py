# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The design format: the seed's one-host document, the rich list, the mapping tables, every refusal naming its key."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._design import (
    DEFAULT_MAPPINGS,
    MAX_INSTANCES,
    MAX_STRING,
    DesignError,
    as_design,
    merge_mappings,
    normalize,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c root@loki.websages.com"
AMI = "ami-0123456789abcdef0"

# The seed project's design document, key for key.
SEED = {
    "hostname": "loki",
    "fqdn": "loki.websages.com",
    "provider": "Linode",
    "guestid": "Debian 6",
    "datacenter": "Atlanta",
    "size": 512,
    "gitosis-admin": "gitosis@freyr.websages.com:gitosis-admin.git",
    "sshpubkey": "ssh-dss AAAA... whitejs@eir.websages.com",
}


def seed(**changes):
    """The seed's instance with CHANGES applied; a value of None drops the key."""
    instance = {**SEED, **changes}
    return {"instance": {key: value for key, value in instance.items() if value is not None}}


def rich(**changes):
    """One valid host of the rich format with CHANGES applied; a value of None drops the key."""
    host = {
        "hostname": "odin",
        "fqdn": "odin.websages.com",
        "provider": "ec2",
        "image": AMI,
        "region": "Atlanta",
        "size": 1024,
        **changes,
    }
    return {key: value for key, value in host.items() if value is not None}


def refusal(design, mappings=None):
    """The DesignError NORMALIZE raises for DESIGN."""
    with pytest.raises(DesignError) as caught:
        normalize(design, mappings)
    return caught.value


def only_host(design, mappings=None):
    (host,) = normalize(design, mappings)
    return host


# --- the seed's one-host format ---------------------------------------------------------------


def test_the_seed_document_becomes_one_canonical_host():
    host = only_host(seed())
    assert {key: host[key] for key in host if key != "roles"} == {
        "hostname": "loki",
        "fqdn": "loki.websages.com",
        "provider": "linode",
        "image": "linode/debian12",
        "region": "us-southeast",
        "size": "g6-nanode-1",
        "ssh_keys": ["ssh-dss AAAA... whitejs@eir.websages.com"],
        "gitosis_admin": "gitosis@freyr.websages.com:gitosis-admin.git",
        "dns": {"zone": "websages.com", "reverse_zone": None, "ttl": 3600},
        "mounts": [],
        "puppet": {"server": None, "environment": "production", "manifest": None},
        "kernel": {"upgrade": False, "minimum": None},
        "provider_options": {},
        "standby": None,
        "root_key": {"rotate": False},
    }


@pytest.mark.parametrize("name", ["Linode", "linode", "LINODE", "  linode  "])
def test_provider_names_are_matched_case_insensitively(name):
    assert only_host(seed(provider=name))["provider"] == "linode"


@pytest.mark.parametrize(("alias", "provider"), [("AWS", "ec2"), ("Amazon EC2", "ec2"), ("VMware", "vsphere")])
def test_provider_aliases(alias, provider):
    image, region = (AMI, "Atlanta") if provider == "ec2" else ("debian-12-template", "DC0")
    assert only_host(seed(provider=alias, guestid=image, datacenter=region))["provider"] == provider


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hostname", None, "instance.hostname: is required"),
        ("fqdn", None, "instance.fqdn: is required (the host's fully qualified name, e.g. loki.example.com)"),
        ("provider", None, "instance.provider: is required"),
        (
            "provider",
            "DigitalOcean",
            'instance.provider: unknown provider "DigitalOcean" (known: ec2, linode, vsphere)',
        ),
        ("size", "huge", 'instance.size: expected a positive integer, got "huge"'),
        ("size", 0, "instance.size: expected a positive integer, got 0"),
        ("size", -512, "instance.size: expected a positive integer, got -512"),
        ("size", True, "instance.size: expected a positive integer, got True"),
        ("size", 1.5, "instance.size: expected a positive integer, got 1.5"),
        ("fqdn", "odin.websages.com", "instance.fqdn: 'odin.websages.com' does not start with the hostname 'loki'"),
    ],
)
def test_seed_refusals_name_the_seed_key(key, value, message):
    assert str(refusal(seed(**{key: value}))) == message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("guestid", "Windows 95"),
        ("guestid", None),
        ("datacenter", "Mars"),
        ("size", 3),
        ("gitosis-admin", "not a remote"),
        ("sshpubkey", "not a key"),
    ],
)
def test_seed_refusals_use_the_seed_spelling_of_the_key(key, value):
    assert refusal(seed(**{key: value})).path == f"instance.{key}"


def test_unknown_image_lists_the_table_and_points_at_the_config():
    error = refusal(seed(guestid="Windows 95"))
    assert str(error) == (
        'instance.guestid: unknown image "Windows 95" for linode (known: debian 11, debian 12, debian 6, debian-12;'
        " add it under mappings.linode.images in the config)"
    )


def test_ec2_has_no_image_table_and_says_so():
    assert "known: none configured" in str(refusal(seed(provider="ec2", guestid="Debian 12")))


@pytest.mark.parametrize("key", ["image", "region", "dns", "mounts", "ssh_keys", "colour"])
def test_the_seed_format_takes_only_the_seed_keys(key):
    error = refusal({"instance": {**SEED, key: "x"}})
    assert error.path == f"instance.{key}"
    assert error.problem.startswith("unknown key (known: hostname, fqdn, provider, guestid")


def test_the_seed_format_takes_no_defaults():
    assert str(refusal({**seed(), "defaults": {}})) == "defaults: only allowed beside 'instances'"


def test_vsphere_sizes_are_cpus_by_memory():
    host = only_host(seed(provider="vcenter", guestid="debian-12-template", datacenter="DC0", size=4096))
    assert (host["provider"], host["image"], host["region"], host["size"]) == (
        "vsphere",
        "debian-12-template",
        "DC0",
        "2x4096",
    )


# --- the rich format ----------------------------------------------------------------------------


def test_rich_hosts_inherit_defaults_and_override_them_in_order():
    design = {
        "defaults": {"provider": "ec2", "image": AMI, "region": "Atlanta", "size": 1024, "dns": {"ttl": 600}},
        "instances": [
            {"hostname": "odin", "fqdn": "odin.websages.com"},
            {"hostname": "thor", "fqdn": "thor.websages.com", "size": "2048", "region": "Frankfurt"},
            {"hostname": "baldr", "fqdn": "baldr.websages.com", "dns": {}},
        ],
    }
    hosts = normalize(design)
    assert [(h["hostname"], h["region"], h["size"], h["dns"]["ttl"]) for h in hosts] == [
        ("odin", "us-east-1", "t3.micro", 600),
        ("thor", "eu-central-1", "t3.small", 600),
        ("baldr", "us-east-1", "t3.micro", 3600),
    ]


def test_hosts_do_not_share_what_they_inherit():
    design = {
        "defaults": rich(hostname=None, fqdn=None, mounts=[{"src": "tmpfs", "path": "/srv", "fstype": "tmpfs"}]),
        "instances": [{"hostname": "a", "fqdn": "a.example.com"}, {"hostname": "b", "fqdn": "b.example.com"}],
    }
    first, second = normalize(design)
    first["mounts"][0]["path"] = "/elsewhere"
    assert second["mounts"][0]["path"] == "/srv"


def test_normalize_does_not_change_its_input():
    design = {
        "defaults": {"provider": "ec2", "image": AMI, "region": "Atlanta", "size": 1024, "dns": {"ttl": 60}},
        "instances": [{"hostname": "ODIN", "fqdn": "ODIN.websages.com.", "ssh_keys": [ED25519]}],
    }
    mappings = {"ec2": {"regions": {"Home": "eu-west-1"}}}
    before = copy.deepcopy((design, mappings))
    normalize(design, mappings)
    normalize({"instance": SEED})
    assert (design, mappings) == before
    assert SEED["sshpubkey"] == "ssh-dss AAAA... whitejs@eir.websages.com"


def test_names_are_lower_cased_and_lose_the_final_dot():
    host = only_host({"instances": [rich(hostname="ODIN", fqdn="Odin.WebSages.com.")]})
    assert (host["hostname"], host["fqdn"], host["dns"]["zone"]) == ("odin", "odin.websages.com", "websages.com")


def test_every_optional_setting_in_canonical_form():
    host = only_host(
        {
            "instances": [
                rich(
                    ssh_keys=[ED25519, "ssh-rsa AAAAB3NzaC1yc2E="],
                    gitosis_admin="gitosis@freyr.websages.com:gitosis-admin.git",
                    dns={"zone": "WebSages.com", "reverse_zone": "100.201.10.in-addr.arpa.", "ttl": 60},
                    mounts=[
                        {"src": "tmpfs", "path": "/srv/cache", "fstype": "tmpfs", "opts": "size=64m,mode=0755"},
                        {"src": "UUID=0a1b-2c3d", "path": "/data", "fstype": "ext4"},
                    ],
                    puppet={"server": "puppet.websages.com", "environment": "staging", "manifest": "node default {}\n"},
                    kernel={"upgrade": True, "minimum": 6.1},
                    provider_options={"AWS": {"tags": {"role": "web"}}, "linode": {"private_ip": True}},
                    standby="thor.websages.com.",
                    root_key={"rotate": True},
                )
            ]
        }
    )
    assert host["ssh_keys"] == [ED25519, "ssh-rsa AAAAB3NzaC1yc2E="]
    assert host["gitosis_admin"] == "gitosis@freyr.websages.com:gitosis-admin.git"
    assert host["dns"] == {"zone": "websages.com", "reverse_zone": "100.201.10.in-addr.arpa", "ttl": 60}
    assert host["mounts"] == [
        {"path": "/srv/cache", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=64m,mode=0755"},
        {"path": "/data", "src": "UUID=0a1b-2c3d", "fstype": "ext4", "opts": "defaults"},
    ]
    assert host["puppet"] == {
        "server": "puppet.websages.com",
        "environment": "staging",
        "manifest": "node default {}\n",
    }
    assert host["kernel"] == {"upgrade": True, "minimum": "6.1"}
    assert host["provider_options"] == {"tags": {"role": "web"}}  # only the settings of the host's own provider
    assert host["standby"] == "thor.websages.com"
    assert host["root_key"] == {"rotate": True}


@pytest.mark.parametrize(
    ("design", "message"),
    [
        ("instance: x", "design: expected a mapping with 'instance' or 'instances', got \"instance: x\""),
        ({}, "design: give exactly one of 'instance' (one host) or 'instances' (a list)"),
        (
            {"instance": SEED, "instances": [rich()]},
            "design: give exactly one of 'instance' (one host) or 'instances' (a list)",
        ),
        ({"instances": [rich()], "hosts": []}, "hosts: unknown top-level key (expected instance, instances, defaults)"),
        ({"instance": [1, 2]}, "instance: expected a mapping, got a list"),
        ({"instances": []}, "instances: expected a non-empty list, got a list"),
        ({"instances": {"odin": rich()}}, "instances: expected a non-empty list, got a dict"),
        ({"instances": [rich(), "thor"]}, 'instances[1]: expected a mapping, got "thor"'),
        ({"instances": [rich()], "defaults": []}, "defaults: expected a mapping, got a list"),
    ],
)
def test_the_shape_of_the_document(design, message):
    assert str(refusal(design)) == message


@pytest.mark.parametrize("key", ["hostname", "fqdn"])
def test_defaults_cannot_name_a_host(key):
    error = refusal({"defaults": {key: "odin"}, "instances": [rich()]})
    assert error.path == f"defaults.{key}"
    assert error.problem.startswith("unknown key")


def test_a_hostname_is_used_once_per_design():
    design = {"instances": [rich(), rich(fqdn="odin.example.org"), rich(hostname="ODIN", fqdn="odin.example.net")]}
    assert str(refusal(design)) == "instances[1].hostname: 'odin' is also used by instances[0]"


def test_at_most_max_instances_hosts():
    hosts = [rich(hostname=f"h{index}", fqdn=f"h{index}.example.com") for index in range(MAX_INSTANCES + 1)]
    assert str(refusal({"instances": hosts})) == f"instances: at most {MAX_INSTANCES} hosts per design, got 101"
    assert len(normalize({"instances": hosts[:MAX_INSTANCES]})) == MAX_INSTANCES


@pytest.mark.parametrize(
    ("changes", "path", "problem"),
    [
        ({"colour": "red"}, "instances[0].colour", "unknown key"),
        ({"hostname": 42}, "instances[0].hostname", "expected a non-empty string, got 42"),
        ({"hostname": "  "}, "instances[0].hostname", 'expected a non-empty string, got "  "'),
        ({"fqdn": "odin"}, "instances[0].fqdn", '"odin" is not a fully qualified domain name'),
        ({"fqdn": "odin..websages.com"}, "instances[0].fqdn", "is not a fully qualified domain name"),
        ({"provider": ["ec2"]}, "instances[0].provider", "expected a non-empty string, got a list"),
        ({"image": None}, "instances[0].image", "expected a name from the ec2 images table, got nothing"),
        ({"image": True}, "instances[0].image", "expected a name from the ec2 images table, got True"),
        ({"image": "ami-0123"}, "instances[0].image", 'unknown image "ami-0123" for ec2'),
        ({"region": ""}, "instances[0].region", 'expected a name from the ec2 regions table, got ""'),
        ({"region": "Mars"}, "instances[0].region", 'unknown region "Mars" for ec2'),
        ({"size": 3}, "instances[0].size", "unknown size 3 for ec2"),
        ({"ssh_keys": ED25519}, "instances[0].ssh_keys", "expected a list of public keys, got"),
        ({"ssh_keys": ["ssh-ed25519"]}, "instances[0].ssh_keys", 'not an SSH public key: "ssh-ed25519"'),
        ({"ssh_keys": [ED25519, 7]}, "instances[0].ssh_keys[1]", "expected a non-empty string, got 7"),
        ({"gitosis_admin": "https://example.com/x.git"}, "instances[0].gitosis_admin", "expected user@host:path.git"),
        ({"dns": "websages.com"}, "instances[0].dns", 'expected a mapping, got "websages.com"'),
        ({"dns": {"view": "x"}}, "instances[0].dns.view", "unknown key (known: reverse_zone, ttl, zone)"),
        ({"dns": {"zone": "example.org"}}, "instances[0].dns.zone", "is not inside the zone 'example.org'"),
        ({"dns": {"zone": "bsages.com"}}, "instances[0].dns.zone", "is not inside the zone 'bsages.com'"),
        ({"dns": {"ttl": 0}}, "instances[0].dns.ttl", "expected a positive integer, got 0"),
        ({"dns": {"ttl": "600"}}, "instances[0].dns.ttl", 'expected a positive integer, got "600"'),
        ({"dns": {"ttl": True}}, "instances[0].dns.ttl", "expected a positive integer, got True"),
        ({"dns": {"ttl": 2**31}}, "instances[0].dns.ttl", "expected a positive integer"),
        ({"dns": {"reverse_zone": "arpa"}}, "instances[0].dns.reverse_zone", "is not a fully qualified domain name"),
        ({"mounts": {"/srv": "tmpfs"}}, "instances[0].mounts", "expected a list, got a dict"),
        ({"mounts": ["tmpfs /srv"]}, "instances[0].mounts[0]", "expected a mapping with src, path, fstype"),
        ({"mounts": [{"src": "tmpfs", "fstype": "tmpfs"}]}, "instances[0].mounts[0].path", "is required"),
        ({"mounts": [{"path": "/srv", "fstype": "tmpfs"}]}, "instances[0].mounts[0].src", "is required"),
        ({"mounts": [{"src": "tmpfs", "path": "/srv"}]}, "instances[0].mounts[0].fstype", "is required"),
        ({"mounts": [{"src": "a", "path": "srv", "fstype": "b"}]}, "instances[0].mounts[0].path", "absolute path"),
        ({"mounts": [{"src": "a", "path": "/srv/../etc", "fstype": "b"}]}, "instances[0].mounts[0].path", "absolute"),
        (
            {"mounts": [{"src": "a", "path": "/srv", "fstype": "b", "dump": 1}]},
            "instances[0].mounts[0].dump",
            "unknown",
        ),
        ({"puppet": {"server": "puppet master"}}, "instances[0].puppet.server", "unexpected characters"),
        ({"puppet": {"certname": "x"}}, "instances[0].puppet.certname", "unknown key"),
        ({"puppet": {"manifest": ""}}, "instances[0].puppet.manifest", "expected a non-empty string"),
        ({"kernel": {"upgrade": "yes"}}, "instances[0].kernel.upgrade", 'expected true or false, got "yes"'),
        (
            {"kernel": {"minimum": "6.1-rc1"}},
            "instances[0].kernel.minimum",
            'expected a version like 6.1, got "6.1-rc1"',
        ),
        ({"kernel": {"minimum": "6.1.0.1"}}, "instances[0].kernel.minimum", "expected a version like 6.1"),
        ({"kernel": []}, "instances[0].kernel", "expected a mapping, got a list"),
        ({"root_key": {"rotate": 1}}, "instances[0].root_key.rotate", "expected true or false, got 1"),
        ({"root_key": {"passphrase": "x"}}, "instances[0].root_key.passphrase", "unknown key (known: rotate)"),
        ({"provider_options": ["x"]}, "instances[0].provider_options", "expected a mapping of provider name"),
        ({"provider_options": {"gcp": {}}}, "instances[0].provider_options.gcp", 'unknown provider "gcp"'),
        ({"provider_options": {"ec2": "t3"}}, "instances[0].provider_options.ec2", 'expected a mapping, got "t3"'),
        (
            {"provider_options": {"ec2": {1: "x"}}},
            "instances[0].provider_options.ec2",
            "expected a mapping, got a dict",
        ),
        ({"standby": "thor"}, "instances[0].standby", '"thor" is not a fully qualified domain name'),
    ],
)
def test_rich_refusals_name_the_key_at_fault(changes, path, problem):
    error = refusal({"instances": [rich(**changes)]})
    assert error.path == path
    assert problem in error.problem
    assert str(error) == f"{error.path}: {error.problem}"


def test_a_refusal_in_a_later_host_names_that_host():
    design = {"instances": [rich(), rich(hostname="thor", fqdn="thor.websages.com", dns={"ttl": -1})]}
    assert refusal(design).path == "instances[1].dns.ttl"


def test_a_refusal_in_the_defaults_names_the_host_that_inherits_it():
    design = {"defaults": {"kernel": {"upgrade": "no"}}, "instances": [rich()]}
    assert refusal(design).path == "instances[0].kernel.upgrade"


def test_options_of_other_providers_are_dropped_but_still_checked():
    host = only_host({"instances": [rich(provider_options={"linode": {"private_ip": True}})]})
    assert host["provider_options"] == {}


def test_the_zone_may_be_a_single_label():
    assert only_host({"instances": [rich(dns={"zone": "COM"})]})["dns"]["zone"] == "com"


def test_a_host_at_its_zone_apex_is_refused():
    """Its A and SSHFP records would be the zone's own, and destroying the host would remove them."""
    error = refusal({"instances": [rich(dns={"zone": "odin.websages.com"})]})
    assert error.path == "instances[0].dns.zone" and "apex" in error.problem


def test_a_puppet_manifest_keeps_its_lines_and_tabs_verbatim():
    manifest = "node default {\n\tinclude ntp\n}\n"
    assert only_host({"instances": [rich(puppet={"manifest": manifest})]})["puppet"]["manifest"] == manifest


@pytest.mark.parametrize("key", ["ssh-ed25519 AAAA", "ecdsa-sha2-nistp384 AAAA c", "sk-ssh-ed25519@openssh.com AAAA"])
def test_every_openssh_key_type_is_accepted(key):
    assert only_host({"instances": [rich(ssh_keys=[key])]})["ssh_keys"] == [key]


# --- mapping tables -------------------------------------------------------------------------------


def test_mappings_from_the_config_extend_and_override_the_tables():
    mappings = {
        "AWS": {"images": {"Debian 12": "ami-0bbbbbbbbbbbbbbbb"}},
        "linode": {"sizes": {"512": "g6-standard-1"}, "regions": {"Home": "eu-west"}},
    }
    ec2 = only_host(seed(provider="ec2", guestid="DEBIAN 12"), mappings)
    assert (ec2["image"], ec2["region"], ec2["size"]) == ("ami-0bbbbbbbbbbbbbbbb", "us-east-1", "t3.nano")
    linode = only_host(seed(datacenter="home"), mappings)
    assert (linode["region"], linode["size"]) == ("eu-west", "g6-standard-1")


def test_merging_mappings_leaves_the_defaults_alone():
    before = copy.deepcopy(DEFAULT_MAPPINGS)
    tables = merge_mappings({"linode": {"sizes": {"512": "g6-dedicated-2"}}})
    assert tables["linode"]["sizes"]["512"] == "g6-dedicated-2"
    assert before == DEFAULT_MAPPINGS
    assert merge_mappings(None) == DEFAULT_MAPPINGS


@pytest.mark.parametrize(
    ("mappings", "message"),
    [
        ({"gcp": {}}, 'mappings: unknown provider "gcp" (known: ec2, linode, vsphere)'),
        ({"ec2": ["images"]}, "mappings.ec2: expected a mapping, got a list"),
        ({"ec2": {"flavours": {}}}, "mappings.ec2.flavours: expected images, regions or sizes tables"),
        ({"ec2": {"images": "ami-0bbbbbbbbbbbbbbbb"}}, "mappings.ec2.images: expected images, regions or sizes tables"),
    ],
)
def test_bad_mappings_name_their_key(mappings, message):
    assert str(refusal(seed(), mappings)) == message


@pytest.mark.parametrize(
    ("provider", "image", "region", "size"),
    [
        ("ec2", "ami-0123456789abcdef0", "eu-west-3", "m5.xlarge"),
        ("ec2", "ami-01234567", "us-gov-west-1", "t4g.nano"),
        ("linode", "linode/ubuntu24.04", "us-east", "g6-standard-2"),
        ("linode", "private/12345", "ap-west", "g7-highmem-1"),
        ("vsphere", "Templates/debian 12", "DC0", "16x65536"),
    ],
)
def test_raw_provider_ids_are_taken_verbatim(provider, image, region, size):
    host = only_host({"instances": [rich(provider=provider, image=image, region=region, size=size)]})
    assert (host["image"], host["region"], host["size"]) == (image, region, size)


@pytest.mark.parametrize(
    ("provider", "key", "value"),
    [
        ("ec2", "image", "ami-XYZ"),
        ("ec2", "region", "US-EAST-1;"),
        ("ec2", "size", "t3"),
        ("linode", "image", "linode/../../x"),
        ("linode", "size", "nanode"),
        ("vsphere", "size", "2x64"),
        ("vsphere", "image", "template;rm -rf /"),
    ],
)
def test_raw_id_look_alikes_are_refused(provider, key, value):
    valid = {
        "ec2": {"image": AMI, "region": "us-east-1", "size": "t3.micro"},
        "linode": {"image": "linode/debian12", "region": "us-east", "size": "g6-nanode-1"},
        "vsphere": {"image": "tpl", "region": "DC0", "size": "1x1024"},
    }[provider]
    error = refusal({"instances": [rich(provider=provider, **{**valid, key: value})]})
    assert error.path == f"instances[0].{key}"


# --- hostile input --------------------------------------------------------------------------------

HOSTILE_HOSTNAMES = [
    "loki;rm -rf /",
    "loki$(id)",
    "loki`id`",
    "loki|nc",
    "loki&",
    "loki>x",
    "'loki'",
    "loki)(cn=*",
    "*",
    "loki,ou=x",
    "loki\\2a",
    "cn=loki",
    "lo ki",
    "loki\n",
    "loki\x00",
    "-loki",
    "loki-",
    "lo_ki",
    "lo.ki",
    "l\u043eki",  # a Cyrillic o
    "a" * 64,
]


@pytest.mark.parametrize("hostname", HOSTILE_HOSTNAMES)
def test_hostile_hostnames_are_refused_in_both_formats(hostname):
    assert refusal(seed(hostname=hostname)).path == "instance.hostname"
    assert refusal({"instances": [rich(hostname=hostname)]}).path == "instances[0].hostname"


def test_the_longest_hostname_is_63_characters():
    name = "a" * 63
    assert only_host({"instances": [rich(hostname=name, fqdn=f"{name}.example.com")]})["hostname"] == name


@pytest.mark.parametrize(
    "fqdn",
    [
        "odin.websages.com;id",
        "odin.web*sages.com",
        "odin.websages.com)(cn=*",
        "odin.-websages.com",
        "odin.websages com",
    ],
)
def test_hostile_fqdns_are_refused(fqdn):
    assert refusal({"instances": [rich(fqdn=fqdn)]}).path == "instances[0].fqdn"


def test_the_longest_fqdn_is_253_characters():
    fits = ".".join(["odin", "a" * 62, "a" * 62, "a" * 62, "a" * 59])
    assert len(fits) == 253
    assert only_host({"instances": [rich(fqdn=fits)]})["fqdn"] == fits
    assert refusal({"instances": [rich(fqdn=fits + "a")]}).path == "instances[0].fqdn"


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"ssh_keys": [ED25519 + "\nssh-rsa AAAA attacker"]}, "instances[0].ssh_keys"),
        ({"ssh_keys": [ED25519 + "\r"]}, "instances[0].ssh_keys"),
        ({"ssh_keys": ['command="sh" ' + ED25519]}, "instances[0].ssh_keys"),
        ({"gitosis_admin": "-oProxyCommand=sh@host:x.git"}, "instances[0].gitosis_admin"),
        ({"gitosis_admin": "git@host:$(id).git"}, "instances[0].gitosis_admin"),
        ({"gitosis_admin": "git@host:x.git\nevil"}, "instances[0].gitosis_admin"),
        ({"gitosis_admin": "git@-oProxyCommand=sh:x.git"}, "instances[0].gitosis_admin"),
        ({"gitosis_admin": "git@host:-x.git"}, "instances[0].gitosis_admin"),
        ({"mounts": [{"src": "tmpfs", "path": "/srv", "fstype": "tmpfs", "opts": "defaults 0 0\n/ /x"}]}, None),
        ({"mounts": [{"src": "tmpfs", "path": "/srv", "fstype": "tmpfs", "opts": "a b"}]}, None),
        ({"mounts": [{"src": "tmp#fs", "path": "/srv", "fstype": "tmpfs"}]}, None),
        ({"mounts": [{"src": "tmpfs", "path": "/srv x", "fstype": "tmpfs"}]}, None),
        ({"mounts": [{"src": "tmpfs", "path": "/srv", "fstype": "tmpfs;id"}]}, None),
        ({"puppet": {"environment": "production;id"}}, "instances[0].puppet.environment"),
        ({"puppet": {"server": "puppet\n"}}, "instances[0].puppet.server"),
        ({"puppet": {"manifest": "exec { 'x': }\x1b[2J"}}, "instances[0].puppet.manifest"),
        ({"provider": "ec2\x00"}, "instances[0].provider"),
        ({"standby": "thor.websages.com;id"}, "instances[0].standby"),
    ],
)
def test_hostile_values_are_refused(changes, path):
    error = refusal({"instances": [rich(**changes)]})
    assert error.path == path or (path is None and error.path.startswith("instances[0].mounts[0]."))


@pytest.mark.parametrize("key", ["hostname", "fqdn", "provider", "gitosis_admin", "standby"])
def test_oversized_strings_are_refused(key):
    error = refusal({"instances": [rich(**{key: "x" * (MAX_STRING + 1)})]})
    assert str(error) == f"instances[0].{key}: contains control characters or is too long"


def test_an_oversized_manifest_is_refused():
    manifest = "notice('x')\n" * (MAX_STRING // 10)
    assert refusal({"instances": [rich(puppet={"manifest": manifest})]}).path == "instances[0].puppet.manifest"


@pytest.mark.parametrize(
    "value",
    [
        "x" * 100_000,
        "line one\nline two\r\n\x1b]0;owned\x07",
        "\u202eevil",
        '"; DROP TABLE hosts; --',
        "ldap://evil/)(objectClass=*",
        {"nested": ["x" * 10_000]},
        ["x"] * 10_000,
        10**100,
    ],
)
@pytest.mark.parametrize("key", ["hostname", "provider", "image", "region", "size", "gitosis_admin", "standby"])
def test_messages_about_hostile_values_stay_short_and_on_one_line(key, value):
    error = refusal({"instances": [rich(**{key: value})]})
    assert error.path == f"instances[0].{key}"
    assert len(str(error)) < 400
    assert str(error).isprintable()


@pytest.mark.parametrize(
    "design",
    [
        {"instances": [rich(**{"x\r\nPRIVMSG #ops :owned": 1})]},
        {"instance": {**SEED, "k" * 10_000: 1}},
        {"instances": [rich()], "\n" * 5: 1},
        {"instances": [rich(provider_options={"x\ny" * 1000: {}})]},
    ],
)
def test_messages_about_hostile_keys_stay_short_and_on_one_line(design):
    error = refusal(design)
    assert len(str(error)) < 400
    assert str(error).isprintable()


def test_unknown_top_level_keys_of_mixed_types_are_refused_not_crashed():
    assert refusal({"instances": [rich()], 1: "x", "a": "y"}).path in ("1", "a")


# --- the canonical form is a fixed point ------------------------------------------------------------

ROUND_TRIP_DESIGNS = {
    "seed": seed(),
    "seed on ec2": seed(provider="AWS", guestid=AMI, datacenter="Tokyo", size=8192, sshpubkey=ED25519),
    "seed on vsphere": seed(provider="ESXi", guestid="debian-12-template", datacenter="DC0", size=2048),
    "cluster": {
        "defaults": {"provider": "ec2", "image": AMI, "region": "Atlanta", "size": 1024, "dns": {"ttl": 600}},
        "instances": [
            {
                "hostname": "ODIN",
                "fqdn": "odin.websages.com.",
                "ssh_keys": [ED25519],
                "gitosis_admin": "gitosis@freyr.websages.com:gitosis-admin.git",
                "dns": {"zone": "WEBSAGES.com", "reverse_zone": "100.201.10.in-addr.arpa", "ttl": 60},
                "mounts": [{"src": "tmpfs", "path": "/srv/cache/", "fstype": "tmpfs", "opts": "size=64m"}],
                "puppet": {"server": "puppet.websages.com", "manifest": "node default {\n\tinclude ntp\n}\n"},
                "kernel": {"upgrade": True, "minimum": "6.1.0"},
                "standby": "thor.websages.com",
                "root_key": {"rotate": True},
            },
            {"hostname": "thor", "fqdn": "thor.websages.com", "provider": "linode", "image": "Debian 12", "size": 2048},
        ],
    },
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP_DESIGNS))
def test_canonical_hosts_fed_back_as_instances_normalize_to_themselves(name):
    hosts = normalize(ROUND_TRIP_DESIGNS[name])
    again = normalize(as_design(copy.deepcopy(hosts)))
    assert again == hosts
    assert normalize(as_design(again)) == hosts


def test_canonical_provider_options_normalize_to_themselves_through_as_design():
    hosts = normalize({"instances": [rich(provider_options={"ec2": {"tags": {"role": "web"}}})]})
    assert normalize(as_design(hosts)) == hosts


@pytest.mark.parametrize(
    ("key", "entry"),
    [("ssh_keys", ED25519), ("mounts", {"src": "tmpfs", "path": "/srv/x", "fstype": "tmpfs"})],
)
def test_a_host_lists_at_most_64_keys_and_mounts(key, entry):
    assert normalize({"instances": [rich(**{key: [entry] * 64})]})
    error = refusal({"instances": [rich(**{key: [entry] * 65})]})
    assert error.path == f"instances[0].{key}" and "at most 64" in str(error)


def test_a_bad_key_among_several_is_named_by_its_index():
    assert refusal({"instances": [rich(ssh_keys=[ED25519, "ssh-rsa"])]}).path == "instances[0].ssh_keys[1]"


def test_only_the_allowed_gitosis_admin_remotes_pass_when_the_caller_gives_them():
    remote = SEED["gitosis-admin"]
    assert normalize(seed(), gitosis_allowed=[remote])[0]["gitosis_admin"] == remote
    assert normalize(seed(), gitosis_allowed=None)[0]["gitosis_admin"] == remote
    assert normalize(seed(**{"gitosis-admin": None}), gitosis_allowed=[])[0]["gitosis_admin"] is None
    with pytest.raises(DesignError) as caught:
        normalize({"instances": [rich(gitosis_admin="x@evil.example:r.git")]}, gitosis_allowed=[remote, "a@b:c.git"])
    assert caught.value.path == "instances[0].gitosis_admin"
    assert caught.value.problem == (
        f"'x@evil.example:r.git' is not an allowed gitosis-admin remote (allowed: a@b:c.git, {remote})"
    )
    with pytest.raises(DesignError, match="none are allowed: set gitosis.remotes or gitosis.allowed in the config"):
        normalize(seed(), gitosis_allowed=())
