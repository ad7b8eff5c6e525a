"""Figures, not assertions: one EC2 host by jarvis's whole pipeline against a hand-written five-stage playbook.

    python -m tests.bench.bench_peer [--rounds N] [--setup-only]

Issue 14's peer comparison. The peer, ``tests/bench/peer/peer.yml``, is what a careful Ansible user writes
with the official collections to do the core of jarvis's job for one host on the same sandbox, in five
plays matching five of jarvis's stages: launch the instance from the sandbox AMI and wait until it runs
(amazon.aws.ec2_instance), take its address, wait for SSH and scan its host keys (wait_for, ssh-keyscan),
write the A, PTR and SSHFP records (community.general.nsupdate, TSIG), and create the host's entry under
ou=Hosts (community.general.ldap_entry, then ldap_attrs so that a rerun corrects it). It runs from a
virtualenv of its own outside the repository (the same ansible-core as jarvis's, the ``ansible`` community
bundle for the collections, boto3, dnspython, python-ldap), never from jarvis's dependencies.

The peer does less than jarvis, on purpose: no validation of a design, production check or owner marks
(on the instance, the A record and the entry), no root credentials, mounts, kernel, root keypair, gitosis
key or puppet, no known_hosts kept for later connections, no fingerprints in the entry, no status store,
events or chat. So two ratios are printed per round and as medians: jarvis's whole pipeline (the seed
design, examples/loki.yml, every stage) over the peer's five stages (the issue's target: <= 1.0), and
jarvis's own instance, address, ssh, dns and cmdb stages (from the store's stage timings) over the
peer's. Each round deploys one new host each way, who goes first alternating; each peer run removes its
instance, records and entry after it is timed (untimed), and the sandbox goes down at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from orchestrator import DeploymentRunner, DeploymentStore, load_config, parse_design
from orchestrator.config import Config
from sandbox import world

REPO = Path(__file__).resolve().parents[2]
PEER_DIR = Path(__file__).resolve().parent / "peer"
DEFAULT_VENV = Path.home() / ".cache" / "jarvis-bench" / "peer-venv"
# The stages of jarvis's that the peer's five plays do (each play is named after one).
FIVE_STAGES = ("instance", "address", "ssh", "dns", "cmdb")
# python-ldap (community.general's LDAP modules) has no wheels: it builds against these.
BUILD_PACKAGES = ("gcc", "libldap-dev", "libsasl2-dev")
PEER_LIBRARIES = ("boto3", "botocore", "dnspython", "python-ldap")
PEER_TIMEOUT = 900.0


# --- the peer's virtualenv --------------------------------------------------------------------------


def peer_requirements() -> list[str]:
    """Jarvis's ansible-core, the community bundle built for it (ansible N.x goes with core 2.(N+7)), the libs."""
    core = metadata.version("ansible-core")
    minor = int(core.split(".")[1])
    return [f"ansible-core=={core}", f"ansible~={minor - 7}.0", *PEER_LIBRARIES]


def ensure_build_packages() -> None:
    """Install python-ldap's build dependencies with apt unless they are there (as root, no daemons)."""
    missing = [package for package in BUILD_PACKAGES if not _deb_installed(package)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"python-ldap needs {' '.join(missing)}: apt-get install them (as root) and run again")
    print(f"apt-get install {' '.join(missing)} (python-ldap builds against them)", flush=True)
    policy = Path("/usr/sbin/policy-rc.d")
    if not policy.exists():  # never let a package install start a system daemon here
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _quiet(argv: list[str]) -> None:
    """Run ARGV; show its output only when it fails (pip warns about every index it cannot read here)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"{' '.join(argv[:4])} failed (exit {proc.returncode}):\n{output}")


def _deb_installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return proc.returncode == 0 and proc.stdout.endswith(" installed")


def ensure_peer_venv(venv: Path) -> Path:
    """Create VENV (or reuse it when it holds the same requirements) and return its ansible-playbook."""
    requirements = peer_requirements()
    stamp = venv / "jarvis-bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    playbook = venv / "bin" / "ansible-playbook"
    if stamp.exists() and stamp.read_text() == wanted and playbook.exists():
        return playbook
    ensure_build_packages()
    started = time.perf_counter()
    print(f"making the peer virtualenv {venv}: {' '.join(requirements)}", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # The base interpreter, not jarvis's venv: nothing of jarvis's dependencies leaks into the peer.
    base = getattr(sys, "_base_executable", sys.executable)
    _quiet([base, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    _quiet([*pip, "install", "--upgrade", "pip"])
    _quiet([*pip, "install", *requirements])
    stamp.write_text(wanted)
    print(f"peer virtualenv ready in {time.perf_counter() - started:.0f}s", flush=True)
    return playbook


# --- one peer run -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One deployment, either side: its wall time and the seconds of each of its stages."""

    ok: bool
    total: float
    stages: dict[str, float] = field(default_factory=dict)
    failure: str = ""

    @property
    def five(self) -> float:
        """The seconds of the five stages both sides do."""
        return sum(self.stages.get(stage, 0.0) for stage in FIVE_STAGES)


