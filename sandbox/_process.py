"""Start and stop the sandbox's daemons so they outlive the command that started them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

# The daemons this process started: kept so Python does not warn about (or reap) them early.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(RuntimeError):
    """A sandbox server could not be installed, started or reached."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:PORT again (connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1", log: Path | None = None) -> None:
    """Wait until something accepts TCP connections on host:port, or raise with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    tail = log_tail(log) if log else ""
    raise SandboxError(f"nothing answered on {host}:{port} after {timeout:.0f}s\n{tail}")


def daemon_log(name: str, run_dir: Path) -> Path:
    """The file start_daemon sends the output of the daemon NAME of RUN_DIR to."""
    return run_dir / f"{name}.log"


def log_tail(log: Path) -> str:
    """The end of LOG, for an error message that says why a daemon failed ("" while there is no log)."""
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


@contextlib.contextmanager
def stopped_on_failure(name: str, run_dir: Path) -> Iterator[None]:
    """Stop the daemon NAME of RUN_DIR if what follows its start (waiting for it, seeding it) fails."""
    try:
        yield
    except BaseException:
        stop_daemon(name, run_dir)
        raise


def start_daemon(name: str, argv: list[str], run_dir: Path, env: dict[str, str] | None = None) -> int:
    """Start argv in its own session, output to RUN_DIR/NAME.log, pid to RUN_DIR/NAME.pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with daemon_log(name, run_dir).open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by the sandbox, never from input
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    _CHILDREN[proc.pid] = proc
    (run_dir / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def start_python_daemon(
    name: str, module: str, args: list[str], run_dir: Path, env: dict[str, str] | None = None
) -> int:
    """Run ``python -m MODULE ARGS`` of this repo as the daemon NAME (see start_daemon)."""
    repo = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
    with warnings.catch_warnings():
        # start_daemon lets go of a Popen whose daemon runs on by design; that is no leak to warn about.
        warnings.simplefilter("ignore", ResourceWarning)
        return start_daemon(
            name, [sys.executable, "-m", module, *args], run_dir, {**(env or {}), "PYTHONPATH": pythonpath}
        )


def write_private(path: Path, text: str) -> None:
    """Replace PATH atomically with TEXT, readable by its owner only (it may hold a secret)."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def daemon_running(name: str, run_dir: Path) -> bool:
    """Whether the daemon recorded under RUN_DIR/NAME.pid is alive."""
    pid = _read_pid(name, run_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of this process still answers kill(0); reap it.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    return True


def stop_daemon(name: str, run_dir: Path, timeout: float = 5.0) -> None:
    """Stop the daemon's whole process group: TERM, then KILL after the timeout."""
    pid = _read_pid(name, run_dir)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while daemon_running(name, run_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()
    (run_dir / f"{name}.pid").unlink(missing_ok=True)


def _read_pid(name: str, run_dir: Path) -> int | None:
    try:
        return int((run_dir / f"{name}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
