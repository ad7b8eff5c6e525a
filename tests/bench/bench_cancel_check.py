"""Figures, not assertions: what the per-host cancel check at the start of every stage costs.

    python -m tests.bench.bench_cancel_check [--hosts N] [--rounds R]

Runs the deploy pipeline's shape (every stage of ``playbook_stages("deploy")``, one ``debug`` task each,
local connection) over N hosts with and without the cancel check (``meta: end_host`` when a flag file
exists), with ``jarvis_cancel_dir`` set as local runs set it, and prints the median wall time of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ansible_runner

from orchestrator.render import cancel_check, deployment_inventory
from orchestrator.stages import playbook_stages


def play(with_check: bool) -> list[dict[str, Any]]:
    blocks = []
    for stage in playbook_stages("deploy"):
        task = {"name": f"Do {stage.id}", "ansible.builtin.debug": {"msg": stage.id}}
        blocks.append({"name": f"Stage {stage.id}", "block": [cancel_check(stage), task] if with_check else [task]})
    return [{"name": "bench", "hosts": "jarvis_targets", "gather_facts": False, "tasks": blocks}]


def run_once(tmp: Path, hosts: int, with_check: bool) -> float:
    names = [f"h{i}" for i in range(hosts)]
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    cancel_dir = tmp / "cancel"
    cancel_dir.mkdir(exist_ok=True)
    inventory = deployment_inventory(
        [{"hostname": name} for name in names], {"jarvis_cancel_dir": str(cancel_dir)}, dict.fromkeys(names, local)
    )
    data_dir = Path(tempfile.mkdtemp(dir=tmp))
    started = time.perf_counter()
    runner = ansible_runner.run(
        private_data_dir=str(data_dir),
        playbook=play(with_check),
        inventory=inventory,
        forks=hosts,
        quiet=True,
        suppress_env_files=True,
        envvars={"ANSIBLE_LOCALHOST_WARNING": "False"},
    )
    elapsed = time.perf_counter() - started
    assert runner.status == "successful", runner.status
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_cancel_check")
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stages = len(playbook_stages("deploy"))
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):  # interleaved, so that load on the machine hits both alike
            for with_check in (False, True):
                times[with_check].append(run_once(tmp, args.hosts, with_check))
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    per = (with_ - without) / (args.hosts * stages) * 1000
    print(f"{args.hosts} hosts x {stages} stages, one debug task each, median of {args.rounds}:")
    print(f"  without the cancel check: {without:.2f}s")
    print(f"  with the cancel check:    {with_:.2f}s ({with_ - without:+.2f}s, {per:+.1f} ms per host and stage)")


if __name__ == "__main__":
    main()