class _UnsafeDumper(yaml.SafeDumper):
    """Writes every string value as ``!unsafe``: the sandbox's values enter Ansible as data, never as templates."""

    def represent_unsafe_mapping(self, data: dict[str, Any]) -> yaml.MappingNode:
        pairs = [(self.represent_str(key), self.represent_data(value)) for key, value in data.items()]
        return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=False)  # the names stay plain


_UnsafeDumper.add_representer(dict, _UnsafeDumper.represent_unsafe_mapping)
_UnsafeDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar("!unsafe", value))


def peer_vars(description: dict[str, Any], hostname: str) -> dict[str, Any]:
    """The peer playbook's extra vars for HOSTNAME: the sandbox's endpoints and secrets, the host's names."""
    ec2, dns, ldap = description["ec2"], description["dns"], description["ldap"]
    reverse_zone = next(z for z in dns["zones"] if z.endswith(".in-addr.arpa"))
    zone = next(z for z in dns["zones"] if not z.endswith(".arpa"))
    return {
        "peer_host": {
            "hostname": hostname,
            "fqdn": f"{hostname}.{zone}",
            "zone": zone,
            "reverse_zone": reverse_zone,
            "ttl": 3600,
            "instance_type": "t3.nano",  # jarvis's size 512 on EC2
        },
        "peer_authorized_keys": [Path(description["ssh_key"]).with_suffix(".pub").read_text().strip()],
        "peer_aws": {
            "endpoint_url": ec2["endpoint_url"],
            "region": ec2["region"],
            "access_key": ec2["access_key"],
            "secret_key": ec2["secret_key"],
        },
        "peer_ec2": {
            "image_id": ec2["image_id"],
            "subnet_id": ec2["subnet_id"],
            "security_group_id": ec2["security_group_id"],
        },
        "peer_dns": {
            "server": dns["server"],
            "port": dns["port"],
            "key_name": dns["tsig_key_name"],
            "key_algorithm": dns["tsig_algorithm"],
            "key_secret": dns["tsig_secret"],
        },
        "peer_ldap": {
            "uri": ldap["uri"],
            "bind_dn": ldap["bind_dn"],
            "bind_password": ldap["bind_password"],
            "hosts_dn": ldap["hosts_dn"],
        },
    }


