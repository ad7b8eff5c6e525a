"""Controller-side modules run inside Ansible's worker process, with the interface of a module process.

The same task runs both ways against the sandbox's real named: in the worker (ansible's own Python) and
as a module process of its own (another interpreter path). Results, check mode, diff, the task's
environment and no_log agree; only the second leaves an AnsiballZ payload behind.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.named import DnsInfo
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration


@pytest.fixture
def other_python(tmp_path: Path) -> str:
    """A path to ansible's own Python that is not ansible's Python's path: the module runs as a process."""
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def run_both(
    module: str, args: dict[str, Any], other_python: str, tmp_path: Path, **options: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's result in the worker and as a module process, and proof of where each one ran."""
    results = []
    for name, python in (("worker", None), ("process", other_python)):
        remote_tmp = tmp_path / f"remote-tmp-{name}"
        env = {**options.pop("env", {}), "ANSIBLE_REMOTE_TMP": str(remote_tmp), "ANSIBLE_KEEP_REMOTE_FILES": "1"}
        result = run_module(module, args, python=python, env=env, **options)
        options["env"] = {key: value for key, value in env.items() if not key.startswith("ANSIBLE_")}
        payloads = list(remote_tmp.glob("**/AnsiballZ_*")) if remote_tmp.exists() else []
        assert bool(payloads) is (python is not None), (name, payloads)
        results.append(result)
    return results[0], results[1]


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key not in ("_stdout", "invocation")}


def test_a_dns_record_in_the_worker_is_the_module_s_result(
    named_server: DnsInfo, other_python: str, tmp_path: Path
) -> None:
    args = {"record": "inproc.websages.com", "type": "A", "values": ["10.201.0.77"], "ttl": 600}
    env = named_server.env()
    worker, process = run_both("dns_record", args, other_python, tmp_path, check=True, diff=True, env=env)
    assert worker["changed"] and worker["actions"] == ["create inproc.websages.com. A 10.201.0.77 (TTL 600)"]
    assert comparable(worker) == comparable(process)

    applied = run_module("dns_record", args, env=env)
    assert applied["changed"], applied
    worker, process = run_both("dns_record", args, other_python, tmp_path, env=env)
    assert comparable(worker) == comparable(process)
    assert worker["changed"] is False and worker["after"] == ["10.201.0.77"]
    assert run_module("dns_record", {**args, "state": "absent"}, env=env)["changed"]


def test_a_bad_argument_and_a_secret_are_handled_as_by_a_module(
    named_server: DnsInfo, other_python: str, tmp_path: Path
) -> None:
    env = named_server.env()
    worker, process = run_both("dns_record", {"type": "A"}, other_python, tmp_path, env=env)
    assert worker["failed"] and worker["msg"] == process["msg"] == "missing required arguments: record"

    secret = env.pop("JARVIS_TSIG_SECRET")
    args = {"record": "inproc2.websages.com", "type": "A", "values": ["10.201.0.78"], "key_secret": secret}
    worker, process = run_both("dns_record", args, other_python, tmp_path, check=True, env=env)
    assert comparable(worker) == comparable(process)
    assert worker["changed"] and secret not in worker["_stdout"] and secret not in process["_stdout"]
