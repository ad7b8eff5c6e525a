# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vSphere VMs found by their name, behind the jarvis.deploy.vsphere_instance module.

The VM is looked up and changed through one Vcenter session (_vcenter). The owner mark is a line
``jarvis-owner: <fqdn>`` in the VM's annotation (its notes); other lines of the notes are left alone.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import HOSTNAME_RE, owner_identity
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import InstanceTaskBase, poll, run_instance_task
from ansible_collections.jarvis.deploy.plugins.module_utils._vcenter import (
    FIRST_POLL,
    PYVMOMI_IMPORT_ERROR,
    Vcenter,
    VsphereError,
    vim,
)

STATES = ("present", "running", "stopped", "absent")
# The extraConfig key a new VM's authorized keys go to, one a line, for its first boot to read.
AUTHORIZED_KEYS_KEY = "guestinfo.jarvis.authorized_keys"
POWER_STATES = {"poweredOn": "running", "poweredOff": "stopped", "suspended": "suspended"}
VM_PROPERTIES = (
    "name",
    "config.template",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "runtime.powerState",
    "guest.ipAddress",
    "guest.net",
    "guest.toolsRunningStatus",
    "config.annotation",
)
OWNER_KEY = "jarvis-owner"
OWNER_LINE_RE = re.compile(r"^\s*jarvis-owner\s*:(.*)$", re.IGNORECASE)


def power_state(props):
    return POWER_STATES.get(str(props.get("runtime.powerState")), str(props.get("runtime.powerState")))


def guest_ipv4(props):
    """The guest's first usable IPv4 address as VMware Tools report it, or None."""
    candidates = [props.get("guest.ipAddress")]
    for nic in props.get("guest.net") or []:
        candidates.extend(nic.ipAddress or [])
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(str(candidate))
        except ValueError:
            continue
        if address.version == 4 and not (address.is_link_local or address.is_loopback or address.is_unspecified):
            return str(address)
    return None


def owner_mark(annotation):
    """Whom a VM's notes mark it as made for (their jarvis-owner lines): one fqdn, several joined, or None."""
    marks = []
    for line in (annotation or "").splitlines():
        match = OWNER_LINE_RE.match(line)
        mark = owner_identity(match.group(1)) if match else None
        if mark and mark not in marks:
            marks.append(mark)
    return ", ".join(sorted(marks)) or None


def marked_annotation(annotation, owner):
    """ANNOTATION with OWNER's mark as its only jarvis-owner line (the other lines kept, in order)."""
    lines = [line for line in (annotation or "").splitlines() if not OWNER_LINE_RE.match(line)]
    return "\n".join(lines + [f"{OWNER_KEY}: {owner}"])


def summary(vm, props, datacenter):
    """What the module returns about a VM; {} when there is none."""
    if vm is None:
        return {}
    return {
        "id": vm._moId,
        "name": props.get("name"),
        "state": power_state(props),
        "private_ip": guest_ipv4(props),
        "public_ip": None,
        "cpus": props.get("config.hardware.numCPU"),
        "memory_mb": props.get("config.hardware.memoryMB"),
        "datacenter": datacenter,
        "owner": owner_mark(props.get("config.annotation")),
    }


