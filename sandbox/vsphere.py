"""vSphere for the sandbox: govmomi's vCenter simulator whose VMs become real podman hosts reachable over SSH.

``start()`` builds the simulator once (a small Go program over Debian's govmomi simulator package,
patched: see ``sandbox/vcsim/README.md``) and runs ``python -m sandbox.vsphere`` as a daemon: the
simulator on 127.0.0.1 (https, self-signed, one generated login) plus a reconcile loop that makes one
container follow each VM: a powered-on VM whose guest reports an IP on the sandbox's podman network
runs as a host with that IP, a powered-off one is stopped, a destroyed one removed.

A host's root logs in with the keys in the VM's ``extraConfig`` key ``guestinfo.jarvis.authorized_keys``
(one key a line, read at the first boot like cloud-init's), and its hostname is the guest's hostname
(from the clone's customization), else the VM's name.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# pyvmomi's stubs leave its functions and data object constructors untyped.
# mypy: untyped-calls-exclude="pyVmomi,pyVim"
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from sandbox import hosts
from sandbox._process import SandboxError, wait_for_port
from sandbox._provider import HostNetwork, Provider, become_daemon, container_name, reconcile_until

__all__ = ["AUTHORIZED_KEYS_KEY", "TEMPLATE", "VsphereInfo", "build_simulator", "main", "start", "stop"]

# The simulator's VPX inventory, and the template start() adds to it.
DATACENTER = "DC0"
CLUSTER = "DC0_C0"
DATASTORE = "LocalDS_0"
PORTGROUP = "DC0_DVPG0"
TEMPLATE = "debian-12-template"
AUTHORIZED_KEYS_KEY = "guestinfo.jarvis.authorized_keys"
USERNAME = "administrator@vsphere.local"
_TEMPLATE_SOURCE = "DC0_C0_RP0_VM0"
_RECONCILE_EVERY = 0.25
_API_ERRORS = (vmodl.MethodFault, OSError, http.client.HTTPException)
# What the reconciler reads of every VM in one property collector call per pass.
_VM_PROPERTIES = [
    "name",
    "runtime.powerState",
    "config.template",
    "config.extraConfig",
    "guest.ipAddress",
    "guest.hostName",
]

# The simulator's sources: Debian's govmomi, with the files below patched by ours.
_VCSIM = Path(__file__).resolve().parent / "vcsim"
_GOCODE = Path("/usr/share/gocode")
_GOVMOMI = _GOCODE / "src/github.com/vmware/govmomi"
_PATCHED = ("property_collector.go", "virtual_machine.go")
_OURS = ("main.go", "simulator.patch", "simulator/jarvis_guest.go")
_GO_BUILD = ["build", "-trimpath", "-ldflags=-s -w"]  # no symbols or debug info: 18 MB instead of 26

log = logging.getLogger("sandbox.vsphere")


@dataclass(frozen=True)
class VsphereInfo:
    """Where the sandbox's vCenter answers, its login, and the inventory deployments use."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    datacenter: str
    cluster: str
    datastore: str
    network: str  # the vSphere portgroup VMs connect to
    template: str
    podman_network: str  # the podman network whose subnet the VMs' guest IPs are in
    subnet: str
    gateway: str
    prefix: str

    def env(self) -> dict[str, str]:
        """The environment variables ``jarvis.deploy.vsphere_instance`` falls back to."""
        return {
            "VMWARE_HOST": self.host,
            "VMWARE_PORT": str(self.port),
            "VMWARE_USER": self.username,
            "VMWARE_PASSWORD": self.password,
            "VMWARE_VALIDATE_CERTS": "false",
        }

    def container_name(self, vm_id: str) -> str:
        """The podman container that plays the VM whose managed object ID is VM_ID (e.g. vm-57)."""
        return container_name(self.prefix, vm_id)


_PROVIDER = Provider(
    daemon="vsphere",
    module="sandbox.vsphere",
    info_file="vsphere.json",
    info_type=VsphereInfo,
    port_of=lambda info: info.port,
    title="the sandbox vCenter",
    network_key="podman_network",
)


