"""Deployments run by a remote ansible-runner worker over real SSH (transmit | ssh worker | process).

The worker is ``sandbox.worker``: sshd on loopback letting root in with a key, running this venv's
ansible-runner. The deployments are real ones on the sandbox (EC2 host, DNS, LDAP, git server).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import ConfigError, DeploymentError, DeploymentRunner, DeploymentStore, load_config, load_design_file
from orchestrator._collection import COLLECTION_PATH
from orchestrator.config import Config
from orchestrator.events import Transition
from orchestrator.job import Job
from orchestrator.remote import RemoteExecutor
from orchestrator.stages import playbook_stages
from sandbox.worker import WorkerInfo
from tests.support.secrets import assert_no_secret, assert_private_modes, home_files, known_secrets

REPO = Path(__file__).resolve().parents[2]
LOKI = REPO / "examples" / "loki.yml"


def design_file(directory: Path, hostname: str) -> Path:
    path = directory / f"{hostname}.yml"
    path.write_text(LOKI.read_text().replace("loki", hostname))
    return path


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=env, check=False
    )


def job_processes(deployment_id: str) -> list[str]:
    """The artifact dirs of running processes of this deployment's ansible-playbook (ansible-runner marks them)."""
    suffix = f"/artifacts/{deployment_id}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes() if proc.name.isdigit() else b""
        except OSError:
            continue
        for var in environ.split(b"\0"):
            if var.startswith(b"AWX_ISOLATED_DATA_DIR=") and var.endswith(suffix):
                found.append(var.split(b"=", 1)[1].decode())
    return found