class InstanceTask(InstanceTaskBase):
    """One run of vsphere_instance: look up the VM by name, compare with what is wanted, then act (or not)."""

    def __init__(self, module, vcenter):
        super().__init__(module)
        self.vc = vcenter
        self.name = self.params["name"]
        self._datacenter = None
        self._planned = None  # the new VM check mode expects, for the diff

    # --- lookups ---------------------------------------------------------------------------------

    def datacenter(self):
        """The datacenter of the datacenter option, or None when it is not given."""
        name = self.params["datacenter"]
        if name and self._datacenter is None:
            self._datacenter = self.vc.one(self.vc.content.rootFolder, vim.Datacenter, name, "datacenter", "in vCenter")
        return self._datacenter

    def find_vm(self):
        """The VM named NAME (in the datacenter, if given), with its properties; (None, {}) if there is none."""
        datacenter = self.datacenter()
        root = datacenter.vmFolder if datacenter is not None else self.vc.content.rootFolder
        found = self.vc.retrieve(f"looking up VM {self.name}", root, vim.VirtualMachine, VM_PROPERTIES)
        matches = [(vm, props) for vm, props in found.items() if props.get("name") == self.name]
        if len(matches) > 1:
            ids = ", ".join(sorted(match[0]._moId for match in matches))
            raise VsphereError(f"several VMs are named {self.name}: {ids}; rename or remove the extra ones")
        if not matches:
            return None, {}
        vm, props = matches[0]
        if props.get("config.template"):
            raise VsphereError(f"{self.name} ({vm._moId}) is a template, not a VM; vsphere_instance leaves it alone")
        return vm, props

    def reload(self, vm):
        return self.vc.properties(f"reading VM {self.name}", vm, VM_PROPERTIES)

    def datacenter_name(self, vm):
        return self.params["datacenter"] or self.vc.datacenter_of(vm)

    # --- the run ---------------------------------------------------------------------------------

    def look_up(self):
        vm, props = self.find_vm()
        return (vm, props), summary(vm, props, self.datacenter_name(vm) if vm is not None else None)

    def named(self, current, before):
        return f"VM {self.name} ({current[0]._moId})"

    def predicted_new(self, state):
        return dict(self._planned or {})

    def predicted_change(self, before, state):
        predicted = dict(before)
        if self.adopting:
            predicted["owner"] = self.owner
        if state in ("running", "stopped"):
            predicted["state"] = state
        if before["state"] == "stopped" or state == "stopped":  # resized only while powered off
            for option in ("cpus", "memory_mb"):
                if self.params[option]:
                    predicted[option] = self.params[option]
        return predicted

    def ensure_absent(self, current, before):
        vm, props = current
        if vm is None:
            return {}
        label = f"VM {self.name} ({vm._moId})"
        if props.get("runtime.powerState") != "poweredOff":
            self._act(f"powered off {label}", f"power off {label}")
            if not self.module.check_mode:
                self._power_off(vm, label)
        self._act(f"destroyed {label}", f"destroy {label}")
        if self.module.check_mode:
            return before
        task = self.vc.call(f"destroying {label}", vm.Destroy_Task)
        self.vc.wait_task(f"destroying {label}", task, self.budget)
        return {}

    def create(self, state):
        params = self.params
        for option in ("template", "datacenter"):
            if not params[option]:
                raise VsphereError(f"no VM named {self.name} exists; creating one needs {option}")
        hostname, domain = self._guest_names()
        datacenter = self.datacenter()
        where = f"in datacenter {params['datacenter']}"
        template = self.vc.one(datacenter.vmFolder, vim.VirtualMachine, params["template"], "template", where)
        template_props = self.vc.properties(
            f"reading template {params['template']}",
            template,
            ["config.hardware.numCPU", "config.hardware.memoryMB", "config.hardware.device"],
        )
        power_on = state != "stopped"
        self._planned = {
            "name": self.name,
            "state": "running" if power_on else "stopped",
            "cpus": params["cpus"] or template_props.get("config.hardware.numCPU"),
            "memory_mb": params["memory_mb"] or template_props.get("config.hardware.memoryMB"),
            "datacenter": params["datacenter"],
            "owner": self.owner,
        }
        nics = [
            d
            for d in template_props.get("config.hardware.device") or []
            if isinstance(d, vim.vm.device.VirtualEthernetCard)
        ]
        spec = vim.vm.CloneSpec(
            location=self._relocate_spec(datacenter, nics),
            config=self._config_spec(),
            customization=self._customization(hostname, domain, len(nics)),
            powerOn=power_on,
            template=False,
        )
        folder = self._folder(datacenter)
        source = params["template"]
        planned = f"clone VM {self.name} from template {source}"
        if self.module.check_mode:
            self._act(planned, planned)
            if power_on:
                self._act(planned, f"power on VM {self.name}")
            return {}
        what = f"cloning VM {self.name} from template {source}"
        task = self.vc.call(what, template.CloneVM_Task, folder=folder, name=self.name, spec=spec)
        vm = self.vc.wait_task(what, task, self.budget)
        label = f"VM {self.name} ({vm._moId})"
        self._act(f"cloned {label} from template {source}", planned)
        if power_on:
            self._act(f"powered on {label}", f"power on VM {self.name}")
        props = self.reload(vm)
        if self.owner and owner_mark(props.get("config.annotation")) != self.owner:
            self._mark(vm, props, label)  # a vCenter that dropped the clone spec's annotation
            props = self.reload(vm)
        if power_on and params["wait"]:
            props = self._wait_for_ip(vm, label)
        return summary(vm, props, params["datacenter"])

    def converge(self, current, before, state):
        vm, props = current
        label = f"VM {self.name} ({vm._moId})"
        if self.adopting and not self.module.check_mode:
            self._mark(vm, props, label)
        power = props.get("runtime.powerState")
        if state == "stopped" and power != "poweredOff":
            self._act(f"powered off {label}", f"power off {label}")
            if not self.module.check_mode:
                self._power_off(vm, label)
            power = "poweredOff"
        self._resize(vm, props, label, power)
        if state == "running" and power != "poweredOn":
            self._act(f"powered on {label}", f"power on {label}")
            if not self.module.check_mode:
                task = self.vc.call(f"powering on {label}", vm.PowerOnVM_Task)
                self.vc.wait_task(f"powering on {label}", task, self.budget)
                if self.params["wait"]:
                    return summary(vm, self._wait_for_ip(vm, label), before["datacenter"])
        if self.module.check_mode or not self.changed:
            return before
        return summary(vm, self.reload(vm), before["datacenter"])

    def _resize(self, vm, props, label, power):
        """Set CPUs and memory to the options' values: in place while the VM is off, else warn."""
        changes = []
        spec = vim.vm.ConfigSpec()
        for option, path, unit, field in (
            ("cpus", "config.hardware.numCPU", " CPUs", "numCPUs"),
            ("memory_mb", "config.hardware.memoryMB", " MB", "memoryMB"),
        ):
            wanted, have = self.params[option], props.get(path)
            if wanted and wanted != have:
                changes.append(f"{have} -> {wanted}{unit}")
                setattr(spec, field, wanted)
        if not changes:
            return
        listed = ", ".join(changes)
        if power != "poweredOff":
            self.module.warn(
                f"{label} is running with {listed.replace(' -> ', ' instead of ')}; vsphere_instance resizes a VM "
                "only while it is powered off: run it with state=stopped, then state=running"
            )
            return
        self._act(f"reconfigured {label}: {listed}", f"reconfigure {label}: {listed}")
        if not self.module.check_mode:
            task = self.vc.call(f"reconfiguring {label}", vm.ReconfigVM_Task, spec=spec)
            self.vc.wait_task(f"reconfiguring {label}", task, self.budget)

    def _mark(self, vm, props, label):
        """Give the VM's notes the owner mark (the adoption or creation was recorded as an action)."""
        spec = vim.vm.ConfigSpec(annotation=marked_annotation(props.get("config.annotation"), self.owner))
        task = self.vc.call(f"setting the owner mark of {label}", vm.ReconfigVM_Task, spec=spec)
        self.vc.wait_task(f"setting the owner mark of {label}", task, self.budget)

    def _power_off(self, vm, label):
        task = self.vc.call(f"powering off {label}", vm.PowerOffVM_Task)
        self.vc.wait_task(f"powering off {label}", task, self.budget)

    def _wait_for_ip(self, vm, label):
        """Poll until the guest reports an IPv4 address (the option's, if given) within the budget."""
        want = self.params["ip"]
        last = {}

        def attempt():
            props = self.reload(vm)
            last["ip"] = ip = guest_ipv4(props)
            if props.get("runtime.powerState") != "poweredOn":
                raise VsphereError(f"{label} powered off while waiting for its guest IP address")
            return bool(ip and (want is None or ip == want)), props

        def expired():
            wanted = f" {want}" if want else ""
            return VsphereError(
                f"{label} reported no guest IP address{wanted} within wait_timeout ({self.budget.seconds}s for "
                f"the whole task; it reports {last['ip'] or 'none'}): is VMware Tools running in the guest?"
            )

        return poll(self.budget, attempt, expired, FIRST_POLL)

    # --- the clone spec --------------------------------------------------------------------------

    def _guest_names(self):
        """The guest's hostname and domain: the options, else from the VM name (web1.example.com)."""
        first, _dot, rest = self.name.partition(".")
        hostname = self.params["hostname"] or first
        domain = self.params["domain"] or rest or "localdomain"
        if not HOSTNAME_RE.match(hostname):
            raise VsphereError(
                f"{hostname!r} cannot be a guest hostname: letters, digits and inner hyphens, at most 63; set hostname"
            )
        return hostname, domain

    def _relocate_spec(self, datacenter, nics):
        params = self.params
        where = f"in datacenter {params['datacenter']}"
        spec = vim.vm.RelocateSpec()
        host = None
        if params["esxi_host"]:
            host = self.vc.one(datacenter.hostFolder, vim.HostSystem, params["esxi_host"], "ESXi host", where)
            spec.host = host
        cluster = None
        if params["cluster"]:
            cluster = self.vc.one(
                datacenter.hostFolder, vim.ClusterComputeResource, params["cluster"], "cluster", where
            )
        if params["resource_pool"]:
            root = cluster if cluster is not None else datacenter.hostFolder
            spec.pool = self.vc.one(root, vim.ResourcePool, params["resource_pool"], "resource pool", where)
        elif cluster is not None:
            spec.pool = self.vc.properties("reading cluster", cluster, ["resourcePool"]).get("resourcePool")
        elif host is not None:
            parent = self.vc.properties("reading ESXi host", host, ["parent"]).get("parent")
            spec.pool = self.vc.properties("reading ESXi host", parent, ["resourcePool"]).get("resourcePool")
        else:
            raise VsphereError(
                f"no VM named {self.name} exists; creating one needs cluster, esxi_host or resource_pool"
            )
        if params["datastore"]:
            spec.datastore = self.vc.one(
                datacenter.datastoreFolder, vim.Datastore, params["datastore"], "datastore", where
            )
        if params["network"]:
            if not nics:
                raise VsphereError(
                    f"template {params['template']} has no network adapter to connect to {params['network']}"
                )
            spec.deviceChange = [self._nic_change(datacenter, nics[0])]
        return spec

    def _nic_change(self, datacenter, nic):
        """Connect the template's first network adapter to the network option's portgroup."""
        name = self.params["network"]
        network = self.vc.one(
            datacenter.networkFolder, vim.Network, name, "network", f"in datacenter {self.params['datacenter']}"
        )
        if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
            props = self.vc.properties(f"reading portgroup {name}", network, ["key", "config.distributedVirtualSwitch"])
            switch = props.get("config.distributedVirtualSwitch")
            uuid = self.vc.properties(f"reading the switch of portgroup {name}", switch, ["uuid"]).get("uuid")
            nic.backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                port=vim.dvs.PortConnection(portgroupKey=props.get("key"), switchUuid=uuid)
            )
        else:
            nic.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=name, network=network)
        nic.connectable = vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, connected=True, allowGuestControl=True
        )
        return vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=nic)

    def _config_spec(self):
        params = self.params
        spec = vim.vm.ConfigSpec()
        if params["cpus"]:
            spec.numCPUs = params["cpus"]
        if params["memory_mb"]:
            spec.memoryMB = params["memory_mb"]
        keys = [key.strip() for key in params["authorized_keys"] or [] if key and key.strip()]
        if keys:
            spec.extraConfig = [vim.option.OptionValue(key=AUTHORIZED_KEYS_KEY, value="\n".join(keys))]
        if self.owner:
            spec.annotation = marked_annotation("", self.owner)
        return spec

    def _customization(self, hostname, domain, nic_count):
        """Linux guest customization: hostname and domain; a fixed IP on the first NIC, or DHCP."""
        params = self.params
        custom = vim.vm.customization
        adapters = []
        for index in range(nic_count):
            settings = custom.IPSettings()
            if index == 0 and params["ip"]:
                settings.ip = custom.FixedIp(ipAddress=params["ip"])
                settings.subnetMask = params["netmask"]
                if params["gateway"]:
                    settings.gateway = [params["gateway"]]
            else:
                settings.ip = custom.DhcpIpGenerator()
            adapters.append(custom.AdapterMapping(adapter=settings))
        global_settings = custom.GlobalIPSettings(dnsSuffixList=[domain])
        if params["dns_servers"]:
            global_settings.dnsServerList = list(params["dns_servers"])
        return custom.Specification(
            identity=custom.LinuxPrep(hostName=custom.FixedName(name=hostname), domain=domain, hwClockUTC=True),
            globalIPSettings=global_settings,
            nicSettingMap=adapters,
        )

    def _folder(self, datacenter):
        """The folder option (relative to the datacenter's VM folder, or an inventory path from /), else that folder."""
        folder = self.params["folder"]
        if not folder:
            return datacenter.vmFolder
        path = folder.strip("/") if folder.startswith("/") else f"{self.params['datacenter']}/vm/{folder.strip('/')}"
        found = self.vc.call(f"looking up folder {folder}", self.vc.content.searchIndex.FindByInventoryPath, path)
        if not isinstance(found, vim.Folder):
            raise VsphereError(f"folder {folder} not found (inventory path {path})")
        return found


