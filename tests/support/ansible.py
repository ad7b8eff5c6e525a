"""Run one of the collection's modules the way a playbook does, and hand back its result.

Going through ``ansible-playbook`` (not the module's ``main()`` in-process) exercises argument
parsing, ``no_log``, check mode and diff exactly as users get them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every ansible process of the tests gets."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).parent / "callback_plugins"),
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
    )
    env.update(extra or {})
    return env


def run_module(
    module: str,
    args: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = False,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> dict[str, Any]:
    """Run ``jarvis.deploy.<module>`` (or any FQCN) on localhost; return the task's result dict.

    The result also carries ``_stdout``: everything ansible printed, for secret-leak checks. PYTHON, when
    given, is the task's ``ansible_python_interpreter`` (another path than ansible's own Python makes a
    controller-side module run as a process of its own rather than in the worker).
    """
    play: dict[str, Any] = {"hosts": "localhost", "gather_facts": False, "connection": "local"}
    if python:
        play["vars"] = {"ansible_python_interpreter": python}
    return _run_task(play, "localhost", module, args, check=check, diff=diff, env=env)


def run_module_on(
    host_ip: str,
    private_key: Path,
    module: str,
    args: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """Run ``jarvis.deploy.<module>`` (or any FQCN) ON the host HOST_IP, over SSH as root with PRIVATE_KEY.

    The module executes with the host's own /usr/bin/python3, as it does in a deployment; the result
    carries ``_stdout`` like :func:`run_module`'s.
    """
    play = {
        "hosts": host_ip,
        "gather_facts": False,
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(private_key),
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_pipelining": True,
        },
    }
    return _run_task(play, host_ip, module, args, check=check, diff=diff)


def _run_task(
    play: dict[str, Any],
    host: str,
    module: str,
    args: dict[str, Any],
    *,
    check: bool,
    diff: bool,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run PLAY with the one task ``MODULE: ARGS`` against the inventory ``HOST,``; HOST's result."""
    fqcn = module if "." in module else f"jarvis.deploy.{module}"
    plays = [{**play, "tasks": [{"name": "under test", fqcn: args, "register": "result", "ignore_errors": True}]}]
    with tempfile.TemporaryDirectory(prefix="jarvis-module-") as tmp:
        playbook = Path(tmp) / "play.json"
        playbook.write_text(json.dumps(plays))
        argv = ["ansible-playbook", "-i", f"{host},", str(playbook)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        proc = subprocess.run(  # noqa: S603
            argv,
            capture_output=True,
            text=True,
            env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "jarvis_test_json", **(env or {})}),
            timeout=600,
        )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"ansible-playbook gave no JSON:\n{proc.stdout}\n{proc.stderr}") from exc
    result: dict[str, Any] = report["plays"][0]["tasks"][0]["hosts"][host]
    result["_stdout"] = proc.stdout + proc.stderr
    return result