def wait_until(condition: Any, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not (done := condition()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return bool(done)


def stage_states(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(stage["stage"], stage["state"]) for stage in status["stages"]]


@pytest.fixture(scope="module")
def remote_env(
    world: dict, remote_worker: WorkerInfo, jarvis_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A jarvis environment of its own (home, config) whose config runs playbooks on the worker."""
    config = yaml.safe_load(Path(world["config"]).read_text())
    config["executor"] = remote_worker.executor_section()
    path = tmp_path_factory.mktemp("jarvis-remote-etc") / "config.yml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    home = tmp_path_factory.mktemp("jarvis-remote-home")
    return {**jarvis_env, "JARVIS_HOME": str(home), "JARVIS_CONFIG": str(path)}


@pytest.fixture(scope="module")
def remote_config(remote_env: dict[str, str]) -> Config:
    config = load_config(remote_env["JARVIS_CONFIG"])
    config.home = Path(remote_env["JARVIS_HOME"])
    return config


@pytest.fixture(scope="module")
def remote_deploy(remote_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``jarvis deploy`` of ymir with the remote executor, and its ``jarvis status --json``."""
    design = design_file(tmp_path_factory.mktemp("remote-designs"), "ymir")
    started = time.monotonic()
    deployed = cli(remote_env, "deploy", str(design))
    elapsed = time.monotonic() - started
    status = cli(remote_env, "status", "ymir", "--json")
    print(f"remote deployment of one EC2 host: {elapsed:.1f}s")
    return {"cli": deployed, "status": json.loads(status.stdout), "seconds": elapsed}


@pytest.fixture(scope="module")
def local_status(jarvis_config: Config, jarvis_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same kind of deployment (one EC2 host, fresh) run here, for comparison."""
    design = load_design_file(design_file(tmp_path_factory.mktemp("local-designs"), "aegir"), jarvis_config.mappings)
    started = time.monotonic()
    running = DeploymentRunner(jarvis_config, DeploymentStore(jarvis_config.store_path)).start(design, "pytest")
    assert running.wait(timeout=600) == "successful"
    print(f"local deployment of one EC2 host: {time.monotonic() - started:.1f}s")
    status: dict = json.loads(cli(jarvis_env, "status", "aegir", "--json").stdout)
    return status


@pytest.mark.integration
def test_remote_deployment_is_ready_with_the_stages_of_a_local_one(
    remote_deploy: dict[str, Any], local_status: dict
) -> None:
    assert remote_deploy["cli"].returncode == 0, remote_deploy["cli"].stdout + remote_deploy["cli"].stderr
    status = remote_deploy["status"]
    assert status["state"] == "ready", status.get("reason")
    assert stage_states(status) == stage_states(local_status)
    assert status["facts"]["instance_id"].startswith("i-")


@pytest.mark.integration
def test_the_playbook_ran_on_the_worker_with_the_shipped_collection(
    remote_deploy: dict[str, Any], remote_config: Config, remote_worker: WorkerInfo
) -> None:
    run = remote_config.runs_dir / remote_deploy["status"]["deployment"]
    events = [json.loads(path.read_text()) for path in run.glob("artifacts/*/job_events/*.json")]
    task_paths = {event["event_data"]["task_path"] for event in events if event.get("event_data", {}).get("task_path")}
    assert any("/roles/pipeline/tasks/ready.yml:" in path for path in task_paths)
    for path in task_paths:
        assert path.startswith(remote_worker.work_dir + "/jarvis-"), path
        if "/project/main.json:" in path:  # the rendered play's own tasks: each stage's cancel check
            continue
        assert "/project/collections/ansible_collections/jarvis/deploy/roles/pipeline/tasks/" in path
        assert not path.startswith(str(COLLECTION_PATH))
    assert list(Path(remote_worker.work_dir).iterdir()) == [], "the worker's job dir should be deleted"
    assert list((remote_config.home / "private").iterdir()) == [], "the transmitted staging dir should be gone"


@pytest.mark.integration
def test_remote_deployment_leaks_no_secrets(
    remote_deploy: dict[str, Any], remote_config: Config, remote_worker: WorkerInfo, world: dict
) -> None:
    # The vault password, the config's credentials, ymir's root password and its hash.
    secrets = known_secrets(remote_config, ["ymir.websages.com"])
    places = home_files(remote_config)
    assert any(p.name == "command" for p in places), "the artifacts process wrote should be scanned"
    assert any(p.suffix == ".json" and "job_events" in p.parts for p in places)
    assert any(p.name == "jarvis.db" for p in places)
    places += list(Path(remote_worker.known_hosts).parent.glob("*.log"))  # the worker's sshd log
    outputs = {f"jarvis deploy {name}": getattr(remote_deploy["cli"], name) for name in ("stdout", "stderr")}
    assert_no_secret(secrets, places, outputs)
    assert_private_modes(remote_config.home)


@pytest.mark.integration
def test_cancel_stops_the_playbook_on_the_worker(
    remote_config: Config, remote_worker: WorkerInfo, tmp_path: Path
) -> None:
    store = DeploymentStore(remote_config.store_path)
    design = load_design_file(design_file(tmp_path, "surtr"), remote_config.mappings)
    instance_started = threading.Event()

    def listen(transition: Transition) -> None:
        if (transition.stage, transition.state) == ("instance", "running"):
            instance_started.set()

    running = DeploymentRunner(remote_config, store).start(design, "pytest", listener=listen)
    assert instance_started.wait(timeout=120)
    on_worker = job_processes(running.id)
    assert on_worker and all(path.startswith(remote_worker.work_dir) for path in on_worker)
    running.cancel()
    assert running.wait(timeout=120) == "canceled"
    host = store.host_status("surtr")
    assert host is not None and host.state == "canceled"
    assert (store.deployment(running.id) or {}).get("state") == "canceled"
    assert wait_until(lambda: not job_processes(running.id)), "ansible-playbook still runs on the worker"
    assert wait_until(lambda: not list(Path(remote_worker.work_dir).iterdir())), "the job dir stays on the worker"


@pytest.mark.integration
def test_unknown_worker_host_key_fails_before_anything_runs(
    remote_config: Config, remote_worker: WorkerInfo, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    config = dataclasses.replace(remote_config, executor={**remote_config.executor, "known_hosts": str(known_hosts)})
    store = DeploymentStore(config.store_path)
    design = load_design_file(design_file(tmp_path, "fenrir"), config.mappings)
    running = DeploymentRunner(config, store).start(design, "pytest")
    assert running.wait(timeout=60) == "failed"
    host = store.deployment_hosts(running.id)[0]
    assert host.state == "failed"
    assert [stage.stage for stage in host.stages if stage.state != "not_run"] == ["validate"]
    assert not list((config.runs_dir / running.id).rglob("job_events/*.json"))
    assert "Host key verification failed" in (host.reason or "")


def empty_job(config: Config, tmp_path: Path) -> Job:
    ident = f"job-{time.time_ns()}"
    private_dir = tmp_path / ident
    private_dir.mkdir()
    return Job(private_dir=private_dir, ident=ident, kind="deploy", hosts=[], stages=list(playbook_stages("deploy")))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("unknown host key", "Host key verification failed"),
        ("changed host key", "Host key verification failed"),
        ("nothing listening", "Connection refused"),
        ("wrong client key", "Permission denied"),
        ("no ansible-runner", "cannot run /nonexistent/ansible-runner"),
        ("no python", "executor.python"),
    ],
)
def test_worker_errors_are_clear(remote_worker: WorkerInfo, tmp_path: Path, change: str, reason: str) -> None:
    section = remote_worker.executor_section()
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    known_hosts = tmp_path / "known_hosts"
    if change == "unknown host key":
        known_hosts.write_text("")
        section["known_hosts"] = str(known_hosts)
    elif change == "changed host key":
        known_hosts.write_text(f"[127.0.0.1]:{remote_worker.port} {other_key.with_suffix('.pub').read_text()}")
        section["known_hosts"] = str(known_hosts)
    elif change == "nothing listening":
        section["port"] = 1
    elif change == "wrong client key":
        section["identity_file"] = str(other_key)
    elif change == "no ansible-runner":
        section["command"] = "/nonexistent/ansible-runner"
    else:
        section["python"] = "/nonexistent/python3"
    config = Config(home=tmp_path / "home")
    executor = RemoteExecutor.from_config(section, config)
    events: list[dict] = []
    with pytest.raises(DeploymentError, match=reason) as raised:
        executor.execute(empty_job(config, tmp_path), events.append, lambda: False)
    assert events == []
    assert f"root@127.0.0.1:{section['port']}" in str(raised.value)
    assert list(Path(remote_worker.work_dir).iterdir()) == []


@pytest.mark.integration
def test_a_job_that_cannot_be_staged_fails_clearly(remote_worker: WorkerInfo, tmp_path: Path) -> None:
    config = Config(home=tmp_path / "home")
    config.home.mkdir()
    (config.home / "private").write_text("not a directory")
    executor = RemoteExecutor.from_config(remote_worker.executor_section(), config)
    with pytest.raises(DeploymentError, match="cannot send the job"):
        executor.execute(empty_job(config, tmp_path), lambda event: None, lambda: False)
    assert wait_until(lambda: not list(Path(remote_worker.work_dir).iterdir()))


@pytest.mark.integration
def test_an_empty_job_runs_and_streams_its_events(remote_worker: WorkerInfo, tmp_path: Path) -> None:
    config = Config(home=tmp_path / "home")
    executor = RemoteExecutor.from_config(remote_worker.executor_section(), config)
    events: list[dict] = []
    job = empty_job(config, tmp_path)
    assert executor.execute(job, events.append, lambda: False) == "successful"
    assert [event["event"] for event in events] == [
        "playbook_on_start",
        "playbook_on_play_start",
        "playbook_on_no_hosts_matched",
        "playbook_on_stats",
    ]
    assert [int(event["counter"]) for event in events] == sorted(int(event["counter"]) for event in events)
    assert (job.private_dir / "artifacts" / job.ident / "status").read_text() == "successful"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"host": None}, "executor.host: expected the worker's host name"),
        ({"host": "-oProxyCommand=x"}, "executor.host"),
        ({"port": "22"}, "executor.port: expected a whole number from 1 to 65535"),
        ({"port": 0}, "executor.port"),
        ({"user": "root;id"}, "executor.user"),
        ({"known_hosts": None}, "executor.known_hosts: required"),
        ({"known_hosts": "/nonexistent/known_hosts"}, "executor.known_hosts: /nonexistent/known_hosts is not a file"),
        ({"identity_file": "/nonexistent/key"}, "executor.identity_file"),
        ({"command": ""}, "executor.command"),
        ({"work_dir": "relative"}, "executor.work_dir: expected an absolute directory"),
        ({"ssh_options": "ProxyJump=x"}, "executor.ssh_options: expected a list"),
        ({"ssh_options": ["-F /etc/other"]}, "executor.ssh_options: expected 'Name=value'"),
        ({"ssh_options": ["StrictHostKeyChecking=no"]}, "StrictHostKeyChecking is set by jarvis"),
        ({"keepalive": -1}, "executor.keepalive"),
        ({"hots": "typo"}, "executor.hots: unknown key"),
    ],
)
def test_config_section_is_checked(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    section = {"type": "remote", "host": "worker.example.com", "known_hosts": str(known_hosts), **change}
    section = {key: value for key, value in section.items() if value is not None}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        RemoteExecutor.from_config(section, Config(home=tmp_path))


def test_ssh_always_checks_the_worker_host_key(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    section = {
        "type": "remote",
        "host": "worker.example.com",
        "known_hosts": str(known_hosts),
        "ssh_options": ["ProxyJump=bastion.example.com"],
    }
    argv = RemoteExecutor.from_config(section, Config(home=tmp_path)).ssh_argv()
    options = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    assert options[:4] == [
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        f"UserKnownHostsFile={known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
    ]
    assert options[-1] == "ProxyJump=bastion.example.com"  # after jarvis's own: ssh keeps the first value
    assert argv[argv.index("--") + 1] == "worker.example.com"
    assert argv[-1].startswith("exec ") and "ansible-runner" in argv[-1]