def peer_env(venv: Path) -> dict[str, str]:
    """The machine's environment without any ANSIBLE_/AWS_/JARVIS_ setting, pointed at the peer venv only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AWS_", "JARVIS_", "VIRTUAL_ENV"))}
    env.update(
        PATH=str(venv / "bin") + os.pathsep + env.get("PATH", ""),
        # Only the bundle's collections: never one left in ~/.ansible/collections or jarvis's.
        ANSIBLE_COLLECTIONS_PATH=str(_site_packages(venv)),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    return env


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise SystemExit(f"no site-packages in {venv}")
    return found[0]


def run_peer_playbook(playbook: Path, name: str, variables: dict[str, Any], work: Path) -> Run:
    """Run the peer's playbook NAME (peer.yml, peer-cleanup.yml) with VARIABLES; its wall time and per-play times."""
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    vars_file = work / "vars.yml"
    fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the sandbox's secrets
    with os.fdopen(fd, "w") as out:
        yaml.dump(variables, out, Dumper=_UnsafeDumper)
    argv = [str(playbook), "-i", str(PEER_DIR / "inventory.yml"), "-e", f"@{vars_file}", str(PEER_DIR / name)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=peer_env(playbook.parents[1]), cwd=work, timeout=PEER_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return Run(False, time.perf_counter() - start, failure=f"still running after {PEER_TIMEOUT:.0f}s")
    finally:
        vars_file.unlink()
    total = time.perf_counter() - start
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{") :])
    except ValueError:
        return Run(False, total, failure=f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}")
    stages = {}
    for play in report.get("plays", []):
        duration = play["play"]["duration"]
        if "end" in duration:
            stages[play["play"]["name"].split(":", 1)[0].strip().lower()] = _seconds(duration["start"], duration["end"])
    failure = "" if proc.returncode == 0 else f"exit {proc.returncode}: {_first_failure(report) or proc.stderr[-1500:]}"
    return Run(proc.returncode == 0, total, stages, failure)


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _first_failure(report: dict[str, Any]) -> str:
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                if result.get("failed") or result.get("unreachable"):
                    return f"{task['task']['name']}: {result.get('msg', '')}"
    return ""


# --- one jarvis deployment --------------------------------------------------------------------------


def deploy_with_jarvis(config: Config, store: DeploymentStore, hostname: str) -> Run:
    """Deploy the seed design (examples/loki.yml) renamed HOSTNAME, every stage, as the CLI would."""
    text = (REPO / "examples" / "loki.yml").read_text().replace("loki", hostname)
    design = parse_design(text, "bench", config.mappings)
    start = time.perf_counter()
    running = DeploymentRunner(config, store).start(design, "bench")
    running.wait()
    total = time.perf_counter() - start
    host = store.deployment_hosts(running.id)[0]
    stages = {s.stage: s.elapsed for s in host.stages if s.elapsed is not None}
    failure = "" if host.state == "ready" else f"{host.state} at {host.stage}: {host.reason}"
    return Run(host.state == "ready", total, stages, failure)


# --- the comparison ---------------------------------------------------------------------------------


def _row(label: str, jarvis_total: float, peer_total: float, jarvis_five: float, peer_five: float) -> str:
    return (
        f"{label:<8} jarvis {jarvis_total:6.1f}s  peer {peer_total:6.1f}s (five stages {peer_five:5.1f}s)"
        f"  jarvis five stages {jarvis_five:5.1f}s"
        f"  ratio whole/peer {jarvis_total / peer_total:5.2f}  five/five {jarvis_five / peer_five:5.2f}"
    )


def compare(description: dict[str, Any], playbook: Path, rounds: int, tmp: Path) -> None:
    config = load_config(description["config"])
    config.home = tmp / "home"
    store = DeploymentStore(config.store_path)
    jarvis_runs: list[Run] = []
    peer_runs: list[Run] = []
    for index in range(rounds):
        variables = peer_vars(description, f"pbench{index}")
        if index % 2:  # who goes first alternates too: neither side always gets the warmer machine
            peer = run_peer_playbook(playbook, "peer.yml", variables, tmp / f"peer{index}")
            jarvis = deploy_with_jarvis(config, store, f"jbench{index}")
        else:
            jarvis = deploy_with_jarvis(config, store, f"jbench{index}")
            peer = run_peer_playbook(playbook, "peer.yml", variables, tmp / f"peer{index}")
        cleanup = run_peer_playbook(playbook, "peer-cleanup.yml", variables, tmp / f"peer{index}-cleanup")
        for label, run in (("jarvis", jarvis), ("peer", peer), ("cleanup", cleanup)):
            if not run.ok:
                print(f"  round {index} {label} failed: {run.failure}", flush=True)
        if not (jarvis.ok and peer.ok):
            continue
        jarvis_runs.append(jarvis)
        peer_runs.append(peer)
        print(_row(f"round {index}", jarvis.total, peer.total, jarvis.five, peer.five), flush=True)
        print(
            "         stages  "
            + "  ".join(f"{s} {jarvis.stages.get(s, 0.0):.2f}/{peer.stages.get(s, 0.0):.2f}s" for s in FIVE_STAGES)
            + "  (jarvis/peer)",
            flush=True,
        )
    if not peer_runs:
        raise SystemExit("no round succeeded on both sides")
    medians = [
        statistics.median(values)
        for values in (
            [r.total for r in jarvis_runs],
            [r.total for r in peer_runs],
            [r.five for r in jarvis_runs],
            [r.five for r in peer_runs],
        )
    ]
    print(_row("median", *medians))
    print(f"target: jarvis's whole pipeline / the peer's five stages <= 1.0 ({len(peer_runs)} of {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"the peer's virtualenv ({DEFAULT_VENV})")
    parser.add_argument("--setup-only", action="store_true", help="make the peer virtualenv, then stop")
    args = parser.parse_args()
    playbook = ensure_peer_venv(args.venv.expanduser().resolve())
    if args.setup_only:
        return
    # ansible-runner looks ansible-playbook up on PATH: the one beside this interpreter, not the peer's.
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        state = Path(tmp) / "sandbox"
        description = world.up(state)
        try:
            compare(description, playbook, args.rounds, Path(tmp))
        finally:
            world.down(state)


if __name__ == "__main__":
    main()
