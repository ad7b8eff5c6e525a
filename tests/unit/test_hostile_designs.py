"""The corpus of hostile designs (tests/hostile/corpus.yml) without the sandbox.

Every entry goes through the validator with the sandbox's mappings and gitosis allow-list: a refused one
raises a DesignError naming its field, an accepted one keeps every payload byte for byte. The accepted
hosts then go through the door to Ansible (the inventory jarvis writes, and the static playbook's validate
stage given the design as extra vars) and a real ansible-playbook on localhost must see them as written,
with no payload run (the marker file never appears).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import Config
from orchestrator.design import Design, parse_design
from orchestrator.errors import DesignError
from orchestrator.job import Job
from orchestrator.render import TARGET_GROUP
from orchestrator.unsafe import unmark
from tests.hostile.corpus import (
    KEY,
    PLACES,
    VIAS,
    Entry,
    hostnames,
    load_corpus,
    merged_design,
    new_marker,
    payloads,
)
from tests.support.ansible import REPO, ansible_env

CORPUS = load_corpus()
REFUSED = [entry for entry in CORPUS if not entry.accepted]
ACCEPTED = [entry for entry in CORPUS if entry.accepted]
FREYR = "gitosis@freyr.websages.com:gitosis-admin.git"
ROLE = REPO / "collections" / "ansible_collections" / "jarvis" / "deploy" / "roles" / "pipeline"
UNSAFE = "__ansible_unsafe"  # Ansible's JSON form of its unsafe mark
# Who asked, as the bot records a person whose nick is a payload (see tests/integration/test_chat.py).
REQUESTER = "{{ lookup('pipe','touch @MARKER@') }} (xmpp alice@sandbox.test)"

# The sandbox's config as sandbox/world.py writes it, where it matters to validation and to the playbook.
SANDBOX = Config(
    home=Path("/nonexistent/jarvis-home"),
    authorized_keys=[f"{KEY} jarvis-sandbox"],
    ec2={"subnet_id": "subnet-12345678", "security_group_ids": ["sg-12345678"]},
    mappings={
        "ec2": {"images": dict.fromkeys(("debian 6", "debian 12", "debian-12"), "ami-0123456789abcdef0")},
        "vsphere": {
            "images": dict.fromkeys(("debian 6", "debian 12", "debian-12"), "DC0_C0_RP0_VM0"),
            "regions": {"atlanta": "DC0"},
        },
    },
    gitosis={
        "remotes": {FREYR: "gitosis@127.0.0.1:gitosis-admin.git"},
        "ssh_private_key": "/nonexistent/id_ed25519",
        "known_hosts": "/nonexistent/known_hosts",
    },
    zones=["websages.com", "201.10.in-addr.arpa"],
)


@pytest.fixture
def marker() -> Iterator[Path]:
    """A path no payload may create."""
    path = new_marker()
    yield path
    ran = path.exists()
    path.unlink(missing_ok=True)
    assert not ran, f"a payload ran: {path} exists"


def parse(entry: Entry, marker: Path) -> Design:
    """ENTRY validated as the CLI validates a design file, with the sandbox's config."""
    return parse_design(entry.document(marker), entry.name, SANDBOX.mappings, gitosis_allowed=SANDBOX.gitosis_allowed())


def accepted_hosts(marker: Path, vias: tuple[str, ...] = VIAS) -> list[dict[str, Any]]:
    return [host for entry in ACCEPTED if entry.via in vias for host in parse(entry, marker).hosts]


def test_the_corpus_has_forty_designs_each_with_its_reason() -> None:
    assert len(CORPUS) >= 40
    names = [entry.name for entry in CORPUS]
    assert len(set(names)) == len(names), "entry names are unique"
    for entry in CORPUS:
        assert entry.reason.strip() and "\n" not in entry.reason.strip(), entry.name
        assert entry.document(Path("/m")).strip(), entry.name
        if entry.accepted:
            assert entry.via in VIAS and entry.lands and set(entry.lands) <= set(PLACES), entry.name
        else:
            assert entry.via is None and not entry.lands, entry.name


def test_deployed_entries_use_hostnames_of_their_own() -> None:
    names = [name for entry in ACCEPTED for name in hostnames(entry, Path("/m"))]
    assert len(set(names)) == len(names)
    assert all(name.startswith("hx") and name[2:].isdigit() for name in names), names


def test_the_accepted_designs_are_ones_the_providers_take(marker: Path) -> None:
    """So that a deployment on the sandbox fails only if a payload was changed: EC2's and Linode's tag limits."""
    for host in accepted_hosts(marker):
        tags = host["provider_options"].get("tags") or {}
        if host["provider"] == "ec2":
            assert len(tags) < 50 and all(len(key) <= 128 and len(value) <= 256 for key, value in tags.items())
        if host["provider"] == "linode":
            assert all(3 <= len(tag) <= 50 for tag in tags), tags


