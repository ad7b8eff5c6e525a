"""Outside data reaches Ansible as data: the inventory and vars files jarvis writes, and the static playbooks.

Each test runs the real ansible-playbook on localhost (no servers): a payload that would run a command
leaves a marker file if it is ever rendered, and ``{{ 6*7 }}`` must come out as that text, never 42.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.job import Job
from orchestrator.render import deployment_inventory
from orchestrator.unsafe import UNSAFE_KEY, mark_unsafe, unmark, vars_file_text
from tests.support.ansible import REPO, ansible_env

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def payload(marker: Path) -> str:
    return f"{{{{ lookup('pipe', 'touch {marker}') }}}}"


def hostile_host(marker: Path) -> dict[str, Any]:
    return {
        "hostname": "hx1",
        "fqdn": "hx1.websages.com",
        "provider": "ec2",
        "ssh_keys": [f"{KEY} {payload(marker)}"],
        "provider_options": {"tags": {"team": "{{ 6*7 }}", "{{ 6*7 }}": "key"}},
        "puppet": {"manifest": "{% for x in range(3) %}{{ x }}{% endfor %}"},
        "roles": ["{{ jarvis_credentials | to_json }}"],
    }


def string_leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every string leaf (with its path) of a structure, seen as Ansible would see the JSON."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE_KEY}:
            return [(path, value)]
        return [leaf for key, item in value.items() for leaf in string_leaves(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in string_leaves(item, f"{path}[{index}]")]
    return [(path, value)] if isinstance(value, str) else []


def test_mark_unsafe_marks_every_string_and_unmark_gives_the_data_back() -> None:
    data = {"a": ["x", {"b": "{{ 1 }}", "n": 3, "t": True, "z": None}], "k": ("y",)}
    marked = mark_unsafe(data)
    assert marked["a"][0] == {UNSAFE_KEY: "x"} and marked["a"][1]["n"] == 3
    assert all(isinstance(leaf, dict) for _, leaf in string_leaves(marked))
    assert unmark(marked) == {**data, "k": ["y"]}


def test_the_inventory_marks_every_variable_of_the_design_hosts_and_the_site(tmp_path: Path) -> None:
    job = Job(
        private_dir=tmp_path,
        ident="t",
        kind="deploy",
        hosts=[hostile_host(tmp_path / "marker")],
        stages=[],
        site_vars={"jarvis_deployed_by": "irc:{{ 6*7 }}!u@h", "jarvis_ec2": {"subnet_id": "subnet-1"}},
        host_vars={"hx1": {"jarvis_standby": "{{ 6*7 }}", "jarvis_ip": "10.0.0.1"}},
    )
    inventory = job.inventory()
    targets = inventory["all"]["children"]["jarvis_targets"]["hosts"]
    leaves = string_leaves(targets) + string_leaves(inventory["all"]["vars"])
    assert leaves and all(isinstance(leaf, dict) for _, leaf in leaves), [p for p, v in leaves if isinstance(v, str)]
    assert inventory["all"]["hosts"]["localhost"]["ansible_connection"] == "local"  # jarvis's own, plain


def run_playbook(tmp_path: Path, plays: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays))
    return subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook), *args],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=120,
        check=False,
    )


def test_payloads_in_the_rendered_inventory_and_credentials_land_literally(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    host = hostile_host(marker)
    inventory = deployment_inventory(
        [host],
        {"jarvis_deployed_by": "xmpp:ops@conference.test/{{ 6*7 }}"},
        {"hx1": {"ansible_connection": "local", "ansible_python_interpreter": "python3"}},
    )
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(vars_file_text({"jarvis_credentials": {"dns": {"key_secret": "{{ 6*7 }}"}}}))
    out = tmp_path / "seen.json"
    play = {
        "hosts": "jarvis_targets",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Write what the play sees",
                "ansible.builtin.copy": {
                    "dest": str(out),
                    "content": "{{ {'host': jarvis_host, 'by': jarvis_deployed_by, 'secret': jarvis_credentials} "
                    "| to_json }}",
                    "mode": "0600",
                },
                "delegate_to": "localhost",
            }
        ],
    }
    result = run_playbook(tmp_path, [play], "-i", str(tmp_path / "hosts.json"), "-e", f"@{credentials}")
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(out.read_text())
    assert seen["host"] == host
    assert seen["by"].endswith("/{{ 6*7 }}") and seen["secret"]["dns"]["key_secret"] == "{{ 6*7 }}"
    assert not marker.exists()


def write_design(tmp_path: Path, marker: Path, **extra: Any) -> Path:
    design = {
        "instances": [
            {
                "hostname": "hx1",
                "fqdn": "hx1.websages.com",
                "provider": "ec2",
                "image": "ami-0123456789abcdef0",
                "region": "us-east-1",
                "size": "t3.micro",
                "ssh_keys": [f"{KEY} {payload(marker)}"],
                "provider_options": {"ec2": {"tags": {"team": "{{ 6*7 }}", "{{ 6*7 }}": "key"}}},
            }
        ],
        **extra,
    }
    path = tmp_path / "design.yml"
    path.write_text(yaml.safe_dump(design))
    return path


def see_hosts(out: Path) -> dict[str, Any]:
    """A play that writes each target's jarvis_host, as the pipeline's stages see it, to OUT."""
    write = {"dest": str(out), "content": "{{ jarvis_host | to_json }}", "mode": "0600"}
    task = {"name": "Write the host", "ansible.builtin.copy": write, "delegate_to": "localhost", "tags": ["always"]}
    return {"hosts": "jarvis_targets", "gather_facts": False, "tasks": [task]}


def test_plain_ansible_playbook_reads_a_design_given_as_extra_vars_as_data(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    design = write_design(tmp_path, marker)
    out = tmp_path / "seen.json"
    plays = [{"ansible.builtin.import_playbook": str(REPO / "playbooks" / "deploy.yml")}, see_hosts(out)]
    result = run_playbook(tmp_path, plays, "-e", f"@{design}", "--tags", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(out.read_text())
    assert seen["ssh_keys"] == [f"{KEY} {payload(marker)}"]
    assert seen["provider_options"]["tags"] == {"team": "{{ 6*7 }}", "{{ 6*7 }}": "key"}
    assert not marker.exists()


@pytest.mark.parametrize("variable", ["jarvis_force", "ansible_ssh_common_args"])
def test_a_design_file_that_sets_other_variables_is_refused(tmp_path: Path, variable: str) -> None:
    design = write_design(tmp_path, tmp_path / "marker", **{variable: "-oProxyCommand=touch /tmp/x"})
    out = tmp_path / "seen.json"
    plays = [{"ansible.builtin.import_playbook": str(REPO / "playbooks" / "deploy.yml")}, see_hosts(out)]
    result = run_playbook(tmp_path, plays, "-e", f"@{design}", "--tags", "validate")
    assert result.returncode != 0
    assert f"sets {variable}: a design holds only instance, instances and defaults" in result.stdout
    assert not out.exists()


def test_a_design_file_whose_hosts_are_a_template_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    design = tmp_path / "design.yml"
    design.write_text(yaml.safe_dump({"instances": payload(marker)}))
    out = tmp_path / "seen.json"
    plays = [{"ansible.builtin.import_playbook": str(REPO / "playbooks" / "deploy.yml")}, see_hosts(out)]
    result = run_playbook(tmp_path, plays, "-e", f"@{design}", "--tags", "validate")
    assert result.returncode != 0
    assert "instances must be a mapping or a list, not a string" in result.stdout
    assert not marker.exists() and not out.exists()