def start(state_dir: Path, prefix: str, timeout: float = 60.0) -> VsphereInfo:
    """Start the simulator + reconciler with state under STATE_DIR, containers named PREFIX-<vm id>.

    Reuses a sandbox vCenter already running there with the same prefix. Builds the simulator and
    the host image first if this machine has none (ten seconds, and about a minute, once).
    """
    state_dir = state_dir.resolve()
    running = _PROVIDER.reuse(state_dir, prefix)
    if running is not None:
        return running
    binary = build_simulator(hosts.DEFAULT_CACHE_DIR)
    network = _PROVIDER.new_hosts(state_dir, prefix)
    password = secrets.token_urlsafe(18)
    return _PROVIDER.launch(
        state_dir,
        network,
        functools.partial(_create_world, network, password),
        timeout,
        args=["--binary", str(binary)],
        # The login goes through the environment: a command line is visible to every user.
        env=_login_env(USERNAME, password),
        errors=_API_ERRORS,
    )


def stop(state_dir: Path) -> None:
    """Stop the daemon in STATE_DIR, then remove every host container it made and its network."""
    _PROVIDER.stop(state_dir)


def _create_world(network: HostNetwork, password: str, port: int) -> VsphereInfo:
    """The simulator's login and inventory, with the template deployments clone added to it."""
    info = VsphereInfo(
        host="127.0.0.1",
        port=port,
        username=USERNAME,
        password=password,
        datacenter=DATACENTER,
        cluster=CLUSTER,
        datastore=DATASTORE,
        network=PORTGROUP,
        template=TEMPLATE,
        podman_network=network.name,
        subnet=str(network.subnet),
        gateway=network.gateway,
        prefix=network.prefix,
    )
    with _connection(info.host, info.port, info.username, info.password) as content:
        _create_template(content)
    return info


def _login_env(username: str, password: str) -> dict[str, str]:
    return {"VCSIM_USERNAME": username, "VCSIM_PASSWORD": password}


@contextlib.contextmanager
def _connection(host: str, port: int, username: str, password: str) -> Iterator[vim.ServiceInstanceContent]:
    """A pyvmomi session with the simulator (self-signed certificate), logged out afterwards."""
    si = SmartConnect(host=host, port=port, user=username, pwd=password, disableSslCertValidation=True)
    try:
        yield si.RetrieveContent()
    finally:
        Disconnect(si)


def _create_template(content: vim.ServiceInstanceContent) -> None:
    """Clone the inventory's DC0_C0_RP0_VM0 into the template deployments clone, and mark it so."""
    datacenter = _by_name(content, vim.Datacenter, DATACENTER)
    if _by_name(content, vim.VirtualMachine, TEMPLATE, required=False) is not None:
        return
    source = _by_name(content, vim.VirtualMachine, _TEMPLATE_SOURCE)
    cluster = _by_name(content, vim.ClusterComputeResource, CLUSTER)
    spec = vim.vm.CloneSpec(
        location=vim.vm.RelocateSpec(pool=cluster.resourcePool),
        config=vim.vm.ConfigSpec(annotation=f"Debian 12 (bookworm) with sshd: podman image {hosts.IMAGE}"),
    )
    WaitForTask(source.CloneVM_Task(folder=datacenter.vmFolder, name=TEMPLATE, spec=spec))
    _by_name(content, vim.VirtualMachine, TEMPLATE).MarkAsTemplate()


def _by_name(content: vim.ServiceInstanceContent, kind: type[Any], name: str, required: bool = True) -> Any:
    with _container_view(content, kind) as view:
        for entity in view.view:
            if entity.name == name:
                return entity
    if required:
        raise SandboxError(f"the simulator's inventory has no {kind.__name__} {name}")
    return None


@contextlib.contextmanager
def _container_view(content: vim.ServiceInstanceContent, kind: type[Any]) -> Iterator[vim.view.ContainerView]:
    """A view of every KIND in the inventory, destroyed afterwards (vCenter keeps views per session)."""
    if content.viewManager is None:
        raise SandboxError("the simulator has no view manager")
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        yield view
    finally:
        view.DestroyView()


# --- building the simulator ------------------------------------------------------------------------