@pytest.mark.parametrize("entry", REFUSED, ids=lambda entry: entry.name)
def test_a_refused_design_names_its_field_and_nothing_runs(entry: Entry, marker: Path) -> None:
    with pytest.raises(DesignError) as caught:
        parse(entry, marker)
    error = caught.value
    assert error.path in entry.refused_paths(marker), str(error)
    assert str(error).startswith(f"{error.path}: ")


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda entry: entry.name)
def test_an_accepted_design_keeps_every_payload_as_written(entry: Entry, marker: Path) -> None:
    design = parse(entry, marker)
    written = payloads(yaml.safe_load(entry.document(marker)), marker)
    kept = payloads(design.hosts, marker)
    assert [text for text in written if text not in kept] == []
    assert payloads(design.document, marker) == written  # the document as given, as stored with the deployment
    for key, value in entry.canonical.items():
        assert [host[key] for host in design.hosts] == [value] * len(design.hosts)


@pytest.mark.parametrize("via", ["cli", "playbook", "none"])
def test_the_accepted_designs_of_one_path_validate_as_one_design(via: str, marker: Path) -> None:
    """What the integration test deploys at once: the merged design gives the same hosts as its parts."""
    entries = [entry for entry in ACCEPTED if entry.via == via]
    merged = yaml.safe_dump(merged_design(entries, marker))
    design = parse_design(merged, via, SANDBOX.mappings, gitosis_allowed=SANDBOX.gitosis_allowed())
    assert design.hosts == accepted_hosts(marker, (via,))


def string_leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every string leaf with its path; a value carrying the unsafe mark counts as one (marked) leaf."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE}:
            yield path, value
            return
        for key, item in value.items():
            yield from string_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def test_the_inventory_jarvis_writes_marks_every_string_of_the_designs_unsafe(tmp_path: Path, marker: Path) -> None:
    hosts = accepted_hosts(marker)
    job = Job(
        private_dir=tmp_path,
        ident="hostile",
        kind="redeploy",
        hosts=hosts,
        stages=[],
        site_vars={**SANDBOX.site_vars(), "jarvis_deployed_by": REQUESTER.replace("@MARKER@", str(marker))},
        # What a redeploy reads back from the CMDB, written there by whoever could write it.
        host_vars={host["hostname"]: {"jarvis_standby": "{{ 6*7 }}.websages.com"} for host in hosts},
    )
    inventory = json.loads(json.dumps(job.inventory()))  # as ansible-runner writes it
    targets = inventory["all"]["children"][TARGET_GROUP]["hosts"]
    for host in hosts:
        variables = targets[host["hostname"]]
        plain = [path for path, leaf in string_leaves(variables) if isinstance(leaf, str)]
        assert plain == [], f"{host['hostname']}: strings without the unsafe mark at {plain}"
        assert unmark(variables["jarvis_host"]) == host
    plain = [path for path, leaf in string_leaves(inventory["all"]["vars"]) if isinstance(leaf, str)]
    assert plain == [], f"site vars without the unsafe mark at {plain}"


def role_argument(task_file: str, module: str, argument: str) -> str:
    """The expression the pipeline role passes as ARGUMENT to MODULE in TASK_FILE, as the role writes it."""
    for task in yaml.safe_load((ROLE / "tasks" / task_file).read_text()):
        if module in task:
            return str(task[module][argument])
    raise AssertionError(f"no {module} task in {task_file}")


def run_playbook(tmp_path: Path, plays: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays))
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    return subprocess.run(  # noqa: S603
        [str(ansible_playbook), str(playbook), *args],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=300,
        check=False,
    )


