"""Isolated Debian hosts as podman containers: own root filesystem, hostname, IP and sshd, like a real VM.

Every podman call goes through ``podman()``, which points podman at the sandbox's own containers.conf
(runc, cgroupfs, file events): the machine's defaults (crun, systemd, journald) do not work here.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox._process import SandboxError

__all__ = [
    "BOOT_TIME_COMMAND",
    "DEFAULT_CACHE_DIR",
    "IMAGE",
    "REBOOT_COMMAND",
    "SANDBOX_RANGE",
    "HostReconciler",
    "WantedHost",
    "allocate_network",
    "configure",
    "fence_sandbox_range",
    "file_lock",
    "ensure_image",
    "ensure_network",
    "host_mac",
    "list_hosts",
    "network_subnets",
    "podman",
    "remove_host",
    "remove_hosts",
    "remove_network",
    "start_host",
    "start_stopped_host",
    "stop_host",
    "valid_hostname",
]

IMAGE = "localhost/jarvis-host:bookworm-2"  # bump when the image's build changes: hosts use the new one
# Every sandbox host network is a /24 of this range; addresses outside a live network are fenced off.
SANDBOX_RANGE = "10.201.0.0/16"
DEFAULT_CACHE_DIR = Path("/var/cache/jarvis-sandbox")
INIT_SCRIPT = "/usr/local/sbin/jarvis-host-init"
KEYS_ENV = "JARVIS_AUTHORIZED_KEYS"
_DEFAULT_MIRROR = "http://deb.debian.org/debian"
_DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
_PACKAGES = "openssh-server,python3,iproute2,ca-certificates"
_SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

CONTAINERS_CONF = """\
# Written by the jarvis sandbox: the settings podman needs on this machine (see ENVIRONMENT.md).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
"""

# First boot of a host: its own ed25519 host key (never one baked into the image), root's keys from
# the launch request, then sshd in the foreground. Later boots keep both, like cloud-init's per-instance.
_INIT = f"""\
#!/bin/sh
set -e
if [ ! -e /etc/ssh/ssh_host_ed25519_key ]; then
    ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
fi
if [ ! -e /root/.ssh/authorized_keys ] && [ -n "${KEYS_ENV}" ]; then
    mkdir -p /root/.ssh
    chmod 700 /root/.ssh
    printf '%s\\n' "${KEYS_ENV}" > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
unset {KEYS_ENV}
mount -a || true  # what the host's fstab says, as a real host's init mounts it at boot
mkdir -p /run/sshd
chmod 755 /run/sshd
exec /usr/sbin/sshd -D -e
"""

_SSHD_CONF = """\
# Written by the jarvis sandbox image build.
PermitRootLogin prohibit-password
UsePAM no
"""

_conf_path: Path | None = None


def configure(state_dir: Path) -> Path:
    """Write STATE_DIR/containers.conf and use it for every later podman call of this process."""
    global _conf_path
    state_dir.mkdir(parents=True, exist_ok=True)
    conf = state_dir.resolve() / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        tmp = conf.with_suffix(".tmp")
        tmp.write_text(CONTAINERS_CONF)
        tmp.replace(conf)
    _conf_path = conf
    return conf


def podman(*args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run podman with the sandbox's containers.conf; raise SandboxError with its stderr on failure."""
    conf = _conf_path or configure(DEFAULT_CACHE_DIR)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    try:
        proc = subprocess.run(  # noqa: S603 - argv built by the sandbox
            ["podman", *args], capture_output=True, text=True, env=env, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise SandboxError("podman is missing: apt-get install podman runc netavark aardvark-dns") from exc
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"podman {' '.join(args[:2])} took longer than {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        raise SandboxError(f"podman {' '.join(args[:2])} failed: {proc.stderr.strip()[-1500:]}")
    return proc


# --- the image -------------------------------------------------------------------------------------


def ensure_image(cache_dir: Path = DEFAULT_CACHE_DIR) -> str:
    """Build the hosts' Debian bookworm image once (debootstrap, ~60 s) and return its name."""
    if _image_exists():
        return IMAGE
    cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(cache_dir / "image.lock"):
        if _image_exists():  # another process built it while we waited for the lock
            return IMAGE
        _build_image(cache_dir)
    return IMAGE


def _image_exists() -> bool:
    return podman("image", "exists", IMAGE, check=False).returncode == 0


def _build_image(cache_dir: Path) -> None:
    debootstrap = shutil.which("debootstrap", path=_SBIN)
    if debootstrap is None:
        raise SandboxError("debootstrap is not installed: apt-get install debootstrap")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir))
    rootfs, tarball, log = work / "rootfs", work / "rootfs.tar", cache_dir / "debootstrap.log"
    try:
        mirror = debian_mirror()
        _progress(f"building {IMAGE}: debootstrap bookworm from {mirror} (about a minute, log in {log})")
        with log.open("w") as out:
            proc = subprocess.run(  # noqa: S603 - fixed argv
                [debootstrap, "--variant=minbase", f"--include={_PACKAGES}", "bookworm", str(rootfs), mirror],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-1500:]
            raise SandboxError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        _progress(f"debootstrap done after {time.monotonic() - started:.0f}s; preparing the root filesystem")
        _prepare_rootfs(rootfs)
        subprocess.run(  # noqa: S603 - fixed argv
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(tarball), "."],
            check=True,
            capture_output=True,
        )
        shutil.rmtree(rootfs)
        podman("import", "--change", f'CMD ["{INIT_SCRIPT}"]', str(tarball), IMAGE, timeout=600)
        _progress(f"built {IMAGE} in {time.monotonic() - started:.0f}s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def debian_mirror(sources: Path = _DEBIAN_SOURCES) -> str:
    """The machine's own Debian mirror (the only one reachable here), from its deb822 sources."""
    with contextlib.suppress(OSError):
        for stanza in re.split(r"\n\s*\n", sources.read_text()):
            fields: dict[str, str] = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, flags=re.MULTILINE))
            if "bookworm" in fields.get("Suites", "").split() and fields.get("URIs"):
                return fields["URIs"].split()[0]
    return _DEFAULT_MIRROR