def build_simulator(cache_dir: Path = hosts.DEFAULT_CACHE_DIR) -> Path:
    """Build the patched simulator once per version of its sources (~10 s) and return the binary."""
    binary = cache_dir / f"vcsim-{_source_hash()}"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None or not _GOVMOMI.is_dir():
        raise SandboxError(
            "building the vSphere simulator needs apt-get install golang-go golang-github-vmware-govmomi-dev"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with hosts.file_lock(cache_dir / "vcsim.lock"):
        if binary.exists():  # another process built it while we waited for the lock
            return binary
        work = Path(tempfile.mkdtemp(prefix="vcsim-build-", dir=cache_dir))
        try:
            main_dir = _prepare_gopath(work)
            env = {
                **os.environ,
                "GOPATH": f"{work}{os.pathsep}{_GOCODE}",
                "GO111MODULE": "off",
                "GOCACHE": str(cache_dir / "go-build"),
                "GOFLAGS": "",
            }
            started = time.monotonic()
            proc = subprocess.run(  # noqa: S603 - fixed argv
                [go, *_GO_BUILD, "-o", str(work / "vcsim"), "."],
                cwd=main_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                raise SandboxError(f"building the vSphere simulator failed:\n{proc.stderr[-2000:]}")
            (work / "vcsim").replace(binary)
            log.info("built %s in %.0fs", binary, time.monotonic() - started)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return binary


def _source_hash() -> str:
    """Hash of our sources and of the Debian files we patch: a new version of either is a new build."""
    digest = hashlib.sha256(" ".join(_GO_BUILD).encode())
    for path in [*(_VCSIM / name for name in _OURS), *(_GOVMOMI / "simulator" / name for name in _PATCHED)]:
        with contextlib.suppress(OSError):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _prepare_gopath(work: Path) -> Path:
    """A GOPATH in WORK whose govmomi simulator package shadows Debian's; return main.go's directory.

    Go resolves a package from the first GOPATH entry that has its directory, so the package is
    rebuilt here from symlinks to Debian's files, with only the patched ones copied, plus ours.
    """
    govmomi = work / "src/github.com/vmware/govmomi"
    simulator = govmomi / "simulator"
    simulator.mkdir(parents=True)
    for entry in _GOVMOMI.iterdir():
        if entry.name != "simulator":
            (govmomi / entry.name).symlink_to(entry)
    for entry in (_GOVMOMI / "simulator").iterdir():
        if not entry.name.endswith("_test.go") and entry.name not in _PATCHED:
            (simulator / entry.name).symlink_to(entry)
    for name in _PATCHED:
        shutil.copyfile(_GOVMOMI / "simulator" / name, simulator / name)
    shutil.copyfile(_VCSIM / "simulator/jarvis_guest.go", simulator / "jarvis_guest.go")
    proc = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "apply", "-p1", str(_VCSIM / "simulator.patch")],
        cwd=simulator,
        # No repository above the build directory may claim the patch's paths.
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(work)},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SandboxError(f"sandbox/vcsim/simulator.patch does not apply to Debian's govmomi: {proc.stderr.strip()}")
    main_dir = work / "src/jarvis-vcsim"
    main_dir.mkdir(parents=True)
    shutil.copyfile(_VCSIM / "main.go", main_dir / "main.go")
    return main_dir


# --- the daemon: the simulator plus the reconcile loop ---------------------------------------------


