#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vsphere_instance
short_description: Clone, power on, power off or destroy the one vSphere VM of a host
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Makes sure the vSphere VM of one host exists and is powered on or off, or that it is gone.
  - The VM is found by its name, O(name), in the whole vCenter (in O(datacenter) if given). Several
    VMs of that name are an error, and so is a template of that name.
  - A new VM is cloned from O(template) with a relocate spec (O(datastore), O(resource_pool) or
    O(cluster), O(esxi_host), O(folder), the first network adapter moved to O(network)), its CPUs
    and memory set, and a Linux guest customization (hostname, domain, a fixed IP on the first
    network adapter or DHCP, DNS servers). It is powered on unless O(state=stopped), and the module
    waits until the guest reports its IP address.
  - The customization and O(authorized_keys) only apply when the VM is created. On an existing VM,
    different O(cpus) or O(memory_mb) are set in place while it is powered off (including when
    O(state=stopped) powers it off first); a powered-on VM is never powered off to be resized, the
    module warns instead.
  - 'The owner mark is a line C(jarvis-owner: <owner>) in the VM''s annotation (its notes), given to every
    VM cloned with O(owner) (and set with a reconfiguration right after the clone if the vCenter did not
    keep it). Adopting a VM replaces its C(jarvis-owner:) lines and keeps the rest of its notes.'
  - Talks to vCenter (or an ESXi host) with pyvmomi.
requirements:
  - pyvmomi
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
  - jarvis.deploy._owner
options:
  name:
    description:
      - The VM's name, for example C(loki) or C(loki.example.com). It identifies the VM.
    type: str
    required: true
  state:
    description:
      - V(running) clones the VM if needed and powers it on if it is off.
      - V(stopped) clones it (powered off) if needed, or powers it off.
      - V(present) clones it (powered on) if needed and leaves the power state of an existing one alone.
      - V(absent) powers it off and destroys it, disks included.
    type: str
    choices: [present, running, stopped, absent]
    default: running
  template:
    description: The template (or VM) to clone a new VM from. Required to create the VM.
    type: str
  datacenter:
    description:
      - The datacenter of the VM, for example C(DC0). Required to create the VM; an existing VM is
        looked up in it when given, else in the whole vCenter.
    type: str
  cluster:
    description:
      - The cluster whose root resource pool a new VM goes to (unless O(resource_pool) is given).
      - One of O(cluster), O(esxi_host) or O(resource_pool) is needed to create the VM.
    type: str
  esxi_host:
    description:
      - The ESXi host a new VM runs on. Without O(cluster) or O(resource_pool), its root resource
        pool is used too.
    type: str
  datastore:
    description: The datastore of a new VM's files. By default the template's.
    type: str
  folder:
    description:
      - The VM folder of a new VM, relative to the datacenter's VM folder (C(jarvis/web)), or a
        full inventory path starting with C(/) (C(/DC0/vm/jarvis/web)). By default the
        datacenter's VM folder.
    type: str
  resource_pool:
    description: The resource pool of a new VM, looked up in O(cluster) if given, else in the datacenter.
    type: str
  network:
    description:
      - The portgroup (standard or distributed) a new VM's first network adapter connects to, for
        example C(DC0_DVPG0). By default the template's.
    type: str
  cpus:
    description: Number of virtual CPUs. By default the template's.
    type: int
  memory_mb:
    description: Memory in MiB. By default the template's.
    type: int
  hostname:
    description:
      - The guest's hostname set by the customization of a new VM. By default the first label of O(name).
    type: str
  domain:
    description:
      - The guest's DNS domain set by the customization of a new VM. By default the rest of O(name)
        when it has dots, else C(localdomain).
    type: str
  ip:
    description:
      - A fixed IPv4 address for a new VM's first network adapter. Without it, the guest uses DHCP.
    type: str
  netmask:
    description: The subnet mask of O(ip), for example C(255.255.255.0). Required with O(ip).
    type: str
  gateway:
    description: The default gateway that goes with O(ip).
    type: str
  dns_servers:
    description: DNS servers the guest customization configures.
    type: list
    elements: str
  authorized_keys:
    description:
      - SSH public keys that may log in as root to a new VM. They are written to the VM's
        C(extraConfig) key C(guestinfo.jarvis.authorized_keys), one a line, for the template's
        first-boot script to install (as cloud-init does with its guestinfo data).
    type: list
    elements: str
  wait:
    description:
      - After cloning or powering on the VM, wait until its guest reports an IPv4 address (O(ip),
        if given). vSphere tasks (clone, power, reconfigure, destroy) are always waited for.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take waiting for vSphere tasks and for the guest's IP address. It
        is one budget for the task, not a limit per wait.
    type: int
    default: 600
  vcenter_hostname:
    description:
      - The vCenter (or ESXi) server's name or address.
      - Falls back to the E(VMWARE_HOST) environment variable.
    type: str
  vcenter_port:
    description:
      - The port of the vCenter server's HTTPS API.
      - Falls back to the E(VMWARE_PORT) environment variable.
    type: int
    default: 443
  username:
    description:
      - The vCenter user, for example C(administrator@vsphere.local).
      - Falls back to the E(VMWARE_USER) environment variable.
    type: str
  password:
    description:
      - The vCenter user's password.
      - Falls back to the E(VMWARE_PASSWORD) environment variable.
    type: str
  validate_certs:
    description:
      - Check the vCenter server's TLS certificate, even on localhost.
      - Falls back to the E(VMWARE_VALIDATE_CERTS) environment variable.
    type: bool
    default: true
