"""Run a deployment's playbook on a remote ansible-runner worker reached over SSH.

The protocol is the one AWX's Receptor speaks: ``ansible-runner transmit`` (here) streams the job
into ``ssh user@worker ansible-runner worker``, whose events come back into ``ansible-runner process``
(here), which writes them to the deployment's private data dir like a local run. The playbook, and so
every task (provider APIs, DNS, LDAP, SSH to the new hosts), runs on the worker.

What travels with a job: the rendered playbook and inventory, the ``jarvis.deploy`` collection (as a
playbook-adjacent collection, so the worker needs only ansible-core, ansible-runner and the modules'
libraries), and the credentials as the job's ``env/extravars``. The credentials exist here only in
a staging dir under ``<home>/private`` until the job is transmitted (and in the 0600 zip file
ansible-runner streams it from, in the system temp dir, removed right after), and on the worker only
in the job's directory, which is deleted when the job ends: they never reach ``runs/<id>``, where
``process`` writes the artifacts.

On the worker, ``ansible-runner worker`` runs under a small Python wrapper
(``orchestrator/remote_wrapper.py``, stdlib only, shipped as its text with each job) that makes the
job's directory, puts ``command``'s directory first on ``PATH`` (a venv's ``ansible-playbook``),
and sends the worker SIGTERM when its SSH input closes. That is how a cancel reaches the worker:
ansible-runner's ``process`` end has no cancel, and a worker whose SSH connection dies carries on
to the end of the playbook. Closing the input lets the worker cancel its ``ansible-playbook`` and
report ``canceled`` over the stream; if the controller goes away, the worker stops the same way.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import inspect
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import ansible_runner
from pydantic import AfterValidator, BeforeValidator, Field

from orchestrator import remote_wrapper
from orchestrator._collection import COLLECTION_PATH
from orchestrator.config import Config
from orchestrator.config_models import NullIsDefault, Section, otherwise, parse_section, required
from orchestrator.errors import DeploymentError
from orchestrator.job import CancelCheck, EventHandler, Job
from orchestrator.staging import staged_dir
from orchestrator.unsafe import vars_file_text

__all__ = ["RemoteExecutor"]

# ssh options jarvis sets itself: the worker's host key is always checked against known_hosts.
FIXED_SSH_OPTIONS = {"batchmode", "stricthostkeychecking", "userknownhostsfile", "globalknownhostsfile"}
CANCEL_GRACE = 30.0  # seconds the worker gets to report a cancel before its connection is cut
STDERR_LINES = 10
COLLECTION_EXCLUDES = {"tests", "__pycache__", ".git"}

# The worker's side (see orchestrator/remote_wrapper.py), run there as ``python -c WRAPPER WORK_DIR COMMAND …``.
WRAPPER = inspect.getsource(remote_wrapper)

_DONE = object()
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_HOST = re.compile(r"(?!-)[A-Za-z0-9_.:-]+\Z")  # never read as an ssh option
_SSH_OPTION = re.compile(r"([A-Za-z]+)=(\S.*)\Z")


def _matching(pattern: re.Pattern[str]) -> AfterValidator:
    def check(text: str) -> str:
        if not pattern.match(text):
            raise ValueError(f"does not match {pattern.pattern}")
        return text

    return AfterValidator(check)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("blank")
    return text


def _a_file(path: str) -> str:
    if not Path(path).is_file():
        raise ValueError(f"{path} is not a file")
    return path


def _given_known_hosts(value: Any) -> Any:
    if not value:
        raise ValueError("required: a known_hosts file holding the worker's host key")
    return value


def _absolute(directory: str) -> str:
    if not directory.startswith("/"):
        raise ValueError("relative")
    return directory


def _ssh_options(options: list[Any]) -> list[Any]:
    """Each an ``ssh -o`` option, none of those jarvis sets itself."""
    for option in options:
        match = _SSH_OPTION.match(option) if isinstance(option, str) else None
        if match is None:
            raise ValueError(f"expected 'Name=value' (an ssh -o option), got {option!r}")
        if match.group(1).lower() in FIXED_SSH_OPTIONS:
            raise ValueError(f"{match.group(1)} is set by jarvis (host keys are always checked)")
    return options


_PROGRAM = "expected a program on the worker, got {value!r}"
_ABSOLUTE = "expected an absolute directory on the worker, got {value!r}"


def _whole_number(low: int, high: int) -> str:
    return f"expected a whole number from {low} to {high}, got {{value!r}}"


class RemoteSection(Section):
    """The config's ``executor: {type: remote, …}`` section."""

    unknown_key = "{section}.{key}: unknown key (known: {known})"

    type: Literal["remote"] = "remote"
    host: Annotated[str, _matching(_HOST), otherwise("expected the worker's host name or address, got {value!r}")] = (
        required()
    )
    port: Annotated[int, Field(ge=1, le=65535), otherwise(_whole_number(1, 65535))] = 22
    user: Annotated[str, _matching(_USER), otherwise("expected a user name, got {value!r}")] = "root"
    identity_file: Annotated[str, AfterValidator(_a_file)] | None = None
    known_hosts: Annotated[str, BeforeValidator(_given_known_hosts), AfterValidator(_a_file)] = required()
    command: Annotated[str, AfterValidator(_not_blank), otherwise(_PROGRAM)] = "ansible-runner"
    python: Annotated[str, AfterValidator(_not_blank), otherwise(_PROGRAM)] = Field(
        default_factory=lambda: sys.executable
    )
    work_dir: Annotated[str, AfterValidator(_absolute), otherwise(_ABSOLUTE)] | None = None
    ssh_options: NullIsDefault[
        Annotated[
            list[Any],
            otherwise("expected a list of ssh options like 'ProxyJump=bastion'"),
            AfterValidator(_ssh_options),
        ]
    ] = []
    keepalive: Annotated[int, Field(ge=0, le=3600), otherwise(_whole_number(0, 3600))] = 30
    connect_timeout: Annotated[int, Field(ge=1, le=600), otherwise(_whole_number(1, 600))] = 10