class Reconciler(hosts.HostReconciler):
    """Makes the podman containers PREFIX-<vm id> follow the simulator's VMs, one pass at a time."""

    errors = (SandboxError, *_API_ERRORS)

    def __init__(self, connect: Callable[[], vim.ServiceInstance], network: str, subnet: str, prefix: str) -> None:
        super().__init__(subnet, prefix)
        self._connect = connect
        self._si: vim.ServiceInstance | None = None
        self._network = network

    def close(self) -> None:
        if self._si is not None:
            with contextlib.suppress(*self.errors):
                Disconnect(self._si)
            self._si = None

    def wanted(self) -> dict[str, hosts.WantedHost]:
        try:
            vms = self._vms()
        except self.errors:
            self.close()  # a new session next pass
            raise
        wanted = {}
        for vm_id, props in vms.items():
            if props.get("config.template"):
                continue
            name = container_name(self.prefix, vm_id)
            if props.get("runtime.powerState") != "poweredOn":
                wanted[name] = hosts.WantedHost("stopped", _never)
            elif self.usable_ip(vm_id, props.get("guest.ipAddress")):
                wanted[name] = hosts.WantedHost("running", functools.partial(self._create, name, vm_id, props))
        return wanted

    def _vms(self) -> dict[str, dict[str, Any]]:
        """Every VM's _VM_PROPERTIES, by managed object ID, in one property collector call."""
        if self._si is None:
            self._si = self._connect()
        content = self._si.RetrieveContent()
        with _container_view(content, vim.VirtualMachine) as view:
            objects = self._retrieve(content, view, _VM_PROPERTIES)
        return {obj.obj._moId: {p.name: p.val for p in obj.propSet} for obj in objects}

    @staticmethod
    def _retrieve(
        content: vim.ServiceInstanceContent, view: vim.view.ContainerView, properties: list[str]
    ) -> list[vmodl.query.PropertyCollector.ObjectContent]:
        collector = vmodl.query.PropertyCollector
        spec = collector.FilterSpec(
            objectSet=[
                collector.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[
                        collector.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
                    ],
                )
            ],
            propSet=[collector.PropertySpec(type=vim.VirtualMachine, pathSet=properties)],
        )
        pc = content.propertyCollector
        result = pc.RetrievePropertiesEx([spec], collector.RetrieveOptions())
        objects = []
        while result is not None:
            objects.extend(result.objects)
            result = pc.ContinueRetrievePropertiesEx(result.token) if result.token else None
        return objects

    def _create(self, name: str, vm_id: str, props: dict[str, Any]) -> None:
        keys = _authorized_keys(props.get("config.extraConfig") or [])
        hostname = next(
            (str(c) for c in (props.get("guest.hostName"), props.get("name")) if hosts.valid_hostname(c)),
            vm_id,
        )
        ip = str(props["guest.ipAddress"])
        hosts.start_host(name, self._network, ip, keys, hostname)
        log.info("created %s: %s at %s, %d key(s)", name, hostname, ip, len(keys))


def _authorized_keys(extra_config: list[vim.option.OptionValue]) -> list[str]:
    """The keys in a VM's extraConfig guestinfo.jarvis.authorized_keys, one a line (the last such key wins)."""
    keys: list[str] = []
    for option in extra_config:
        if option.key == AUTHORIZED_KEYS_KEY and isinstance(option.value, str):
            keys = [line.strip() for line in option.value.splitlines() if line.strip()]
    return keys


def _never() -> None:
    """The creation of a container that is only ever to be stopped: there is nothing to create."""


def main(argv: list[str] | None = None) -> None:
    """Run the simulator on 127.0.0.1:PORT and keep the podman hosts in step until SIGTERM."""
    parser = _PROVIDER.arguments(main.__doc__)
    parser.add_argument("--binary", type=Path, required=True, help="the simulator build_simulator() made")
    args = parser.parse_args(argv)
    username, password = os.environ["VCSIM_USERNAME"], os.environ["VCSIM_PASSWORD"]
    stopping = become_daemon(args.state_dir)

    # The simulator's datastores are directories under $TMPDIR: keep them in the state directory.
    tmp = args.state_dir / "vcsim-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    simulator = subprocess.Popen(  # noqa: S603 - argv built by start()
        [str(args.binary), "-port", str(args.port), "-dhcp-subnet", args.subnet],
        env={**os.environ, **_login_env(username, password), "TMPDIR": str(tmp)},
    )
    connect = functools.partial(
        SmartConnect,
        host="127.0.0.1",
        port=args.port,
        user=username,
        pwd=password,
        disableSslCertValidation=True,
    )
    reconciler = Reconciler(connect, args.network, args.subnet, args.prefix)
    try:
        wait_for_port(args.port, 30.0)
        log.info(
            "vCenter simulator on https://127.0.0.1:%d/sdk; hosts %s-<vm id> on %s",
            args.port,
            args.prefix,
            args.network,
        )
        reconcile_until(stopping, reconciler, _RECONCILE_EVERY, api_alive=lambda: simulator.poll() is None)
        if simulator.poll() is not None:
            log.error("the simulator exited with status %s", simulator.returncode)
    finally:
        reconciler.close()
        simulator.terminate()
        try:
            simulator.wait(5)
        except subprocess.TimeoutExpired:
            simulator.kill()
            simulator.wait()


if __name__ == "__main__":
    main()