notes:
  - The returned C(id) is the VM's managed object ID (for example C(vm-57)), unique within its vCenter.
  - Powering off is a hard power-off, not a guest shutdown.
"""

EXAMPLES = r"""
- name: Clone loki from the Debian template with a fixed IP and wait until it is up
  jarvis.deploy.vsphere_instance:
    name: loki.example.com
    template: debian-12-template
    datacenter: DC0
    cluster: DC0_C0
    datastore: LocalDS_0
    network: DC0_DVPG0
    cpus: 2
    memory_mb: 4096
    ip: 10.201.5.20
    netmask: 255.255.255.0
    gateway: 10.201.5.1
    dns_servers: [10.201.5.2]
    authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... jarvis
    vcenter_hostname: vcenter.example.com
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
  register: loki

- name: Clone db1 for db1.websages.com, or refuse a VM named db1 that jarvis did not make for it
  jarvis.deploy.vsphere_instance:
    name: db1
    owner: db1.websages.com
    template: debian-12-template
    datacenter: DC0
    cluster: DC0_C0

- name: 'Take over the db1 someone else made, on purpose (adds "jarvis-owner: db1.websages.com" to its notes)'
  jarvis.deploy.vsphere_instance:
    name: db1
    owner: db1.websages.com
    adopt: true
    state: present

- name: Power it off for the night
  jarvis.deploy.vsphere_instance:
    name: loki.example.com
    state: stopped

- name: Decommission it
  jarvis.deploy.vsphere_instance:
    name: loki.example.com
    state: absent
"""

RETURN = r"""
instance:
  description: The VM as it is afterwards (as it is now, in check mode); empty when there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The VM's managed object ID, unique within its vCenter.
      type: str
      sample: vm-57
    name:
      description: The VM's name.
      type: str
      sample: loki.example.com
    state:
      description: V(running) (powered on), V(stopped) (powered off) or V(suspended).
      type: str
      sample: running
    private_ip:
      description: The IPv4 address its guest reports through VMware Tools, if any.
      type: str
      sample: 10.201.5.20
    public_ip:
      description: Always null; vSphere knows no public addresses.
      type: str
      sample: null
    cpus:
      description: Its number of virtual CPUs.
      type: int
      sample: 2
    memory_mb:
      description: Its memory in MiB.
      type: int
      sample: 4096
    datacenter:
      description: The datacenter it is in.
      type: str
      sample: DC0
    owner:
      description:
        - The jarvis identity (fqdn) its owner mark names, or null when it carries none; several different
          marks are joined with C(, ).
        - From the C(jarvis-owner:) lines of its annotation.
      type: str
      sample: loki.websages.com
actions:
  description: What was done (or would be done in check mode), one human-readable line per step.
  returned: always
  type: list
  elements: str
  sample:
    - cloned VM loki.example.com (vm-57) from template debian-12-template
    - powered on VM loki.example.com (vm-57)
diff:
  description: The VM's name, state, CPUs, memory, datacenter and owner mark before and after.
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: 'Before the task; C({"state": "absent"}) when there was no VM.'
      type: dict
    after:
      description: After the task (expected, in check mode).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import OWNER_ARGUMENT_SPEC
from ansible_collections.jarvis.deploy.plugins.module_utils._vsphere import STATES, run_vsphere_instance


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=list(STATES), default="running"),
            template=dict(type="str"),
            datacenter=dict(type="str"),
            cluster=dict(type="str"),
            esxi_host=dict(type="str"),
            datastore=dict(type="str"),
            folder=dict(type="str"),
            resource_pool=dict(type="str"),
            network=dict(type="str"),
            cpus=dict(type="int"),
            memory_mb=dict(type="int"),
            hostname=dict(type="str"),
            domain=dict(type="str"),
            ip=dict(type="str"),
            netmask=dict(type="str"),
            gateway=dict(type="str"),
            dns_servers=dict(type="list", elements="str"),
            authorized_keys=dict(type="list", elements="str", no_log=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=600),
            **OWNER_ARGUMENT_SPEC,
            vcenter_hostname=dict(type="str", fallback=(env_fallback, ["VMWARE_HOST"])),
            vcenter_port=dict(type="int", default=443, fallback=(env_fallback, ["VMWARE_PORT"])),
            username=dict(type="str", fallback=(env_fallback, ["VMWARE_USER"])),
            password=dict(type="str", no_log=True, fallback=(env_fallback, ["VMWARE_PASSWORD"])),
            validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["VMWARE_VALIDATE_CERTS"])),
        ),
        required_by=dict(ip=["netmask"]),
        supports_check_mode=True,
    )
    run_vsphere_instance(module)


if __name__ == "__main__":
    main()
