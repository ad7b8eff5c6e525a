"""Fault injection against the real sandbox: kill a jarvis process (or stop a server) at a stage, then recover.

One scenario = one host of its own: start its deployment the way the victim runs it (the CLI, a worker
started as the bot starts it), wait for the point (a stage running; for ``instance``, until the provider
has the instance and the store does not know it yet), SIGKILL the victim or stop the server, then check
what a careful operator needs: the deployment is shown interrupted or failed (never running), nothing of it
is left running, no staged credentials are left, ``jarvis resume`` ends ready, exactly one instance exists
at the provider, and DNS and the CMDB are right. Used by tests/integration/test_faults.py (a few
purposeful scenarios) and tests/bench/bench_faults.py (the whole matrix, as a table).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from linode_api4 import Instance, LinodeClient
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from orchestrator.config import Config
from orchestrator.leases import leftover_processes
from orchestrator.service import Orchestrator
from orchestrator.store import DeploymentStore, HostStatus
from sandbox import slapd
from tests.support.world import ec2_client, ec2_instances, ldap_entry, query

VICTIMS = ("cli", "worker", "playbook")
SERVERS = ("slapd",)
POINTS = ("instance", "address", "cmdb")
SERVER_STAGE = {"slapd": "cmdb"}


@dataclass(frozen=True)
class Fault:
    victim: str  # cli | worker | playbook (SIGKILL) or slapd (stopped, then started again)
    point: str  # instance (after the provider's create call) | address (once instance has ended) | cmdb
    provider: str  # ec2 | linode | vsphere

    @property
    def hostname(self) -> str:
        return f"f{self.victim[:3]}{self.point[:3]}{self.provider[:2]}"


@dataclass
class Outcome:
    fault: Fault
    seen: str  # the host's state once the fault is noticed: interrupted or failed
    stage: str | None
    reason: str
    detect_s: float  # from the kill to the store saying so (a jarvis status run noticing it)
    recover_s: float  # jarvis resume, to ready
    resumed: str  # the host's state after the resume
    instances: int  # at the provider, after the resume
    leftovers: list[int]  # processes of the deployment still running after it was noticed
    staged: list[str]  # credential staging files left in <home>/private
    dns_ok: bool
    cmdb_ok: bool
    resume_output: str = ""  # the tail of what jarvis resume said, to read when it did not end ready

    @property
    def ok(self) -> bool:
        return (
            self.seen in ("interrupted", "failed")
            and self.resumed == "ready"
            and self.instances == 1
            and not self.leftovers
            and not self.staged
            and self.dns_ok
            and self.cmdb_ok
        )


def design_file(directory: Path, fault: Fault) -> Path:
    host = {"hostname": fault.hostname, "fqdn": f"{fault.hostname}.websages.com", "provider": fault.provider}
    path = directory / f"{fault.hostname}.yml"
    path.write_text(yaml.safe_dump({"instances": [{**host, "image": "Debian 12", "region": "Atlanta", "size": 512}]}))
    return path


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def provider_instances(world: dict, provider: str, hostname: str) -> int:
    """How many live instances the provider has under HOSTNAME."""
    if provider == "ec2":
        return len(ec2_instances(world, hostname))
    if provider == "linode":
        client = LinodeClient(world["linode"]["token"], base_url=world["linode"]["base_url"], retry=False)
        return len([linode for linode in client.linode.instances(Instance.label == hostname)])
    info = world["vsphere"]
    service = SmartConnect(
        host=info["host"], port=info["port"], user=info["username"], pwd=info["password"], disableSslCertValidation=True
    )
    try:
        content = service.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            return len([vm for vm in view.view if vm.name == hostname])
        finally:
            view.DestroyView()
    finally:
        Disconnect(service)


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def at_point(store: DeploymentStore, world: dict, fault: Fault) -> Callable[[], HostStatus | None]:
    """A check that is true once FAULT's host has reached its point."""
    exists = _instance_lookup(world, fault)

    def reached() -> HostStatus | None:
        host = store.host_status(fault.hostname)
        if host is None or host.state not in ("pending", "running"):
            if host is not None and host.state not in ("pending", "running"):
                raise AssertionError(f"{fault.hostname} ended {host.state} before {fault.point}: {host.reason}")
            return None
        if fault.point == "address":  # between instance and address: as soon as the instance stage has ended
            ended = {stage.stage: stage.state for stage in host.stages}.get("instance") in ("ok", "changed")
            return host if ended else None
        if host.stage != fault.point:
            return None
        if fault.point == "instance":  # after the provider's create call, before the store knows the instance
            if "instance" in host.facts or not exists():
                return None
            # The stage may end while the provider is asked: the store is looked at again after it.
            again = store.host_status(fault.hostname)
            return again if again is not None and again.stage == "instance" and "instance" not in again.facts else None
        return host

    return reached


def _instance_lookup(world: dict, fault: Fault) -> Callable[[], bool]:
    """Whether the provider has FAULT's host's instance; for EC2 through one client, so that a look takes
    milliseconds (the window between the create call and the stage's end is short)."""
    if fault.provider != "ec2":
        return lambda: provider_instances(world, fault.provider, fault.hostname) > 0
    client = ec2_client(world)

    def exists() -> bool:
        found = client.describe_instances(Filters=[{"Name": "tag:Name", "Values": [fault.hostname]}])
        states = [i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]]
        return any(state not in ("terminated", "shutting-down") for state in states)

    return exists