def seen_play(out: Path, requester: bool = True) -> dict[str, Any]:
    """A play that evaluates, on each target, what the pipeline's tasks hand to their modules, written to OUT.

    REQUESTER: whether jarvis_deployed_by is set (the role's default of it is not seen outside the role).
    """
    template = ROLE / "templates" / "cloud-config.yml.j2"
    seen = {
        "host": "{{ jarvis_host }}",
        "authorized_keys": role_argument("instance.yml", "jarvis.deploy.linode_instance", "authorized_keys"),
        "user_data": f"{{{{ lookup('ansible.builtin.template', '{template}') }}}}",
        "manifest": role_argument("puppet_run.yml", "jarvis.deploy.puppet_run", "manifest"),
    }
    if requester:
        seen["deployed_by"] = role_argument("cmdb.yml", "jarvis.deploy.ldap_host", "deployed_by")
    by_provider = {
        "ec2_tags": ("ec2", role_argument("instance.yml", "jarvis.deploy.ec2_instance", "tags")),
        "linode_tags": ("linode", role_argument("instance.yml", "jarvis.deploy.linode_instance", "tags")),
    }
    tasks: list[dict[str, Any]] = [
        {"name": "What every stage hands its module", "ansible.builtin.set_fact": {"hx_seen": seen}}
    ]
    for name, (provider, expression) in by_provider.items():
        tasks.append(
            {
                "name": f"What the {provider} instance stage hands its module",
                "ansible.builtin.set_fact": {f"hx_{name}": expression},
                "when": f"jarvis_host.provider == '{provider}'",
            }
        )
    merged = ", ".join(f"'{name}': hx_{name} | default(none)" for name in by_provider)
    tasks.append(
        {"name": "All of it", "ansible.builtin.set_fact": {"hx_all": f"{{{{ hx_seen | combine({{{merged}}}) }}}}"}}
    )
    everyone = "groups['jarvis_targets']"
    content = f"dict({everyone} | zip({everyone} | map('extract', hostvars, 'hx_all'))) | to_json"
    tasks.append(
        {
            "name": "Write it down",
            "ansible.builtin.copy": {
                "dest": str(out),
                "content": f"{{{{ {content} }}}}",
                "mode": "0600",
            },
            "delegate_to": "localhost",
            "run_once": True,
        }
    )
    for task in tasks:
        task["tags"] = ["always"]
    return {"name": "See the hosts", "hosts": TARGET_GROUP, "gather_facts": False, "tasks": tasks}


def assert_seen_as_written(seen: dict[str, Any], hosts: list[dict[str, Any]], deployed_by: str | None = None) -> None:
    assert sorted(seen) == sorted(host["hostname"] for host in hosts)
    for host in hosts:
        what = seen[host["hostname"]]
        assert what["host"] == host
        assert what.get("deployed_by") == deployed_by
        keys = list(dict.fromkeys(host["ssh_keys"] + SANDBOX.authorized_keys))
        assert what["authorized_keys"] == keys
        assert yaml.safe_load(what["user_data"])["ssh_authorized_keys"] == keys
        assert what["manifest"] == host["puppet"]["manifest"]
        if host["provider"] == "ec2":
            assert what["ec2_tags"] == {**host["provider_options"].get("tags", {}), "jarvis:fqdn": host["fqdn"]}
        if host["provider"] == "linode":
            assert what["linode_tags"] == host["provider_options"]["tags"]


def test_ansible_sees_the_inventory_of_the_accepted_designs_as_written(tmp_path: Path, marker: Path) -> None:
    hosts = accepted_hosts(marker)
    requester = REQUESTER.replace("@MARKER@", str(marker))
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    job = Job(
        private_dir=tmp_path,
        ident="hostile",
        kind="deploy",
        hosts=hosts,
        stages=[],
        site_vars={**SANDBOX.site_vars(), "jarvis_deployed_by": requester},
        host_vars={host["hostname"]: local for host in hosts},
    )
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps(job.inventory()))
    out = tmp_path / "seen.json"
    result = run_playbook(tmp_path, [seen_play(out)], "-i", str(inventory), "--forks", "20")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_seen_as_written(json.loads(out.read_text()), hosts, requester)


@pytest.mark.parametrize(
    "vias", [("cli", "playbook", "none"), ("worker",)], ids=["instances-format", "the-seed-instance-format"]
)
def test_the_static_playbook_reads_a_design_given_as_extra_vars_as_data(
    vias: tuple[str, ...], tmp_path: Path, marker: Path
) -> None:
    """playbooks/deploy.yml -e @design.yml, as the README shows it: the validate stage, then what the stages see."""
    entries = [entry for entry in ACCEPTED if entry.via in vias]
    design = tmp_path / "design.yml"
    if len(entries) == 1:
        design.write_text(entries[0].document(marker))  # as written: the seed's format cannot be merged
    else:
        design.write_text(yaml.safe_dump(merged_design(entries, marker)))
    hosts = accepted_hosts(marker, vias)
    site = tmp_path / "site.yml"
    site.write_text(yaml.safe_dump(SANDBOX.site_vars()))  # what `jarvis vars` prints
    out = tmp_path / "seen.json"
    plays = [{"ansible.builtin.import_playbook": str(REPO / "playbooks" / "deploy.yml")}, seen_play(out, False)]
    argv = ["-e", f"@{design}", "-e", f"@{site}", "--tags", "validate", "--forks", "20"]
    result = run_playbook(tmp_path, plays, *argv)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_seen_as_written(json.loads(out.read_text()), hosts)