def _validate(params):
    if params["ip"]:
        for option in ("ip", "netmask", "gateway"):
            value = params[option]
            if value:
                try:
                    ipaddress.IPv4Address(value)
                except ValueError:
                    raise VsphereError(f"{option} {value!r} is not an IPv4 address") from None
    for server in params["dns_servers"] or []:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise VsphereError(f"dns_servers entry {server!r} is not an IP address") from None
    for option in ("cpus", "memory_mb"):
        if params[option] is not None and params[option] < 1:
            raise VsphereError(f"{option} must be at least 1, not {params[option]}")


def run_vsphere_instance(module):
    """Entry point of the module: exit_json with the result, or fail_json with a safe message."""
    run_instance_task(module, "pyvmomi", PYVMOMI_IMPORT_ERROR, VsphereError, connect, InstanceTask)


def connect(params):
    """A session with the vCenter the options name, once the options make sense."""
    _validate(params)
    for option, variable in (
        ("vcenter_hostname", "VMWARE_HOST"),
        ("username", "VMWARE_USER"),
        ("password", "VMWARE_PASSWORD"),
    ):
        if not params[option]:
            raise VsphereError(f"no vCenter {option.replace('vcenter_', '')}: set {option} (or {variable})")
    return Vcenter(
        params["vcenter_hostname"],
        params["vcenter_port"],
        params["username"],
        params["password"],
        params["validate_certs"],
    )