def _prepare_rootfs(rootfs: Path) -> None:
    """Drop what must differ per host (host keys, machine id) and install the init script and sshd config."""
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    machine_id = rootfs / "etc/machine-id"
    if machine_id.exists():
        machine_id.write_text("")
    init = rootfs / INIT_SCRIPT.lstrip("/")
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(_INIT)
    init.chmod(0o755)
    sshd_conf = rootfs / "etc/ssh/sshd_config.d/jarvis-sandbox.conf"
    sshd_conf.parent.mkdir(parents=True, exist_ok=True)
    sshd_conf.write_text(_SSHD_CONF)
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def _progress(message: str) -> None:
    print(f"[jarvis-sandbox] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on PATH: one builder (or network picker) at a time across processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- networks --------------------------------------------------------------------------------------


def ensure_network(name: str, subnet: str) -> None:
    """Create the bridge network NAME with SUBNET (gateway .1) unless it exists."""
    if podman("network", "exists", name, check=False).returncode == 0:
        return
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    podman("network", "create", "--subnet", subnet, "--gateway", gateway, name)


def remove_network(name: str) -> None:
    """Remove the network NAME (and any container still on it); no error if it is gone."""
    podman("network", "rm", "--force", name, check=False)


def network_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every subnet some podman network on this machine uses, so new networks can avoid them."""
    proc = podman("network", "ls", "--format", "json")
    subnets = []
    for network in json.loads(proc.stdout or "[]"):
        for entry in network.get("subnets") or []:
            with contextlib.suppress(ValueError, KeyError):
                subnets.append(ipaddress.ip_network(entry["subnet"], strict=False))
    return subnets


@contextlib.contextmanager
def network_lock(cache_dir: Path = DEFAULT_CACHE_DIR) -> Iterator[None]:
    """Serialise choosing and creating networks between sandboxes started side by side."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(cache_dir / "networks.lock"):
        yield


# --- hosts -----------------------------------------------------------------------------------------


def start_host(
    name: str, network: str, ip: str, authorized_keys: list[str], hostname: str, *, restart: str | None = None
) -> None:
    """Start a host container NAME with its own IP and hostname; root logs in with AUTHORIZED_KEYS.

    RESTART is podman's restart policy: "always" makes the host come back by itself after a reboot
    (REBOOT_COMMAND), for hosts no HostReconciler follows.
    """
    podman(
        "run",
        *(("--restart", restart) if restart else ()),
        "--detach",
        "--init",
        "--name",
        name,
        "--hostname",
        hostname,
        "--network",
        network,
        "--ip",
        ip,
        # A fixed MAC, like an ENI's: with a fresh one per start, the machine's ARP cache would
        # keep sending a restarted host's traffic to its old MAC for several seconds.
        "--mac-address",
        host_mac(ip),
        "--cap-add",
        "SYS_ADMIN",
        "--env",
        f"{KEYS_ENV}={chr(10).join(authorized_keys)}",
        "--label",
        "jarvis-sandbox=host",
        IMAGE,
    )


def host_mac(ip: str) -> str:
    """A locally administered unicast MAC made from IP: stable across restarts, unique per address."""
    octets = ipaddress.IPv4Address(ip).packed
    return ":".join(f"{b:02x}" for b in (0x02, 0x4A, *octets))


# What "reboot" means on a sandbox host. The kernel is the machine's and there is no systemd: a host
# reboots by ending its PID 1 (podman's --init, which hands SIGTERM to sshd and exits with it). The
# container stops, the host's SSH stops answering, and HostReconciler.once (EC2's and vSphere's) starts
# the container again within _RECHECK_PODMAN_EVERY seconds because its instance or VM is still meant to
# run, as a hypervisor restarts a VM that rebooted (the Linode emulator does not). `podman start` keeps
# the container: same root filesystem (installed packages, host keys, authorized keys), same IP and MAC.
# A host stopped through the cloud's API is not restarted. The kernel's boot_id does not change, so
# ansible.builtin.reboot must tell boots apart by PID 1's start time (field 22 of /proc/1/stat) too.
REBOOT_COMMAND = "/bin/sh -c 'kill -TERM 1'"
BOOT_TIME_COMMAND = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"


def stop_host(name: str) -> None:
    """Power the host off (the container stays, with its disk)."""
    podman("stop", "--time", "5", name)


def start_stopped_host(name: str) -> None:
    """Power a stopped host on again, same disk, IP and keys."""
    podman("start", name)


def remove_host(name: str) -> None:
    """Destroy the host and its disk; no error if it is gone."""
    podman("rm", "--force", "--time", "2", name, check=False)


def remove_hosts(names: list[str]) -> None:
    """Destroy several hosts in one podman call (sandbox teardown)."""
    if names:
        podman("rm", "--force", "--time", "2", *names, check=False)


def list_hosts(prefix: str) -> dict[str, str]:
    """The containers whose name starts with PREFIX, with podman's state (running, exited, created…)."""
    proc = podman("ps", "--all", "--filter", f"name=^{re.escape(prefix)}", "--format", "json")
    hosts = {}
    for container in json.loads(proc.stdout or "[]"):
        for name in container.get("Names") or []:
            if name.startswith(prefix):
                hosts[name] = str(container.get("State", "unknown"))
    return hosts


def allocate_network(name: str) -> ipaddress.IPv4Network:
    """Create podman network NAME on a free /24 of the sandbox range (or keep it) and return its subnet."""
    fence_sandbox_range()
    with network_lock():
        existing = _network_subnet(name)
        if existing is not None:
            return existing
        subnet = _free_subnet()
        ensure_network(name, str(subnet))
        return subnet


def _network_subnet(name: str) -> ipaddress.IPv4Network | None:
    proc = podman("network", "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    with contextlib.suppress(ValueError, KeyError, IndexError):
        return ipaddress.IPv4Network(json.loads(proc.stdout)[0]["subnets"][0]["subnet"])
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 10.201.0.0/16 that no podman network and no route of this machine uses yet."""
    taken = [*network_subnets(), *_routed_networks()]
    for candidate in ipaddress.ip_network(SANDBOX_RANGE).subnets(new_prefix=24):
        if candidate.network_address.packed[2] == 0:
            continue
        if not any(candidate.overlaps(other) for other in taken if other.version == 4):
            return candidate  # type: ignore[return-value]
    raise SandboxError(f"every /24 of {SANDBOX_RANGE} is in use by a podman network: remove stale ones")


def fence_sandbox_range() -> None:
    """Make addresses of the sandbox range without a running host unreachable, as on a real VPC.

    netavark removes a network's bridge (and its route) when no container is left on it; the
    addresses would then go out of the default route, where this machine's gateway accepts any TCP
    connection, so a stopped host would seem to answer. Each bridge's /24 still wins over this /16.
    """
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv
            ["ip", "-4", "route", "add", "unreachable", SANDBOX_RANGE], capture_output=True, text=True, check=False
        )
        problem = "" if proc.returncode == 0 or "File exists" in proc.stderr else proc.stderr.strip()
    except OSError as exc:
        problem = str(exc)
    if problem:
        print(f"[jarvis-sandbox] could not fence {SANDBOX_RANGE}: {problem}", file=sys.stderr)


def _routed_networks() -> list[ipaddress.IPv4Network]:
    """Networks this machine already routes (besides the default route), to keep clear of them."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            ["ip", "-4", "-json", "route"], capture_output=True, text=True, check=True
        ).stdout
        routes = json.loads(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return []
    networks = []
    for route in routes:
        with contextlib.suppress(ValueError, KeyError):
            if route["dst"] != "default" and route.get("type", "unicast") == "unicast":
                networks.append(ipaddress.IPv4Network(route["dst"], strict=False))
    return networks


# --- following a cloud's instances -----------------------------------------------------------------

_RECHECK_PODMAN_EVERY = 5.0
_RETRY_FAILED_AFTER = 5.0
_HOSTNAME = re.compile(
    r"^(?=.{1,64}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)

_log = logging.getLogger("sandbox.hosts")


def valid_hostname(name: object) -> bool:
    """Whether NAME can be a host's hostname (RFC 1123 labels, at most 64 characters in all)."""
    return isinstance(name, str) and bool(_HOSTNAME.match(name))


@dataclass(frozen=True)
class WantedHost:
    """What one instance of a cloud asks of the container that plays it."""

    power: str  # "running" or "stopped"
    create: Callable[[], None]  # starts the container the first time it is to run


@dataclass(frozen=True)
class _Action:
    """One podman step for one container; DONE is what the log says afterwards ("" if it logs itself)."""

    container: str
    done: str
    func: Callable[..., None]
    args: tuple[Any, ...]

    def __str__(self) -> str:
        return f"{getattr(self.func, '__name__', 'creation')} of {self.container}"


class HostReconciler:
    """Makes the podman containers PREFIX-* follow a cloud's instances, one pass at a time.

    A cloud's reconciler says in ``wanted()`` which containers should exist and whether they run;
    ``once()`` compares that with podman and creates, starts, stops or removes containers.
    """

    # What a failed step may raise besides SandboxError: the cloud API's own errors.
    errors: tuple[type[Exception], ...] = (SandboxError,)

    def __init__(self, subnet: str, prefix: str) -> None:
        self.subnet = ipaddress.ip_network(subnet)
        # .1 is podman's gateway; .2 and .3 stay reserved as in an AWS subnet.
        self._reserved = {self.subnet.network_address + i for i in range(4)} | {self.subnet.broadcast_address}
        self.prefix = prefix
        self._applied: dict[str, str] | None = None
        self._checked_at = 0.0
        self._retry_at: dict[str, float] = {}
        self._warned: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reconcile")

    def wanted(self) -> dict[str, WantedHost]:
        """The containers that should exist now, by name, each running or stopped."""
        raise NotImplementedError

    def once(self) -> None:
        """One pass: ask the cloud, and touch podman only if something changed (or every few seconds)."""
        wanted = self.wanted()
        powers = {name: w.power for name, w in wanted.items()}
        now = time.monotonic()
        if powers == self._applied and now - self._checked_at < _RECHECK_PODMAN_EVERY:
            return
        actual = list_hosts(f"{self.prefix}-")
        self._checked_at = now
        removals = [_Action(name, "removed", remove_host, (name,)) for name in actual if name not in wanted]
        changes = []
        for name, want in wanted.items():
            have = actual.get(name)
            if want.power == "running" and have is None:
                changes.append(_Action(name, "", want.create, ()))
            elif want.power == "running" and have != "running":
                changes.append(_Action(name, "started", start_stopped_host, (name,)))
            elif want.power == "stopped" and have == "running":
                changes.append(_Action(name, "stopped", stop_host, (name,)))
        # Removals first: a deleted instance's IP may already belong to a new one.
        ok = self._run(removals) and self._run(changes)
        self._applied = powers if ok else None

    def usable_ip(self, instance_id: str, ip: str | None) -> bool:
        """Whether IP is one a host can have on the sandbox network; say once per instance why not."""
        reason = None
        if ip is None:
            reason = "has no IP address"
        elif ipaddress.ip_address(ip) not in self.subnet:
            reason = f"has IP {ip}, outside the sandbox subnet {self.subnet}: put it there"
        elif ipaddress.ip_address(ip) in self._reserved:
            reason = f"has IP {ip}, which is reserved (podman's gateway is .1; .2 and .3 are kept free)"
        if reason is None:
            return True
        if instance_id not in self._warned:
            self._warned.add(instance_id)
            _log.warning("instance %s %s; no host started for it", instance_id, reason)
        return False

    def _run(self, actions: list[_Action]) -> bool:
        """Run ACTIONS in parallel; log failures and hold each failed container off for a while."""
        now = time.monotonic()
        due = [a for a in actions if self._retry_at.get(a.container, 0.0) <= now]
        results = list(self._pool.map(self._attempt, due))
        return all(results) and len(due) == len(actions)

    def _attempt(self, action: _Action) -> bool:
        try:
            action.func(*action.args)
        except self.errors as exc:
            _log.error("%s failed, retrying in %.0fs: %s", action, _RETRY_FAILED_AFTER, exc)
            self._retry_at[action.container] = time.monotonic() + _RETRY_FAILED_AFTER
            return False
        self._retry_at.pop(action.container, None)
        if action.done:
            _log.info("%s %s", action.done, action.container)
        return True


# --- command line: hosts for tools that run outside the sandbox (molecule's create and destroy) ----

_FIRST_HOST = 10  # .1 is podman's gateway, .2 and .3 stay reserved as in an AWS subnet


def _up(args: argparse.Namespace) -> dict[str, Any]:
    """Start PREFIX-HOSTNAME for each hostname on NETWORK, keeping those already there; describe them."""
    ensure_image(args.state_dir)
    subnet = allocate_network(args.network)
    keys = [line for line in args.authorized_keys.read_text().splitlines() if line.strip()]
    existing = list_hosts(f"{args.prefix}-")
    started = []
    for index, hostname in enumerate(args.hostnames):
        if not valid_hostname(hostname):
            raise SandboxError(f"{hostname!r} is not a hostname")
        container, address = f"{args.prefix}-{hostname}", str(subnet.network_address + _FIRST_HOST + index)
        state = existing.get(container)
        if state is None:
            start_host(container, args.network, address, keys, hostname, restart=args.restart)
        elif state != "running":
            start_stopped_host(container)
        started.append({"hostname": hostname, "container": container, "address": address})
    return {
        "network": args.network,
        "subnet": str(subnet),
        "reboot_command": REBOOT_COMMAND,
        "boot_time_command": BOOT_TIME_COMMAND,
        "hosts": started,
    }


def _down(args: argparse.Namespace) -> dict[str, Any]:
    """Remove every PREFIX-* host, then NETWORK; nothing to remove is no error."""
    gone = sorted(list_hosts(f"{args.prefix}-"))
    remove_hosts(gone)
    remove_network(args.network)
    return {"network": args.network, "removed": gone}


def main(argv: list[str] | None = None) -> None:
    """Start (up) or remove (down) a few hosts on a network of their own; print what was done as JSON."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.hosts", description=main.__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_CACHE_DIR, help="containers.conf and image cache")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start HOSTNAME... as containers PREFIX-HOSTNAME on NETWORK")
    up.add_argument("--network", required=True, help="podman network, created on a free /24 of " + SANDBOX_RANGE)
    up.add_argument("--prefix", required=True, help="container names are PREFIX-HOSTNAME")
    up.add_argument("--authorized-keys", type=Path, required=True, help="file of public keys root accepts")
    up.add_argument("--restart", default="always", help="podman restart policy (always: reboots come back)")
    up.add_argument("hostnames", nargs="+", metavar="HOSTNAME")
    up.set_defaults(run=_up)
    down = commands.add_parser("down", help="remove the containers PREFIX-* and NETWORK")
    down.add_argument("--network", required=True)
    down.add_argument("--prefix", required=True)
    down.set_defaults(run=_down)
    args = parser.parse_args(argv)
    configure(args.state_dir)
    try:
        print(json.dumps(args.run(args)))
    except (SandboxError, OSError) as exc:
        sys.exit(f"python -m sandbox.hosts {args.command}: {exc}")


if __name__ == "__main__":
    main()
