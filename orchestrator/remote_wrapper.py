"""Runs on the remote worker, not here: ``ansible-runner worker`` for one job, stopped when SSH input ends.

``orchestrator.remote`` ships this file's text as ``python -c TEXT WORK_DIR COMMAND [worker options]``,
so it may import the standard library only (the worker has ansible-runner, run as COMMAND, and no
jarvis). Its input is the job's stream, then stays open until the controller closes it: a cancel
(or the controller went away) while the worker runs. ansible-runner answers SIGTERM by killing
ansible-playbook's process group, but ansible-playbook's forks run in sessions of their own
(ansible-core 2.19 WorkerProcess), so the wrapper then stops every process whose environment names
the job's artifact dir.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator


def main(argv: list[str]) -> int:
    """Run COMMAND's worker in a job directory of its own under WORK_DIR ("" for the system's temp dir)."""
    work_dir, command, options = argv[0] or None, argv[1], argv[2:]
    if os.path.isabs(command):  # a venv's ansible-runner finds the venv's ansible-playbook
        os.environ["PATH"] = os.path.dirname(command) + os.pathsep + os.environ.get("PATH", "")
    try:
        job_dir = tempfile.mkdtemp(prefix="jarvis-", dir=work_dir)
    except OSError as exc:
        sys.stderr.write(f"jarvis worker: cannot make a job directory in {work_dir}: {exc.strerror}\n")
        return 1
    # SSH masters of this job only: a later job (a resume) connects anew, checking the recorded host keys.
    os.environ["ANSIBLE_SSH_CONTROL_PATH_DIR"] = os.path.join(job_dir, "cp")
    canceled = threading.Event()
    try:
        try:
            worker = subprocess.Popen(
                [command, "worker", "--private-data-dir", job_dir, "--delete", *options], stdin=subprocess.PIPE
            )
        except OSError as exc:
            sys.stderr.write(f"jarvis worker: cannot run {command}: {exc.strerror}\n")
            return 127
        threading.Thread(target=relay, args=(worker, canceled), daemon=True).start()
        code = worker.wait()
        if canceled.is_set():
            stop_leftovers(job_dir)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    return code if code >= 0 else 128 - code


def relay(worker: subprocess.Popen[bytes], canceled: threading.Event) -> None:
    """Copy this process's input to the worker's; when it ends with the worker still running, cancel."""
    assert worker.stdin is not None
    try:
        while True:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            worker.stdin.write(chunk)
            worker.stdin.flush()
    except OSError:
        pass
    if worker.poll() is None:
        canceled.set()
        worker.send_signal(signal.SIGTERM)


def job_processes(job_dir: str) -> Iterator[int]:
    """The processes whose environment names JOB_DIR's artifacts: the job's ansible-playbook and forks."""
    mark = ("AWX_ISOLATED_DATA_DIR=" + job_dir + "/").encode()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if any(var.startswith(mark) for var in environ.read().split(b"\0")):
                    yield int(pid)
        except (OSError, ValueError):
            pass


def stop_leftovers(job_dir: str) -> None:
    """SIGTERM, then SIGKILL, every process of the job, waiting up to 5 s each time for them to go."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in job_processes(job_dir):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while any(True for _ in job_processes(job_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