@dataclass(frozen=True)
class RemoteExecutor:
    """Runs jobs on one ansible-runner worker over SSH; see the module doc."""

    host: str
    known_hosts: Path
    staging_dir: Path  # where the transmitted data dir (with the credentials) is put together, briefly
    port: int
    user: str
    identity_file: Path | None
    command: str
    python: str
    work_dir: str | None
    ssh_options: tuple[str, ...]
    keepalive: int
    connect_timeout: int
    cancel_grace: float = CANCEL_GRACE

    @classmethod
    def from_config(cls, section: dict[str, Any], config: Config) -> RemoteExecutor:
        """The executor of the config's ``executor: {type: remote, ...}`` section, checked (RemoteSection)."""
        read = parse_section(RemoteSection, section, config.path, "executor")
        return cls(
            host=read.host,
            known_hosts=Path(read.known_hosts),
            staging_dir=config.home / "private",
            port=read.port,
            user=read.user,
            identity_file=Path(read.identity_file) if read.identity_file else None,
            command=read.command,
            python=read.python,
            work_dir=read.work_dir,
            ssh_options=tuple(read.ssh_options),
            keepalive=read.keepalive,
            connect_timeout=read.connect_timeout,
        )

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def ssh_argv(self) -> list[str]:
        """The ssh command that starts the worker; no config file is read, the host key must be known."""
        options = [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            f"UserKnownHostsFile={self.known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            f"ConnectTimeout={self.connect_timeout}",
            *([f"ServerAliveInterval={self.keepalive}", "ServerAliveCountMax=3"] if self.keepalive else []),
            *([f"IdentityFile={self.identity_file}", "IdentitiesOnly=yes"] if self.identity_file else []),
            *self.ssh_options,
        ]
        argv = ["ssh", "-F", "none", "-T", "-e", "none", "-p", str(self.port)]
        for option in options:
            argv += ["-o", option]
        return [*argv, "-l", self.user, "--", self.host, self.remote_command()]

    def remote_command(self) -> str:
        """The worker side: the wrapper running ``COMMAND worker``, as one line for the remote shell."""
        options = ["--keepalive-seconds", str(self.keepalive)] if self.keepalive else []
        words = [self.python, "-c", WRAPPER, self.work_dir or "", self.command, *options]
        return "exec " + " ".join(shlex.quote(word) for word in words)

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        try:
            ssh = subprocess.Popen(  # noqa: S603 - argv built from the checked config
                self.ssh_argv(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C of the CLI cancels through the runner, not by killing ssh
            )
        except OSError as exc:
            raise DeploymentError(
                f"cannot start ssh for the remote worker {self.destination}: {exc.strerror}"
            ) from None
        run = _RemoteRun(self, job, ssh)
        try:
            return run.follow(on_event, canceled)
        finally:
            run.close()

    @contextlib.contextmanager
    def staged(self, job: Job) -> Iterator[Path]:
        """The data dir to transmit: the collection beside the playbook, the credentials in env/extravars."""
        with staged_dir(self.staging_dir, job.ident) as staging:
            shutil.copytree(
                COLLECTION_PATH,
                staging / "project" / "collections" / "ansible_collections" / "jarvis" / "deploy",
                ignore=_collection_ignore,
            )
            env = staging / "env"
            env.mkdir(mode=0o700)
            extravars = env / "extravars"
            extravars.touch(mode=0o600)
            extravars.write_text(vars_file_text({"jarvis_credentials": job.credentials}))
            yield staging

    def inventory(self, job: Job) -> dict[str, Any]:
        """The job's inventory with the worker's Python for localhost (the controller's may not exist there)."""
        inventory = copy.deepcopy(job.inventory())
        inventory["all"]["hosts"]["localhost"]["ansible_python_interpreter"] = self.python
        return inventory

    def envvars(self, job: Job) -> dict[str, str]:
        """The job's environment without the controller's collection paths: the collection travels along."""
        return {name: value for name, value in job.envvars.items() if name != "ANSIBLE_COLLECTIONS_PATH"}


class _RemoteRun:
    """One job's three ends (transmit → ssh → process), each on its own thread, and their outcome."""

    def __init__(self, executor: RemoteExecutor, job: Job, ssh: subprocess.Popen[bytes]) -> None:
        self.executor = executor
        self.job = job
        self.ssh = ssh
        self.events: queue.Queue[Any] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.status: str | None = None
        self.explanation = ""
        self.transmitted = threading.Event()
        self.transmit_error: str | None = None
        self.threads = [
            threading.Thread(target=self._transmit, name=f"transmit-{job.ident}", daemon=True),
            threading.Thread(target=self._process, name=f"process-{job.ident}", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"ssh-stderr-{job.ident}", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def follow(self, on_event: EventHandler, canceled: CancelCheck) -> str:
        """Hand the events over in order until the worker's stream ends; cancel when asked."""
        cancel_at: float | None = None
        cut_off = False
        while True:
            try:
                event = self.events.get(timeout=0.25)
            except queue.Empty:
                event = None
            if event is _DONE:
                break
            if event is not None:
                on_event(event)
            if cancel_at is None:
                if canceled():
                    cancel_at = time.monotonic()
                    self._cancel()
            elif not cut_off and time.monotonic() - cancel_at > self.executor.cancel_grace:
                cut_off = True
                self.ssh.terminate()  # the worker did not answer: cut it off (its wrapper then stops it)
        self._end_ssh()
        if self.status in ("successful", "failed", "timeout", "canceled"):
            return self.status
        if cancel_at is not None:
            return "canceled"
        raise DeploymentError(self._failure())

    def close(self) -> None:
        """Whatever happened, leave no ssh running and no thread behind."""
        if self.ssh.poll() is None:
            self.ssh.kill()
        for thread in self.threads:
            thread.join(timeout=10)
        self._end_ssh()

    def _cancel(self) -> None:
        if self.transmitted.is_set():
            _close(self.ssh.stdin)  # the worker's wrapper sees its input end and cancels the run
        else:
            self.ssh.terminate()

    def _end_ssh(self) -> None:
        if not self.transmitted.is_set():
            self.ssh.terminate()  # the worker stopped reading mid-transmit; unblock the transmitter
            self.transmitted.wait(timeout=10)
        _close(self.ssh.stdin)
        try:
            self.ssh.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.ssh.kill()
            self.ssh.wait()
        for stream in (self.ssh.stdout, self.ssh.stderr):
            _close(stream)

    def _transmit(self) -> None:
        executor, job = self.executor, self.job
        try:
            with executor.staged(job) as staging:
                ansible_runner.run(
                    streamer="transmit",
                    _output=self.ssh.stdin,
                    private_data_dir=str(staging),
                    ident=job.ident,
                    playbook=job.playbook(),
                    inventory=executor.inventory(job),
                    cmdline=job.cmdline(),
                    envvars=executor.envvars(job),
                    forks=job.forks,
                    suppress_env_files=True,
                )
        except BrokenPipeError:
            pass  # ssh went away: its stderr says why
        except Exception as exc:  # noqa: BLE001 - the run must end, with the reason
            if self.ssh.poll() is None:  # a failure here, not a worker that went away
                self.transmit_error = f"cannot send the job: {exc}"
                self.ssh.terminate()
        finally:
            self.transmitted.set()

    def _process(self) -> None:
        def enqueue(event: dict[str, Any]) -> bool:
            self.events.put(event)
            return True  # and let ansible-runner write it to the artifacts

        def record(data: dict[str, Any], runner_config: Any = None) -> None:
            self.status = str(data.get("status"))
            self.explanation = str(data.get("job_explanation") or "")

        try:
            ansible_runner.run(
                streamer="process",
                _input=self.ssh.stdout,
                private_data_dir=str(self.job.private_dir),
                ident=self.job.ident,
                quiet=True,
                event_handler=enqueue,
                status_handler=record,
            )
        except Exception as exc:  # noqa: BLE001 - a broken stream must still end the run
            self.status, self.explanation = "error", f"cannot read the worker's stream: {exc}"
        finally:
            self.events.put(_DONE)

    def _read_stderr(self) -> None:
        assert self.ssh.stderr is not None
        for line in self.ssh.stderr:
            if text := line.decode(errors="replace").strip():
                self.stderr.append(text)

    def _failure(self) -> str:
        """Why the worker gave no result, from ssh's exit status and the tail of its stderr."""
        code = self.ssh.returncode
        said = self.transmit_error or "; ".join(self.stderr) or self.explanation or "no message"
        if code == 255:
            return f"cannot reach the remote worker {self.executor.destination} over SSH: {said}"
        if code == 127:
            return (
                f"the remote worker {self.executor.destination} cannot run {self.executor.python!r} or"
                f" {self.executor.command!r} (executor.python, executor.command): {said}"
            )
        return f"the remote worker {self.executor.destination} ended without a result (exit {code}): {said}"


def _collection_ignore(directory: str, names: list[str]) -> set[str]:
    """What the worker does not need of the collection: its tests and byte code."""
    return {name for name in names if name in COLLECTION_EXCLUDES or name.endswith(".pyc")}


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            stream.close()
