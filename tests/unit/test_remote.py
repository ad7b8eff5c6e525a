"""The remote executor's pieces that need no remote machine: its config section, the ssh command line,
what a job ships, and the worker-side wrapper, run here against a stand-in for ``ansible-runner``.

The whole path through a real sshd and ansible-runner worker is tests/integration/test_remote_worker.py.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator import remote_wrapper
from orchestrator.config import Config
from orchestrator.errors import ConfigError
from orchestrator.executors import make_executor
from orchestrator.job import Job
from orchestrator.remote import WRAPPER, RemoteExecutor
from orchestrator.stages import playbook_stages


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("worker.example.com ssh-ed25519 AAAA\n")
    return path


def executor(tmp_path: Path, known_hosts: Path, **section: Any) -> RemoteExecutor:
    given = {"type": "remote", "host": "worker.example.com", "known_hosts": str(known_hosts), **section}
    return RemoteExecutor.from_config(given, Config(home=tmp_path / "home"))


# --- the config section ---------------------------------------------------------------------------------


def test_defaults(tmp_path: Path, known_hosts: Path) -> None:
    made = executor(tmp_path, known_hosts)
    assert (made.host, made.known_hosts, made.staging_dir) == (
        "worker.example.com",
        known_hosts,
        tmp_path / "home" / "private",
    )
    assert (made.port, made.user, made.identity_file, made.command, made.python) == (
        22,
        "root",
        None,
        "ansible-runner",
        sys.executable,
    )
    assert (made.work_dir, made.ssh_options, made.keepalive, made.connect_timeout) == (None, (), 30, 10)
    assert executor(tmp_path, known_hosts, ssh_options=None).ssh_options == ()


def test_every_key_is_read(tmp_path: Path, known_hosts: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("key\n")
    made = executor(
        tmp_path,
        known_hosts,
        host="10.0.0.5",
        port=2222,
        user="jarvis",
        identity_file=str(key),
        command="/opt/runner/bin/ansible-runner",
        python="/opt/runner/bin/python",
        work_dir="/var/tmp/jarvis",
        ssh_options=["ProxyJump=bastion.example.com"],
        keepalive=0,
        connect_timeout=5,
    )
    assert made.destination == "jarvis@10.0.0.5:2222"
    assert (made.identity_file, made.command, made.python) == (
        key,
        "/opt/runner/bin/ansible-runner",
        "/opt/runner/bin/python",
    )
    assert (made.work_dir, made.ssh_options, made.keepalive, made.connect_timeout) == (
        "/var/tmp/jarvis",
        ("ProxyJump=bastion.example.com",),
        0,
        5,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"host": None}, "executor.host: expected the worker's host name or address, got None"),
        ({"host": "-oProxyCommand=x"}, "executor.host: expected the worker's host name or address, got '-oProxy"),
        ({"host": "worker example"}, "executor.host: expected the worker's host name"),
        ({"port": "22"}, "executor.port: expected a whole number from 1 to 65535, got '22'"),
        ({"port": True}, "executor.port: expected a whole number from 1 to 65535, got True"),
        ({"port": 65536}, "executor.port: expected a whole number from 1 to 65535, got 65536"),
        ({"user": "root;id"}, "executor.user: expected a user name, got 'root;id'"),
        ({"known_hosts": None}, "executor.known_hosts: required: a known_hosts file holding the worker's host key"),
        ({"known_hosts": "/nonexistent/known_hosts"}, "executor.known_hosts: /nonexistent/known_hosts is not a file"),
        ({"identity_file": "/nonexistent/key"}, "executor.identity_file: /nonexistent/key is not a file"),
        ({"command": ""}, "executor.command: expected a program on the worker, got ''"),
        ({"python": " "}, "executor.python: expected a program on the worker, got ' '"),
        ({"work_dir": "relative"}, "executor.work_dir: expected an absolute directory on the worker, got 'relative'"),
        (
            {"ssh_options": "ProxyJump=x"},
            "executor.ssh_options: expected a list of ssh options like 'ProxyJump=bastion'",
        ),
        ({"ssh_options": ["-F /etc/other"]}, "executor.ssh_options: expected 'Name=value' (an ssh -o option), got '-F"),
        ({"ssh_options": [5]}, "executor.ssh_options: expected 'Name=value' (an ssh -o option), got 5"),
        (
            {"ssh_options": ["StrictHostKeyChecking=no"]},
            "executor.ssh_options: StrictHostKeyChecking is set by jarvis (host keys are always checked)",
        ),
        (
            {"ssh_options": ["userknownhostsfile=/dev/null"]},
            "executor.ssh_options: userknownhostsfile is set by jarvis",
        ),
        ({"keepalive": -1}, "executor.keepalive: expected a whole number from 0 to 3600, got -1"),
        ({"connect_timeout": 0}, "executor.connect_timeout: expected a whole number from 1 to 600, got 0"),
        ({"hots": "typo"}, "executor.hots: unknown key (known: command, connect_timeout, host, identity_file, "),
    ],
)
def test_the_section_is_checked_key_by_key(
    tmp_path: Path, known_hosts: Path, change: dict[str, Any], message: str
) -> None:
    section = {"type": "remote", "host": "worker.example.com", "known_hosts": str(known_hosts), **change}
    section = {key: value for key, value in section.items() if value is not None}
    with pytest.raises(ConfigError) as refused:
        RemoteExecutor.from_config(section, Config(home=tmp_path))
    assert str(refused.value).startswith(message)


def test_a_refusal_names_the_config_file(tmp_path: Path, known_hosts: Path) -> None:
    config = Config(home=tmp_path, path=Path("/etc/jarvis/config.yml"))
    with pytest.raises(ConfigError, match=r"^/etc/jarvis/config\.yml: executor\.port: expected a whole number"):
        RemoteExecutor.from_config({"type": "remote", "host": "w", "known_hosts": str(known_hosts), "port": 0}, config)


def test_the_config_picks_the_remote_executor(tmp_path: Path, known_hosts: Path) -> None:
    section = {"type": "remote", "host": "worker.example.com", "known_hosts": str(known_hosts)}
    made = make_executor(Config(home=tmp_path, executor=section))
    assert isinstance(made, RemoteExecutor) and made.host == "worker.example.com"
    assert not getattr(made, "runs_here", False)  # its playbook does not see this machine's files


# --- the command lines ------------------------------------------------------------------------------------


def options_of(argv: list[str]) -> list[str]:
    return [argv[index + 1] for index, word in enumerate(argv) if word == "-o"]


def test_ssh_reads_no_config_and_always_checks_the_worker_host_key(tmp_path: Path, known_hosts: Path) -> None:
    argv = executor(tmp_path, known_hosts, ssh_options=["ProxyJump=bastion.example.com"]).ssh_argv()
    assert argv[:8] == ["ssh", "-F", "none", "-T", "-e", "none", "-p", "22"]
    assert options_of(argv) == [
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        f"UserKnownHostsFile={known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
        "ConnectTimeout=10",
        "ServerAliveInterval=30",
        "ServerAliveCountMax=3",
        "ProxyJump=bastion.example.com",  # after jarvis's own: ssh keeps the first value
    ]
    assert argv[-5:-1] == ["-l", "root", "--", "worker.example.com"]


def test_ssh_offers_only_the_configured_key_and_keepalive_zero_sends_none(tmp_path: Path, known_hosts: Path) -> None:
    key = tmp_path / "id"
    key.write_text("")
    argv = executor(tmp_path, known_hosts, identity_file=str(key), keepalive=0, port=2222, user="ops").ssh_argv()
    options = options_of(argv)
    assert f"IdentityFile={key}" in options and "IdentitiesOnly=yes" in options
    assert not any(option.startswith("ServerAlive") for option in options)
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "ops"


def test_the_worker_runs_the_wrapper_file_as_one_line_for_its_shell(tmp_path: Path, known_hosts: Path) -> None:
    made = executor(tmp_path, known_hosts, python="/usr/bin/python3", work_dir="/var/tmp/jarvis")
    line = made.ssh_argv()[-1]
    assert line == made.remote_command()
    words = shlex.split(line)
    assert words == [
        "exec",
        "/usr/bin/python3",
        "-c",
        Path(remote_wrapper.__file__).read_text(),
        "/var/tmp/jarvis",
        "ansible-runner",
        "--keepalive-seconds",
        "30",
    ]
    assert shlex.split(executor(tmp_path, known_hosts, keepalive=0).remote_command())[4:] == ["", "ansible-runner"]


def test_the_wrapper_shipped_is_the_file_and_needs_only_the_standard_library() -> None:
    source = Path(remote_wrapper.__file__).read_text()
    assert source == WRAPPER
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").partition(".")[0])
    assert imported and imported <= sys.stdlib_module_names | {"__future__"}, imported - sys.stdlib_module_names


# --- what a job ships -------------------------------------------------------------------------------------


def job(tmp_path: Path) -> Job:
    return Job(
        private_dir=tmp_path / "run",
        ident="job-1",
        kind="deploy",
        hosts=[{"hostname": "loki", "fqdn": "loki.example.com", "provider": "ec2"}],
        stages=list(playbook_stages("deploy")),
        credentials={"aws": {"secret_key": "s3cr3t"}},
        envvars={"ANSIBLE_COLLECTIONS_PATH": "/here/collections", "ANSIBLE_FORCE_COLOR": "0"},
    )


def test_the_worker_gets_its_own_python_and_no_controller_collection_path(tmp_path: Path, known_hosts: Path) -> None:
    made, the_job = executor(tmp_path, known_hosts, python="/opt/runner/bin/python"), job(tmp_path)
    inventory = made.inventory(the_job)
    assert inventory["all"]["hosts"]["localhost"]["ansible_python_interpreter"] == "/opt/runner/bin/python"
    assert the_job.inventory()["all"]["hosts"]["localhost"]["ansible_python_interpreter"] == sys.executable
    assert made.envvars(the_job) == {"ANSIBLE_FORCE_COLOR": "0"}


def test_the_staged_data_dir_holds_the_collection_and_the_credentials_privately(
    tmp_path: Path, known_hosts: Path
) -> None:
    made, the_job = executor(tmp_path, known_hosts), job(tmp_path)
    with made.staged(the_job) as staging:
        assert staging.parent == made.staging_dir
        collection = staging / "project" / "collections" / "ansible_collections" / "jarvis" / "deploy"
        assert (collection / "galaxy.yml").is_file() and (collection / "plugins" / "modules").is_dir()
        assert not (collection / "tests").exists() and not list(collection.rglob("*.pyc"))
        extravars = staging / "env" / "extravars"
        assert stat.S_IMODE(extravars.stat().st_mode) == 0o600
        assert stat.S_IMODE((staging / "env").stat().st_mode) == 0o700
        assert json.loads(extravars.read_text())["jarvis_credentials"]["aws"]["secret_key"] is not None
        assert "s3cr3t" in extravars.read_text()
    assert not staging.exists()


# --- the wrapper, run here against a stand-in for ansible-runner ----------------------------------------

FAKE_RUNNER = """\
import json, os, subprocess, sys, time
record = {"argv": sys.argv[1:], "path": os.environ["PATH"], "control": os.environ["ANSIBLE_SSH_CONTROL_PATH_DIR"]}
job_dir = sys.argv[sys.argv.index("--private-data-dir") + 1]
record["job_dir_existed"] = os.path.isdir(job_dir)
if os.environ["FAKE_MODE"] == "finish":
    record["stdin"] = sys.stdin.readline()
