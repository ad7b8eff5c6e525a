"""Figures, not assertions: what running the playbook on a remote worker over SSH costs.

    python -m tests.bench.bench_remote [--rounds N]

Prints the round trip of an empty job (no hosts: playbook start to stats) through the local
executor and through the remote one (transmit | ssh worker | process, the collection shipped
each time), then one EC2 host deployed both ways on the sandbox, alternating, N rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from orchestrator import DeploymentRunner, DeploymentStore, load_config, parse_design
from orchestrator._collection import COLLECTIONS_PATH
from orchestrator.config import Config
from orchestrator.executors import LocalExecutor
from orchestrator.job import Executor, Job
from orchestrator.remote import RemoteExecutor
from orchestrator.stages import playbook_stages
from sandbox import worker as sandbox_worker
from sandbox import world

REPO = Path(__file__).resolve().parents[2]


def empty_job_seconds(executor: Executor, runs_dir: Path, label: str) -> float:
    ident = f"{label}-{time.time_ns()}"
    private_dir = runs_dir / ident
    private_dir.mkdir(parents=True)
    job = Job(
        private_dir=private_dir,
        ident=ident,
        kind="deploy",
        hosts=[],
        stages=list(playbook_stages("deploy")),
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH)},  # the remote executor ships it instead
    )
    start = time.perf_counter()
    status = executor.execute(job, lambda event: None, lambda: False)
    if status != "successful":
        raise RuntimeError(f"the empty {label} job ended {status}")
    return time.perf_counter() - start


def bench_empty_jobs(config: Config, remote: RemoteExecutor, rounds: int) -> None:
    local = LocalExecutor(config.home / "private")
    times: dict[str, list[float]] = {"local": [], "remote": []}
    for _ in range(rounds):
        times["local"].append(empty_job_seconds(local, config.runs_dir, "local"))
        times["remote"].append(empty_job_seconds(remote, config.runs_dir, "remote"))
    for label, values in times.items():
        print(f"empty job, {label:<6}: median {statistics.median(values):.2f}s  max {max(values):.2f}s")


def bench_one_host(local_config: Config, remote_config: Config, rounds: int) -> None:
    times: dict[str, list[float]] = {"local": [], "remote": []}
    for index in range(rounds):
        for label, config in (("local", local_config), ("remote", remote_config)):
            name = f"{label}{index}"
            text = (REPO / "examples" / "loki.yml").read_text().replace("loki", name)
            design = parse_design(text, "bench", config.mappings)
            store = DeploymentStore(config.store_path)
            start = time.perf_counter()
            running = DeploymentRunner(config, store).start(design, "bench")
            running.wait()
            times[label].append(time.perf_counter() - start)
            host = store.deployment_hosts(running.id)[0]
            if host.state != "ready":
                print(f"  {name}: {host.state} ({host.reason})")
    for label, values in times.items():
        print(f"one EC2 host, {label:<6}: median {statistics.median(values):.1f}s  max {max(values):.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # ansible-runner looks ansible-playbook up on PATH: the one beside this interpreter.
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        state = Path(tmp) / "sandbox"
        description = world.up(state)
        remote_worker = sandbox_worker.start(Path(tmp) / "worker")
        try:
            local_config = load_config(description["config"])
            local_config.home = Path(tmp) / "home-local"
            remote_config = dataclasses.replace(
                local_config, home=Path(tmp) / "home-remote", executor=remote_worker.executor_section()
            )
            remote = RemoteExecutor.from_config(remote_config.executor, remote_config)
            bench_empty_jobs(local_config, remote, args.rounds)
            bench_one_host(local_config, remote_config, args.rounds)
        finally:
            sandbox_worker.stop(Path(tmp) / "worker")
            world.down(state)


if __name__ == "__main__":
    main()
