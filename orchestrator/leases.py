"""Who runs a deployment, and whether it still does: the owner of a lease, read from /proc.

A running deployment is owned by one process (the CLI that runs it, a worker, the bot between
recording and handing over). The owner is recorded as its pid, its start time (so that a reused pid
is not mistaken for it), the machine's name and its boot id. A reader on the same machine and boot
knows at once whether the owner lives; a reader elsewhere only sees the heartbeat the owner writes,
and counts a lease as lost when it is older than the lease time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    pid: int
    started: int  # the process's start time, in clock ticks after boot (/proc/<pid>/stat, field 22)
    machine: str
    boot: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        return cls(int(data["pid"]), int(data["started"]), str(data["machine"]), str(data["boot"]))

    def describe(self) -> str:
        return f"process {self.pid} on {self.machine}"


def process_start(pid: int) -> int | None:
    """PID's start time (clock ticks after boot), or None if there is no such process or it has ended
    (a zombie: dead, its parent has not collected it yet)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@functools.cache
def _machine() -> tuple[str, str]:
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return socket.gethostname(), boot


def owner_of(pid: int) -> Owner | None:
    """The owner record of the live process PID on this machine (None if it has ended already)."""
    started = process_start(pid)
    if started is None:
        return None
    machine, boot = _machine()
    return Owner(pid, started, machine, boot)


def this_process() -> Owner:
    owner = owner_of(os.getpid())
    assert owner is not None  # this process runs
    return owner


def lost(owner: Owner | None, heartbeat_at: float | None, now: float, lease_seconds: float) -> str | None:
    """Why a lease held by OWNER, last renewed at HEARTBEAT_AT, is lost at NOW; None while it holds.

    On this machine the process itself decides: alive (same pid, same start time) holds, however late
    its heartbeat (a busy machine must not make two pipelines of one host). Elsewhere the heartbeat does.
    """
    if owner is None:
        return "it has no owner process recorded (a jarvis older than leases started it)"
    machine, boot = _machine()
    if owner.machine == machine:
        if owner.boot != boot:
            return f"its {owner.describe()} was lost when the machine restarted"
        if process_start(owner.pid) != owner.started:
            return f"its {owner.describe()} ended without finishing it"
        return None
    if heartbeat_at is None or now - heartbeat_at > lease_seconds:
        silent = f"{now - heartbeat_at:.0f} s" if heartbeat_at is not None else "ever"
        return f"its {owner.describe()} has not renewed its lease for {silent} (lease: {lease_seconds:.0f} s)"
    return None


def leftover_processes(deployment_id: str, runs_dir: Path) -> list[int]:
    """This user's processes that are jarvis's run of DEPLOYMENT_ID: what a dead owner leaves behind.

    The ansible-playbook of the run (its own process group: ansible-runner starts it under a pty of its
    own), its forks and ssh connection masters all carry the run's artifact dir in their environment
    (ansible-runner's ``AWX_ISOLATED_DATA_DIR``); the worker names the deployment on its command line.
    Nothing else is taken for it: an operator's ``tail -f runs/<id>.log`` is not jarvis's run.
    """
    artifacts = runs_dir / deployment_id / "artifacts" / deployment_id
    in_environment = f"AWX_ISOLATED_DATA_DIR={artifacts}".encode() + b"\0"
    found = []
    me, uid = os.getpid(), os.getuid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            worker = b"orchestrator.worker" in argv and deployment_id.encode() in argv
            if worker or in_environment in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
    return found


def end_processes(pids: list[int]) -> list[int]:
    """SIGKILL PIDS and every process group one of them leads; return the pids signalled."""
    ended = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            ended.append(pid)
    return ended
