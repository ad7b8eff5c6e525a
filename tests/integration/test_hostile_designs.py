"""The corpus of hostile designs (tests/hostile/corpus.yml) on the sandbox, through every way in.

Refused designs go through `jarvis plan`: refused before anything is recorded or run, the message naming
the field. Accepted ones are merged per path into one multi-host design and run once: `jarvis plan`
(check mode), `jarvis deploy` (EC2, one Linode, one vSphere VM), the remote ansible-runner worker and
plain ansible-playbook. After each, no payload has run (the marker file does not exist) and every
payload is found as written where it lands: EC2 and Linode tags, the instance's user data, root's
authorized_keys on the host, the CMDB, the status store. The hostnames (hx01...) are this module's own.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from linode_api4 import Instance, LinodeClient

from orchestrator import cli as jarvis_cli
from orchestrator.config import Config, load_config
from orchestrator.design import Design, parse_design
from orchestrator.errors import DesignError
from orchestrator.store import DeploymentStore
from sandbox.ec2 import cloud_config
from sandbox.worker import WorkerInfo
from tests.hostile.corpus import Entry, hostnames, load_corpus, merged_design, new_marker
from tests.support.ansible import REPO, ansible_env
from tests.support.world import ec2_client, ec2_instances, ldap_entry, on_host, query

pytestmark = pytest.mark.integration

CORPUS = load_corpus()
REFUSED = [entry for entry in CORPUS if not entry.accepted]
BY_VIA = {via: [entry for entry in CORPUS if entry.via == via] for via in ("cli", "worker", "playbook")}
# One refusal per layer, also run as a real `jarvis deploy` process: document size, YAML loader, field, allow-list.
IN_A_PROCESS = ("document-over-64-kib", "billion-laughs", "hostname-lookup-pipe", "gitosis-admin-not-allowed")


@pytest.fixture(scope="module")
def marker() -> Iterator[Path]:
    """The path that every payload of this module would create if it ever ran."""
    path = new_marker()
    yield path
    path.unlink(missing_ok=True)


def no_payload_ran(marker: Path) -> None:
    assert not marker.exists(), f"a payload ran on the controller: {marker} exists"


def jarvis(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=env, timeout=900
    )


def parse(entry: Entry, marker: Path, config: Config) -> Design:
    return parse_design(entry.document(marker), entry.name, config.mappings, gitosis_allowed=config.gitosis_allowed())


def canonical_hosts(entries: list[Entry], marker: Path, config: Config) -> dict[str, dict[str, Any]]:
    return {host["hostname"]: host for entry in entries for host in parse(entry, marker, config).hosts}


def run_dirs(config: Config) -> set[str]:
    return set(p.name for p in config.runs_dir.iterdir()) if config.runs_dir.exists() else set()


def ec2_view(world: dict, hostname: str) -> dict[str, Any]:
    """HOSTNAME's tags at EC2 and the public keys of its user data (cloud-config), as the provider keeps them."""
    (instance,) = ec2_instances(world, hostname)
    client = ec2_client(world)
    try:
        attribute = client.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    finally:
        client.close()
    user_data = base64.b64decode(attribute.get("UserData", {}).get("Value", ""))
    return {
        "tags": {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
        "keys": [str(key) for key in cloud_config(user_data).get("ssh_authorized_keys") or []],
    }


def linode_tags(world: dict, hostname: str) -> list[str]:
    client = LinodeClient(world["linode"]["token"], base_url=world["linode"]["base_url"], retry=False)
    (found,) = client.linode.instances(Instance.label == hostname)
    return list(found.tags)


def root_authorized_keys(world: dict, ip: str) -> list[str]:
    return on_host(world, ip, "cat /root/.ssh/authorized_keys").splitlines()


def design_file(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yml"
    path.write_bytes(text.encode("utf-8"))
    return path


def job_events(config: Config, deployment_id: str) -> list[dict[str, Any]]:
    run = config.runs_dir / deployment_id
    return [json.loads(path.read_text()) for path in sorted(run.glob("artifacts/*/job_events/*.json"))]


def module_args(events: list[dict[str, Any]], hostname: str, module: str) -> dict[str, Any]:
    """The arguments MODULE was run with for HOSTNAME, as its result in the runner's events reports them."""
    for event in events:
        data = event.get("event_data") or {}
        action = str(data.get("resolved_action") or data.get("task_action") or "")
        looking = "production_check" in str(data.get("task_path", ""))  # its check-mode look at what exists
        ok = event.get("event") == "runner_on_ok" and not looking
        if ok and data.get("host") == hostname and action.endswith(module):
            args: dict[str, Any] = data["res"]["invocation"]["module_args"]
            return args
    raise AssertionError(f"no result of {module} for {hostname} in the runner's events")


def check_landed(
    entries: list[Entry],
    marker: Path,
    config: Config,
    world: dict,
    store: DeploymentStore | None,
) -> None:
    """Every payload of ENTRIES' hosts is where the entry says it lands, as written (STORE: jarvis ran them)."""
    hosts = canonical_hosts(entries, marker, config)
    secrets = config.secret_values()
    for entry in entries:
        for name in hostnames(entry, marker):
            host = hosts[name]
            ip = query(world, host["fqdn"], "A")[0]
            status = store.host_status(name) if store else None
            if store is not None:
                assert status is not None and status.state == "ready", (name, status and status.reason)
                recorded = store.deployment(status.deployment_id) or {}
                assert [h for h in recorded["hosts"] if h["hostname"] == name] == [host], name
            tags = host["provider_options"].get("tags")
            if "ec2_tags" in entry.lands:
                at_ec2 = ec2_view(world, name)["tags"]
                assert {key: at_ec2.get(key) for key in tags} == tags, name
                assert not [secret for secret in secrets if any(secret in value for value in at_ec2.values())]
                if status is not None:
                    assert {key: status.facts["instance"]["tags"].get(key) for key in tags} == tags, name
            if "linode_tags" in entry.lands:
                at_linode = linode_tags(world, name)
                assert set(tags) <= set(at_linode), (name, at_linode)
                assert not [secret for secret in secrets if any(secret in tag for tag in at_linode)]
                if status is not None:
                    assert set(tags) <= set(status.facts["instance"]["tags"]), name
            if "authorized_keys" in entry.lands:
                on_the_host = root_authorized_keys(world, ip)
                assert [key for key in host["ssh_keys"] if key not in on_the_host] == [], (name, on_the_host)
                if host["provider"] == "ec2":
                    assert set(host["ssh_keys"]) <= set(ec2_view(world, name)["keys"]), name
            if "names" in entry.lands:
                entry_in_ldap = ldap_entry(world, name)
                assert entry_in_ldap is not None, name
                assert (entry_in_ldap["cn"], entry_in_ldap["jarvisFqdn"]) == ([name], [host["fqdn"]])


# --- refused designs ---------------------------------------------------------------------------------------


def test_refused_designs_are_refused_by_jarvis_plan_before_anything_runs(
    jarvis_env: dict[str, str],
    jarvis_config: Config,
    world: dict,
    marker: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the CLI's own code (in this process: ~1 ms each), then a few as real `jarvis deploy` processes."""
    monkeypatch.setenv("JARVIS_HOME", jarvis_env["JARVIS_HOME"])
    before = run_dirs(jarvis_config)
    wrong = []
    for entry in REFUSED:
        try:
            parse(entry, marker, jarvis_config)
        except DesignError:
            pass
        except Exception as exc:  # noqa: BLE001 - reported with the others
            wrong.append(f"{entry.name}: the validator raised {type(exc).__name__}: {exc}")
            continue
        else:  # never hand the CLI a design it would plan for real
            wrong.append(f"{entry.name}: accepted")
            continue
        path = design_file(tmp_path, entry.name, entry.document(marker))
        try:
            code = jarvis_cli.main(["--config", jarvis_env["JARVIS_CONFIG"], "plan", str(path)])
        except Exception as exc:  # noqa: BLE001 - a crash is one more wrong answer to report with the others
            wrong.append(f"{entry.name}: {type(exc).__name__}: {exc}")
            continue
        said = capsys.readouterr()
        named = any(said.err.startswith(f"jarvis: {field}:") for field in entry.refused_paths(marker))
        if code != 2 or not named or said.out:
            wrong.append(f"{entry.name}: exit {code}, said {said.err.strip()[:200]!r}")
    assert wrong == []
    processes = []
    for entry in [entry for entry in REFUSED if entry.name in IN_A_PROCESS]:
        path = design_file(tmp_path, entry.name, entry.document(marker))
        argv = [sys.executable, "-m", "orchestrator.cli", "deploy", str(path)]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        processes.append((entry, subprocess.Popen(argv, text=True, env=jarvis_env, **pipes)))  # noqa: S603
    assert len(processes) == len(IN_A_PROCESS)
    for entry, process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2, (entry.name, out, err)
        assert any(err.startswith(f"jarvis: {field}:") for field in entry.refused_paths(marker)), (entry.name, err)
    assert run_dirs(jarvis_config) == before, "a refused design was planned or deployed"
    assert DeploymentStore(jarvis_config.store_path).host_status("hxr") is None
    assert ec2_instances(world, "hxr") == []
    no_payload_ran(marker)


# --- jarvis plan, then jarvis deploy, of one design holding every accepted host ------------------------------


@pytest.fixture(scope="module")
def cli_design(marker: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = yaml.safe_dump(merged_design(BY_VIA["cli"], marker), sort_keys=False)
    return design_file(tmp_path_factory.mktemp("hostile"), "hostile", text)


@pytest.fixture(scope="module")
def planned(cli_design: Path, jarvis_env: dict[str, str], jarvis_config: Config) -> dict[str, Any]:
    before = run_dirs(jarvis_config)
    proc = jarvis(jarvis_env, "plan", str(cli_design))
    new = sorted(run_dirs(jarvis_config) - before)
    assert len(new) == 1, (new, proc.stdout[-2000:], proc.stderr[-2000:])
    return {"cli": proc, "id": new[0]}


@pytest.fixture(scope="module")
def deployed(planned: dict[str, Any], cli_design: Path, jarvis_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """After the plan (which must not have created anything the deployment would then find)."""
    return jarvis(jarvis_env, "deploy", str(cli_design))


def test_plan_changes_nothing_and_hands_the_providers_every_payload_as_written(
    planned: dict[str, Any], jarvis_config: Config, world: dict, marker: Path
) -> None:
    proc = planned["cli"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    no_payload_ran(marker)
    store = DeploymentStore(jarvis_config.store_path)  # never closed: see tests/support/secrets.py
    states = {host.hostname: host.state for host in store.deployment_hosts(planned["id"])}
    hosts = canonical_hosts(BY_VIA["cli"], marker, jarvis_config)
    assert states == dict.fromkeys(hosts, "planned")
    assert (store.deployment(planned["id"]) or {}).get("hosts") == list(hosts.values())
    events = job_events(jarvis_config, planned["id"])
    for entry in BY_VIA["cli"]:
        for name in hostnames(entry, marker):
            host = hosts[name]
            assert ldap_entry(world, name) is None and query(world, host["fqdn"], "A") == []
            tags = host["provider_options"].get("tags")
            if host["provider"] == "ec2":
                assert ec2_instances(world, name) == []
                args = module_args(events, name, "ec2_instance")
                assert args["tags"] == {**(tags or {}), "jarvis:fqdn": host["fqdn"]}
                keys = cloud_config(args["user_data"].encode())["ssh_authorized_keys"]
                assert [key for key in host["ssh_keys"] if key not in keys] == []
            else:
                args = module_args(events, name, f"{host['provider']}_instance")
                assert [key for key in host["ssh_keys"] if key not in args["authorized_keys"]] == []
                if host["provider"] == "linode":
                    assert args["tags"] == tags


def test_deploy_lands_every_payload_literally(
    deployed: subprocess.CompletedProcess[str],
    jarvis_config: Config,
    jarvis_env: dict[str, str],
    world: dict,
    marker: Path,
) -> None:
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    no_payload_ran(marker)
    store = DeploymentStore(jarvis_config.store_path)  # never closed: see tests/support/secrets.py
    check_landed(BY_VIA["cli"], marker, jarvis_config, world, store)
    hosts = canonical_hosts(BY_VIA["cli"], marker, jarvis_config)
    shown = json.loads(jarvis(jarvis_env, "status", "hx03", "--json").stdout)
    tags = hosts["hx03"]["provider_options"]["tags"]
    assert {key: shown["facts"]["instance"]["tags"][key] for key in tags} == tags
    assert shown["facts"]["instance"]["tags"]["arithmetic"] == "{{ 6*7 }}"


# --- the remote ansible-runner worker -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker_env(
    world: dict, remote_worker: WorkerInfo, jarvis_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A jarvis home and config of their own whose executor is the remote worker."""
    config = yaml.safe_load(Path(world["config"]).read_text())
    config["executor"] = remote_worker.executor_section()
    path = tmp_path_factory.mktemp("hostile-remote-etc") / "config.yml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    home = tmp_path_factory.mktemp("hostile-remote-home")
    return {**jarvis_env, "JARVIS_HOME": str(home), "JARVIS_CONFIG": str(path)}


def test_the_remote_worker_lands_every_payload_literally(
    worker_env: dict[str, str], world: dict, marker: Path, tmp_path: Path
) -> None:
    (entry,) = BY_VIA["worker"]
    config = load_config(worker_env["JARVIS_CONFIG"])
    config.home = Path(worker_env["JARVIS_HOME"])
    proc = jarvis(worker_env, "deploy", str(design_file(tmp_path, entry.name, entry.document(marker))))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    no_payload_ran(marker)
    store = DeploymentStore(config.store_path)  # never closed: see tests/support/secrets.py
    check_landed([entry], marker, config, world, store)


# --- plain ansible-playbook -e @design.yml -------------------------------------------------------------------


def test_plain_ansible_playbook_lands_every_payload_literally(
    jarvis_env: dict[str, str], jarvis_config: Config, world: dict, marker: Path, tmp_path: Path
) -> None:
    """As the README shows it: the design as extra vars, `jarvis vars` and `jarvis env`'s exports."""
    (entry,) = BY_VIA["playbook"]
    design = design_file(tmp_path, entry.name, entry.document(marker))
    site_vars = design_file(tmp_path, "site", jarvis(jarvis_env, "vars").stdout)
    exports = {}
    for line in jarvis(jarvis_env, "env").stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0]
    argv = ["ansible-playbook", str(REPO / "playbooks" / "deploy.yml"), "-e", f"@{design}", "-e", f"@{site_vars}"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(exports), timeout=900)  # noqa: S603
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    no_payload_ran(marker)
    check_landed([entry], marker, jarvis_config, world, None)
    (name,) = hostnames(entry, marker)
    assert (ldap_entry(world, name) or {}).get("jarvisDeployedBy") == ["ansible-playbook"]