def playbook_pid(deployment_id: str, runs_dir: Path) -> int | None:
    """The ansible-playbook of DEPLOYMENT_ID: the leader of its own process group (ansible-runner's pty)."""
    for pid in leftover_processes(deployment_id, runs_dir):
        try:
            if b"ansible-playbook" in Path(f"/proc/{pid}/cmdline").read_bytes() and os.getpgid(pid) == pid:
                return pid
        except OSError:
            continue
    return None


def run(world: dict, config: Config, env: dict[str, str], fault: Fault, directory: Path) -> Outcome:
    """Inject FAULT and recover from it; what was seen (see the module doc)."""
    store = DeploymentStore(config.store_path)
    design = design_file(directory, fault)
    started: subprocess.Popen[bytes] | None = None
    if fault.victim == "worker":
        from orchestrator.design import load_design_file

        Orchestrator(config).launch(load_design_file(design, config.mappings), "faults (test)")
    else:
        started = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "orchestrator.cli", "deploy", str(design)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    try:
        host = wait_until(at_point(store, world, fault), 300, f"{fault.hostname} at {fault.point}", every=0.02)
        deployment_id = host.deployment_id
        if fault.victim in SERVERS:
            slapd.stop(Path(world["state_dir"]) / "ldap")
            victim_at = time.monotonic()
        else:
            pid = _victim_pid(fault.victim, store, deployment_id, started, config.runs_dir)
            os.kill(pid, signal.SIGKILL)
            victim_at = time.monotonic()
        noticed = wait_until(lambda: _noticed(env, store, fault.hostname, deployment_id), 300, "the fault noticed")
        detect_s = time.monotonic() - victim_at
        if fault.victim in SERVERS:
            slapd.start(Path(world["state_dir"]) / "ldap")
    finally:
        if started is not None:
            if fault.victim == "cli" and started.poll() is None:
                started.kill()  # the victim, whether or not the point was reached
            started.wait(timeout=600)
    time.sleep(0.5)  # what a SIGKILL leaves dies asynchronously
    leftovers = leftover_processes(deployment_id, config.runs_dir)
    staged = [path.name for path in (config.home / "private").glob(f"*{deployment_id}*")]
    began = time.monotonic()
    resumed = cli(env, "resume", fault.hostname)
    recover_s = time.monotonic() - began
    after = store.host_status(fault.hostname)
    ip = after.facts.get("ip") if after else None
    entry = ldap_entry(world, fault.hostname) or {}
    return Outcome(
        fault=fault,
        seen=noticed.state,
        stage=noticed.stage,
        reason=noticed.reason or "",
        detect_s=detect_s,
        recover_s=recover_s,
        resumed=after.state if after else "missing",
        instances=provider_instances(world, fault.provider, fault.hostname),
        leftovers=leftovers,
        staged=staged,
        dns_ok=bool(ip) and query(world, f"{fault.hostname}.websages.com", "A") == [ip],
        cmdb_ok=bool(ip) and entry.get("ipHostNumber") == [ip],
        resume_output=(resumed.stdout + resumed.stderr)[-2000:],
    )


def _victim_pid(
    victim: str, store: DeploymentStore, deployment_id: str, started: subprocess.Popen[bytes] | None, runs_dir: Path
) -> int:
    if victim == "cli":
        assert started is not None
        return started.pid
    if victim == "worker":
        record = store.deployment(deployment_id)
        assert record is not None and record["owner"] is not None
        return int(record["owner"].pid)
    return int(wait_until(lambda: playbook_pid(deployment_id, runs_dir), 30, "the playbook's process"))


def _noticed(env: dict[str, str], store: DeploymentStore, hostname: str, deployment_id: str) -> HostStatus | None:
    """The host once a jarvis process (a ``jarvis status`` run, as an operator would) no longer shows it running."""
    cli(env, "status", hostname)
    host = store.host_status(hostname, deployment_id)
    return host if host is not None and host.state not in ("pending", "running") else None


def table(outcomes: list[Outcome]) -> str:
    """The fault × outcome table the benchmark prints."""
    head = f"{'victim':<9}{'point':<10}{'provider':<9}{'seen':<24}{'detect s':>9}{'recover s':>10}  outcome"
    lines = [head, "-" * len(head)]
    for o in outcomes:
        problems = [
            what
            for what, bad in (
                (f"{o.instances} instances", o.instances != 1),
                (f"left running {o.leftovers}", bool(o.leftovers)),
                (f"credentials left {o.staged}", bool(o.staged)),
                (f"resume ended {o.resumed}", o.resumed != "ready"),
                ("DNS wrong", not o.dns_ok),
                ("CMDB wrong", not o.cmdb_ok),
            )
            if bad
        ]
        verdict = "ok: one instance, ready, nothing left" if o.ok else "; ".join(problems)
        lines.append(
            f"{o.fault.victim:<9}{o.fault.point:<10}{o.fault.provider:<9}{o.seen + ' at ' + str(o.stage):<24}"
            f"{o.detect_s:>9.1f}{o.recover_s:>10.1f}  {verdict}"
        )
    return "\n".join(lines)
