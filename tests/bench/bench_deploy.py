"""Figures, not assertions: how long deployments and their parts take on the sandbox.

    python -m tests.bench.bench_deploy [--hosts N]

Prints design parsing throughput, status-store write and read rates, and wall time per stage of
a cluster of N hosts (one ansible-runner run, forks = N) deployed twice (create, then no-op).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from orchestrator import DeploymentRunner, DeploymentStore, load_config, parse_design
from orchestrator.stages import deploy_stages
from sandbox import world

REPO = Path(__file__).resolve().parents[2]


def bench_design_parsing() -> None:
    text = (REPO / "examples" / "cluster.yml").read_text()
    mappings = {"ec2": {"images": {"debian 12": "ami-0aaaaaaaaaaaaaaaa"}}}
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        parse_design(text, "bench", mappings)
    elapsed = time.perf_counter() - start
    print(f"design parse+validate (2 hosts): {rounds / elapsed:,.0f}/s ({elapsed / rounds * 1e6:.0f} us each)")


def bench_store(tmp: Path) -> None:
    store = DeploymentStore(tmp / "bench.db")
    hosts = [{"hostname": f"h{i}", "fqdn": f"h{i}.example.com", "provider": "ec2"} for i in range(20)]
    deployment = store.create_deployment(hosts, list(deploy_stages()), source="bench", requested_by="bench")
    start = time.perf_counter()
    for host in hosts:
        for stage in ("credentials", "instance", "address", "ssh", "dns", "cmdb"):
            store.start_stage(deployment, host["hostname"], stage)
            store.end_stage(deployment, host["hostname"], stage, "ok")
    writes = len(hosts) * 12
    elapsed = time.perf_counter() - start
    print(f"store writes: {writes / elapsed:,.0f}/s")
    start = time.perf_counter()
    for _ in range(200):
        store.host_status("h7")
    print(f"store status reads: {200 / (time.perf_counter() - start):,.0f}/s")


def bench_cluster(hosts: int, tmp: Path) -> None:
    state = tmp / "sandbox"
    description = world.up(state)
    try:
        config = load_config(description["config"])
        config.home = tmp / "home"
        names = [f"bench{i}" for i in range(hosts)]
        document = {
            "defaults": {"provider": "ec2", "image": "Debian 12", "region": "Atlanta", "size": 512},
            "instances": [{"hostname": name, "fqdn": f"{name}.websages.com"} for name in names],
        }
        design = parse_design(yaml.safe_dump(document), "bench", config.mappings)
        store = DeploymentStore(config.store_path)
        for label in ("first deploy (creates)", "second deploy (no change)"):
            start = time.perf_counter()
            running = DeploymentRunner(config, store).start(design, "bench")
            running.wait()
            total = time.perf_counter() - start
            results = store.deployment_hosts(running.id)
            ready = sum(host.state == "ready" for host in results)
            print(f"{label}: {hosts} hosts in {total:.1f}s, {ready} ready")
            for stage in ("credentials", "instance", "address", "ssh", "dns", "cmdb", "ready"):
                times = [s.elapsed for h in results for s in h.stages if s.stage == stage and s.elapsed is not None]
                if times:
                    print(f"  {stage:<12} median {statistics.median(times):.2f}s  max {max(times):.2f}s")
    finally:
        world.down(state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        bench_design_parsing()
        bench_store(Path(tmp))
        bench_cluster(args.hosts, Path(tmp))


if __name__ == "__main__":
    main()
