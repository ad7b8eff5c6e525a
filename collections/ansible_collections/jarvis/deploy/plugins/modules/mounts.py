#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mounts
short_description: Mount a host's filesystems and keep them in /etc/fstab
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Runs on the deployed host. Makes each given filesystem appear exactly once in O(fstab) and be
    mounted with the given options, or (O(state=absent)) unmounted and gone from O(fstab).
  - Other lines of O(fstab), comments included, are kept as they are and where they are. A line for
    the same mount point that says something else is replaced where it stands; further lines for that
    mount point are removed. The file is written atomically (temporary file and rename) and keeps its
    owner and mode, C(0644) when it is new.
  - What is mounted is read from C(/proc/self/mountinfo). A mount point that holds another filesystem
    than the one asked for makes the module fail before it changes anything. One mounted with other
    options is remounted (C(mount -o remount,OPTS)).
  - Only options the kernel reports are compared (C(ro), C(noexec), C(size=16m) against C(size=16384k)
    and the like); options it never shows (C(noauto), C(nofail), C(x-systemd.*)) or shows in a form
    that cannot be compared (C(size=50%)) are written to O(fstab) but not checked. For bind mounts only
    the per-mount flags (C(ro), C(nosuid), C(nodev), C(noexec), the atime flags) are compared.
requirements:
  - mount and umount (util-linux) on the host
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.full
attributes:
  diff_mode:
    details: The diff is the text of O(fstab) before and after.
options:
  mounts:
    description: The filesystems, listed parents first (C(/srv) before C(/srv/cache)).
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description:
          - What to mount, as the first field of an fstab line says it.
          - A device (C(/dev/vdb1), C(UUID=...), C(LABEL=...)), C(server:/export) for NFS, the directory
            to show again for a bind mount, or any name for a virtual filesystem (C(tmpfs)).
        type: str
        required: true
      path:
        description: The mount point, an absolute path.
        type: path
        required: true
      fstype:
        description:
          - The filesystem type, for example C(ext4), C(xfs), C(tmpfs) or C(nfs).
          - For a bind mount C(none) is usual; the type is not checked then.
        type: str
        required: true
      opts:
        description:
          - Mount options, comma-separated, as in the fourth field of an fstab line.
          - Include C(bind) for a bind mount.
        type: str
        default: defaults
      dump:
        description: The fifth field of the fstab line (dump frequency).
        type: int
        default: 0
      passno:
        description: The sixth field of the fstab line (fsck order at boot).
        type: int
        default: 0
  state:
    description:
      - V(present) puts the filesystems in O(fstab) and mounts them (creating missing mount points when
        O(create_dirs) is set).
      - V(absent) unmounts them and removes their lines from O(fstab); the mount point directories stay.
        A mount point holding another filesystem than the one given is not unmounted; the module fails.
    type: str
    choices: [present, absent]
    default: present
  fstab:
    description:
      - The fstab file to edit.
      - Mounting and unmounting name source, type and options explicitly, whatever file this is.
    type: path
    default: /etc/fstab
  create_dirs:
    description: Create missing mount point directories (mode C(0755)) before mounting.
    type: bool
    default: true
notes:
  - Needs root on the host (C(become) or C(ansible_user=root)).
  - O(fstab) is written before mounting, so when a mount fails (an NFS server that does not answer, a
    missing NFS client) the file already states the wanted mounts and the error of C(mount) is reported.
"""

EXAMPLES = r"""
- name: A scratch tmpfs and the data disk
  jarvis.deploy.mounts:
    mounts:
      - src: tmpfs
        path: /srv/cache
        fstype: tmpfs
        opts: size=16m,mode=1777
      - src: LABEL=data
        path: /srv/data
        fstype: ext4
        opts: noatime
        passno: 2

- name: Show the data disk again under /var/www, read-only
  jarvis.deploy.mounts:
    mounts:
      - src: /srv/data/www
        path: /var/www
        fstype: none
        opts: bind,ro

- name: Home directories from the file server
  jarvis.deploy.mounts:
    mounts:
      - src: files.websages.com:/export/home
        path: /home
        fstype: nfs
        opts: rw,hard,_netdev

- name: Retire the scratch space
  jarvis.deploy.mounts:
    state: absent
    mounts:
      - src: tmpfs
        path: /srv/cache
        fstype: tmpfs
"""

RETURN = r"""
fstab_changed:
  description: Whether O(fstab) was (or, in check mode, would be) rewritten.
  returned: always
  type: bool
  sample: true
mounted:
  description: The mount points this run mounted (or would mount, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/srv/cache]
remounted:
  description: The mount points this run remounted with new options (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
unmounted:
  description: The mount points this run unmounted (or would unmount, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
actions:
  description:
    - What was done, one human-readable line per step; in check mode what would be done, each line
      starting with C(would).
  returned: always
  type: list
  elements: str
  sample: [added /srv/cache to /etc/fstab, created directory /srv/cache, mounted /srv/cache]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._mounts import run_mounts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mounts=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    src=dict(type="str", required=True),
                    path=dict(type="path", required=True),
                    fstype=dict(type="str", required=True),
                    opts=dict(type="str", default="defaults"),
                    dump=dict(type="int", default=0),
                    passno=dict(type="int", default=0, no_log=False),
                ),
            ),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            fstab=dict(type="path", default="/etc/fstab"),
            create_dirs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    run_mounts(module)


if __name__ == "__main__":
    main()