else:  # like ansible-playbook's forks: a process in a session of its own, marked with the job's artifact dir
    fork = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, "AWX_ISOLATED_DATA_DIR": job_dir + "/artifacts/job-1"},
        start_new_session=True,
    )
    record["fork"] = fork.pid
with open(os.environ["FAKE_RECORD"] + ".part", "w") as out:
    json.dump(record, out)
os.rename(os.environ["FAKE_RECORD"] + ".part", os.environ["FAKE_RECORD"])
if os.environ["FAKE_MODE"] == "finish":
    sys.exit(3)
time.sleep(120)
"""


@pytest.fixture
def fake_runner(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "ansible-runner"
    path.parent.mkdir()
    path.write_text(f"#!{sys.executable}\n{FAKE_RUNNER}")
    path.chmod(0o755)
    return path


def start_wrapper(tmp_path: Path, known_hosts: Path, command: Path | str, mode: str) -> subprocess.Popen[bytes]:
    """The worker's side of a job, as ssh would start it there: the remote command line, through a shell."""
    (tmp_path / "work").mkdir(exist_ok=True)
    made = executor(tmp_path, known_hosts, python=sys.executable, work_dir=str(tmp_path / "work"), command=str(command))
    env = {**os.environ, "FAKE_MODE": mode, "FAKE_RECORD": str(tmp_path / "record.json")}
    return subprocess.Popen(["sh", "-c", made.remote_command()], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def recorded(tmp_path: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while not (tmp_path / "record.json").exists():
        assert process.poll() is None, "the wrapper ended before the worker ran"
        assert time.monotonic() < deadline, "the worker never ran"
        time.sleep(0.05)
    result: dict[str, Any] = json.loads((tmp_path / "record.json").read_text())
    return result


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_wrapper_runs_the_worker_in_a_job_dir_of_its_own_and_passes_its_status_on(
    tmp_path: Path, known_hosts: Path, fake_runner: Path
) -> None:
    with start_wrapper(tmp_path, known_hosts, fake_runner, "finish") as wrapper:
        assert wrapper.stdin is not None
        wrapper.stdin.write(b"the job's stream\n")
        wrapper.stdin.flush()  # and kept open, as ssh keeps it while the worker runs
        assert wrapper.wait(timeout=30) == 3
        seen = recorded(tmp_path, wrapper)
    job_dir = seen["argv"][2]
    assert seen["argv"] == ["worker", "--private-data-dir", job_dir, "--delete", "--keepalive-seconds", "30"]
    assert Path(job_dir).parent == tmp_path / "work" and Path(job_dir).name.startswith("jarvis-")
    assert seen["job_dir_existed"] and seen["stdin"] == "the job's stream\n"
    assert seen["control"] == os.path.join(job_dir, "cp")  # ssh masters of this job only
    assert seen["path"].split(os.pathsep)[0] == str(fake_runner.parent)  # a venv's ansible-playbook is found
    assert list((tmp_path / "work").iterdir()) == [], "the job dir is removed"


def test_when_its_input_ends_the_wrapper_cancels_the_worker_and_stops_what_it_left(
    tmp_path: Path, known_hosts: Path, fake_runner: Path
) -> None:
    with start_wrapper(tmp_path, known_hosts, fake_runner, "hang") as wrapper:
        fork = recorded(tmp_path, wrapper)["fork"]
        try:
            assert alive(fork)
            assert wrapper.stdin is not None
            wrapper.stdin.close()  # a cancel, or the controller went away
            assert wrapper.wait(timeout=30) == 128 + 15  # the worker ended by SIGTERM
            assert not alive(fork), "a process of the job, in a session of its own, outlived it"
            assert list((tmp_path / "work").iterdir()) == []
        finally:
            if alive(fork):
                os.kill(fork, 9)


def test_the_wrapper_says_why_it_cannot_start(tmp_path: Path, known_hosts: Path, fake_runner: Path) -> None:
    with start_wrapper(tmp_path, known_hosts, "/nonexistent/ansible-runner", "finish") as wrapper:
        _, stderr = wrapper.communicate(timeout=30)
    assert wrapper.returncode == 127
    assert stderr.decode() == "jarvis worker: cannot run /nonexistent/ansible-runner: No such file or directory\n"
    assert list((tmp_path / "work").iterdir()) == []
    (tmp_path / "work").rmdir()
    made = executor(tmp_path, known_hosts, python=sys.executable, work_dir=str(tmp_path / "work"))
    ran = subprocess.run(["sh", "-c", made.remote_command()], input=b"", capture_output=True, timeout=30)
    assert ran.returncode == 1
    assert (
        ran.stderr.decode()
        == f"jarvis worker: cannot make a job directory in {tmp_path / 'work'}: No such file or directory\n"
    )
