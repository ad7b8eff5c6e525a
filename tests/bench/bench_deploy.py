"""Figures, not assertions: how long deployments and their parts take on the sandbox.

    python -m tests.bench.bench_deploy [--hosts N] [--providers ec2,linode,vsphere] [--only-cluster]

Prints design parsing throughput, status-store write and read rates, then one host and a cluster of N
hosts (one ansible-runner run, forks = N), each deployed twice (create, then no change), side by side:
wall time, per-stage medians, peak memory of jarvis and ansible's process tree, and the ratios to one host.
``--providers ec2,linode,vsphere`` mixes providers in turn.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from orchestrator import DeploymentRunner, DeploymentStore, load_config, parse_design
from orchestrator.stages import deploy_stages
from sandbox import world
from tests.bench.process_tree import PeakMemory

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


def deploy_once(runner_of: Any, store: DeploymentStore, design: Any, label: str) -> tuple[float, int]:
    """Deploy DESIGN once; print its wall time, peak memory and per-stage medians; (seconds, peak PSS)."""
    with PeakMemory() as memory:
        start = time.perf_counter()
        running = runner_of().start(design, "bench")
        running.wait()
        total = time.perf_counter() - start
    results = store.deployment_hosts(running.id)
    ready = sum(host.state == "ready" for host in results)
    print(
        f"{label}: {len(results)} hosts in {total:.1f}s, {ready} ready;"
        f" peak memory of jarvis+ansible RSS {memory.rss / 2**20:,.0f} MiB, PSS {memory.pss / 2**20:,.0f} MiB"
    )
    for stage in (known.id for known in deploy_stages()):
        times = [s.elapsed for h in results for s in h.stages if s.stage == stage and s.elapsed is not None]
        if times:
            print(f"  {stage:<12} median {statistics.median(times):.2f}s  max {max(times):.2f}s")
    return total, memory.pss


def cluster_design(prefix: str, hosts: int, providers: list[str], mappings: Any) -> Any:
    """A design of HOSTS hosts named PREFIX0..., their providers taken in turn from PROVIDERS."""
    document = {
        "defaults": {"image": "Debian 12", "region": "Atlanta", "size": 512},
        "instances": [
            {"hostname": f"{prefix}{i}", "fqdn": f"{prefix}{i}.websages.com", "provider": providers[i % len(providers)]}
            for i in range(hosts)
        ],
    }
    return parse_design(yaml.safe_dump(document), "bench", mappings)


def bench_cluster(hosts: int, providers: list[str], tmp: Path) -> None:
    """One host and a cluster of HOSTS, each deployed twice (creates, then no change), side by side."""
    state = tmp / "sandbox"
    description = world.up(state)
    try:
        config = load_config(description["config"])
        config.home = tmp / "home"
        store = DeploymentStore(config.store_path)

        def runner_of() -> DeploymentRunner:
            return DeploymentRunner(config, store)

        figures = {}
        for prefix, size in (("one", 1), ("many", hosts)):
            design = cluster_design(prefix, size, providers, config.mappings)
            for kind in ("create", "no change"):
                figures[size, kind] = deploy_once(runner_of, store, design, f"{size} host(s), {kind}")
        for kind, target in (("create", 3.0), ("no change", 1.5)):
            ratio = figures[hosts, kind][0] / figures[1, kind][0]
            print(f"ratio {hosts} hosts / 1 host, {kind}: {ratio:.2f} (target <= {target})")
        peak = max(figures[hosts, kind][1] for kind in ("create", "no change"))
        print(f"peak PSS for {hosts} hosts: {peak / 2**20:,.0f} MiB (target <= 1536)")
    finally:
        world.down(state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--providers", default="ec2", help="comma-separated, taken in turn (ec2,linode,vsphere)")
    parser.add_argument("--only-cluster", action="store_true", help="skip the parsing and store figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        if not args.only_cluster:
            bench_design_parsing()
            bench_store(Path(tmp))
        bench_cluster(args.hosts, args.providers.split(","), Path(tmp))


if __name__ == "__main__":
    main()
