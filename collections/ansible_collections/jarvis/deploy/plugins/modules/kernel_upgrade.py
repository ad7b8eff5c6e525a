#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kernel_upgrade
short_description: Install or upgrade the host's kernel package when asked to or when the running kernel is too old
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Runs on the deployed host (Debian and derivatives).
  - Installs or upgrades Debian's kernel metapackage O(package) with C(apt-get update) and
    C(apt-get install --no-install-recommends) when O(upgrade) is set or the running kernel (C(uname -r))
    is older than O(minimum). Otherwise it changes nothing.
  - It never reboots. It reports RV(reboot_required) so that the play can run M(ansible.builtin.reboot)
    when the next boot would bring another kernel.
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.full
attributes:
  check_mode:
    details:
      - Check mode asks C(apt-get -s) with the package lists the host has, without updating them
        (as M(ansible.builtin.apt) does).
  diff_mode:
    details: The diff lists the installed C(linux-image-*) packages and their versions before and after.
  idempotent:
    details:
      - Once the newest available version of O(package) is installed, a run changes nothing, even when
        the running kernel is still older than O(minimum). It then reports RV(reboot_required), and
        RV(below_minimum) until a reboot brings a new enough kernel.
requirements:
  - a Debian-like host with C(apt-get), C(dpkg-query) and C(timeout) (coreutils)
notes:
  - Changed means that a C(linux-image-*) package was installed or changed version; upgrades of other
    packages that the kernel needs (C(initramfs-tools), C(kmod)) do not count.
  - In a container (the jarvis sandbox's hosts are podman containers that share the machine's kernel)
    the package installs as on a VM. C(update-initramfs) builds an initrd that will never boot there,
    and no setting is needed. It only warns when C(zstd) is missing and falls back to gzip. A full
    C(MODULES=most) initrd takes about 20 s to build on such a host (twice when C(initramfs-tools) comes
    in the same transaction); C(MODULES=list) in C(/etc/initramfs-tools/conf.d/) makes it about 1 s.
  - On the sandbox's hosts the machine's kernel keeps running after any reboot, so RV(reboot_required)
    stays true there once a kernel package is installed.
options:
  upgrade:
    description:
      - Install O(package), or upgrade it to the newest available version, even when the running kernel
        is new enough.
    type: bool
    default: false
  minimum:
    description:
      - The oldest acceptable running kernel, like C(6.1) or C(6.1.0) (a Debian ABI number as in
        C(6.1.0-18) is allowed too). When the running kernel is older, O(package) is installed or upgraded.
      - Only the numeric parts of the leading version are compared, missing parts count as 0
        (C(6.1.0-50-amd64) is C(6.1.0.50) and not older than C(6.1)).
    type: str
  package:
    description:
      - The kernel package to install or upgrade.
      - When omitted, Debian's metapackage for the host's architecture (C(dpkg --print-architecture)),
        for example C(linux-image-amd64) on amd64 and C(linux-image-arm64) on arm64.
    type: str
  timeout:
    description:
      - Seconds all C(apt-get) calls together may take, including waiting for another package manager
        to release dpkg's lock.
    type: int
    default: 900
"""

EXAMPLES = r"""
- name: Make sure the host runs at least Linux 6.1
  jarvis.deploy.kernel_upgrade:
    minimum: "6.1"
  register: kernel

- name: Boot the new kernel
  ansible.builtin.reboot:
    reboot_command: "{{ jarvis_reboot_command | default(omit) }}"
    boot_time_command: "{{ jarvis_boot_time_command | default(omit) }}"
  when: kernel.reboot_required

- name: The design asks for the newest kernel
  jarvis.deploy.kernel_upgrade:
    upgrade: true
"""

RETURN = r"""
package:
  description: The kernel package the module installs or would install, O(package) or the architecture's one.
  returned: success
  type: str
  sample: linux-image-amd64
running:
  description: The release of the running kernel, as C(uname -r) prints it.
  returned: success
  type: str
  sample: 6.1.0-18-amd64
below_minimum:
  description: Whether the running kernel is older than O(minimum); false without O(minimum).
  returned: success
  type: bool
  sample: false
installed:
  description:
    - The installed C(linux-image-*) packages, newest version first.
    - In check mode, as they would be after the installation; a version is null when the host's package
      lists do not know O(package) yet.
  returned: success
  type: list
  elements: dict
  contains:
    package:
      description: The package name.
      type: str
      sample: linux-image-6.1.0-18-amd64
    version:
      description: Its version.
      type: str
      sample: 6.1.76-1
  sample: [{package: linux-image-6.1.0-18-amd64, version: 6.1.76-1}, {package: linux-image-amd64, version: 6.1.76-1}]
newest:
  description:
    - The newest installed kernel release, from C(/boot/vmlinuz-*) and the installed packages' names; null
      when no kernel is installed (as in a container).
    - In check mode, as it would be after the installation.
  returned: success
  type: str
  sample: 6.1.0-18-amd64
reboot_required:
  description:
    - Whether the host should be rebooted. True when RV(newest) differs from RV(running) or
      C(/var/run/reboot-required) exists.
  returned: success
  type: bool
  sample: true
actions:
  description:
    - What was done, one line per installed or upgraded C(linux-image-*) package; in check mode what would
      be done, each line starting with C(would). Empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: [installed linux-image-6.1.0-18-amd64 6.1.76-1, installed linux-image-amd64 6.1.76-1]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._kernel import run_kernel_upgrade


def main():
    module = AnsibleModule(
        argument_spec=dict(
            upgrade=dict(type="bool", default=False),
            minimum=dict(type="str"),
            package=dict(type="str"),
            timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    run_kernel_upgrade(module)


if __name__ == "__main__":
    main()
