#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_instance
short_description: Create, boot, shut down, rebuild or delete the one Linode of a host
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Makes sure the Linode labelled O(label) exists and is running or offline, or that it is gone.
    Labels are unique in a Linode account, so the label identifies the Linode.
  - Transient statuses (V(provisioning), V(booting), V(rebooting), V(shutting_down), V(rebuilding),
    V(migrating), V(cloning), V(restoring), V(resizing)) are waited out before the module decides
    anything, whatever O(wait) says.
  - An existing Linode is never moved or resized; if its region, type or image differ from the
    options, the module warns. Tags from O(tags) it lacks are added; other tags are left alone.
  - The owner mark is the tag C(jarvis-owner:<owner>), set on every Linode created with O(owner). Linode
    tags hold at most 50 characters, so for an O(owner) longer than 37 the tag is
    C(jarvis-owner:sha256:<the first 30 hex digits of the SHA-256 of the owner>). With O(owner), other
    C(jarvis-owner:) tags are removed (from O(tags) too), since a Linode has one owner.
  - Talks to the Linode API v4 with linode_api4; O(api_url) points it at another endpoint.
requirements:
  - linode_api4
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
  - jarvis.deploy._owner
attributes:
  idempotent:
    support: partial
    details: Every run with O(rebuild=true) rebuilds the Linode again.
options:
  label:
    description:
      - The label of the Linode, for example C(loki); it finds the Linode and names a new one.
      - 3 to 64 letters, digits, C(-), C(_) and C(.), beginning with a letter and ending with a
        letter or digit.
    type: str
    required: true
  state:
    description:
      - V(running) creates the Linode if needed and boots it if it is offline.
      - V(stopped) creates it if needed (without booting it) and shuts it down.
      - V(present) creates it if needed (booted) and leaves the power of an existing one alone.
      - V(absent) deletes it, with its disks.
    type: str
    choices: [present, running, stopped, absent]
    default: running
  region:
    description: The region of a new Linode, for example C(us-east). Required to create one.
    type: str
  type:
    description: The Linode type (plan) of a new Linode, for example C(g6-nanode-1). Required to create one.
    type: str
  image:
    description:
      - The image a new Linode is deployed from, for example C(linode/debian12). Required to create
        one, and for O(rebuild).
    type: str
  root_pass:
    description:
      - The root password of a new or rebuilt Linode.
      - Without it, a random password nobody is told is set, so only O(authorized_keys) log in.
    type: str
  authorized_keys:
    description:
      - SSH public keys that may log in as root to a new or rebuilt Linode, one key per entry.
    type: list
    elements: str
  tags:
    description: Tags the Linode must carry. Other tags already on it are left alone.
    type: list
    elements: str
  kernel:
    description:
      - The kernel of the Linode's config profile, for example V(linode/grub2) (boot the
        distribution's own kernel through GRUB 2), V(linode/direct-disk) or V(linode/latest-64bit).
      - Changing it on a running Linode reboots it so that the new kernel takes effect; a new or
        rebuilt Linode is booted once its config profile has it.
    type: str
  rebuild:
    description:
      - Rebuild the existing Linode from O(image) with O(root_pass) and O(authorized_keys) - a new
        disk, new SSH host keys, everything on the old disk lost. Needs O(image).
      - Every run with V(true) rebuilds it again; a Linode that does not exist yet is just created.
    type: bool
    default: false
  wait:
    description:
      - Wait until a created, booted or rebuilt Linode is V(running), a shut down one V(offline) and a
        deleted one gone.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds all waits of this task may take together, transient statuses included. It is one
        budget for the task, not a limit per wait.
    type: int
    default: 600
  api_token:
    description:
      - A Linode API personal access token.
      - Falls back to the E(LINODE_API_TOKEN), then E(LINODE_TOKEN) environment variables.
    type: str
  api_url:
    description:
      - The base URL of the Linode API, for a compatible service or a local emulator.
      - Falls back to the E(LINODE_API_URL) environment variable.
    type: str
    default: https://api.linode.com/v4
notes:
  - The module never connects to the Linode itself; the addresses it returns are the API's.
  - Credentials can be set once per play with C(module_defaults) for the action group
    C(group/jarvis.deploy.linode).
"""

EXAMPLES = r"""
- name: Create loki's Linode and wait until it runs
  jarvis.deploy.linode_instance:
    label: loki
    region: us-east
    type: g6-nanode-1
    image: linode/debian12
    authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... jarvis
    tags: [production]
  register: loki

- name: Create db1's Linode for db1.websages.com, or refuse a Linode labelled db1 that jarvis did not make for it
  jarvis.deploy.linode_instance:
    label: db1
    owner: db1.websages.com
    region: us-east
    type: g6-nanode-1
    image: linode/debian12

- name: Take over the db1 someone else made, on purpose (tags it jarvis-owner:db1.websages.com)
  jarvis.deploy.linode_instance:
    label: db1
    owner: db1.websages.com
    adopt: true
    state: present

- name: Boot it through GRUB 2 with Debian's own kernel (reboots it if it runs)
  jarvis.deploy.linode_instance:
    label: loki
    kernel: linode/grub2

- name: Redeploy it from scratch
  jarvis.deploy.linode_instance:
    label: loki
    image: linode/debian12
    rebuild: true
    authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... jarvis

- name: Shut it down for the night
  jarvis.deploy.linode_instance:
    label: loki
    state: stopped

- name: Decommission it, credentials for the whole play
  module_defaults:
    group/jarvis.deploy.linode:
      api_token: "{{ vault_linode_token }}"
  jarvis.deploy.linode_instance:
    label: loki
    state: absent
"""

RETURN = r"""
instance:
  description: The Linode as it is afterwards (as it is now, in check mode); empty when there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The Linode's ID.
      type: int
      sample: 52140923
    label:
      description: Its label.
      type: str
      sample: loki
    state:
      description: Its Linode status, for example V(running) or V(offline).
      type: str
      sample: running
    private_ip:
      description: Its private IPv4 address, if it has one.
      type: str
      sample: null
    public_ip:
      description: Its first public IPv4 address.
      type: str
      sample: 203.0.113.14
    ipv6:
      description: Its IPv6 SLAAC address, without the prefix length.
      type: str
      sample: 2600:3c02::f03c:95ff:fe24:1a2b
    region:
      description: Its region.
      type: str
      sample: us-east
    type:
      description: Its Linode type.
      type: str
      sample: g6-nanode-1
    image:
      description: The image it was deployed (or last rebuilt) from.
      type: str
      sample: linode/debian12
    kernel:
      description: The kernel of its config profile.
      type: str
      sample: linode/grub2
    config_id:
      description: The ID of the config profile it boots from.
      type: int
      sample: 55623014
    tags:
      description: All its tags, sorted.
      type: list
      elements: str
      sample: [jarvis-owner:loki.websages.com, production]
    owner:
      description:
        - The jarvis identity (fqdn) its owner mark names, or null when it carries none; several different
          marks are joined with C(, ).
        - From the tag C(jarvis-owner:<fqdn>); a hashed mark reads as O(owner) when it is its hash, else
          as C(sha256:<digits>).
      type: str
      sample: loki.websages.com
actions:
  description: What was done (or would be done in check mode), one human-readable line per step.
  returned: always
  type: list
  elements: str
  sample: ["created Linode 52140923 (g6-nanode-1, linode/debian12) in us-east for loki"]
diff:
  description: The Linode's status, region, type, image, kernel, tags and owner mark before and after.
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: 'Before the task; C({"state": "absent"}) when there was no Linode.'
      type: dict
    after:
      description: After the task (expected, in check mode).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import OWNER_ARGUMENT_SPEC
from ansible_collections.jarvis.deploy.plugins.module_utils._linode import (
    DEFAULT_API_URL,
    STATES,
    run_linode_instance,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            label=dict(type="str", required=True),
            state=dict(type="str", choices=list(STATES), default="running"),
            region=dict(type="str"),
            type=dict(type="str"),
            image=dict(type="str"),
            root_pass=dict(type="str", no_log=True),
            authorized_keys=dict(type="list", elements="str", no_log=False),
            tags=dict(type="list", elements="str"),
            kernel=dict(type="str"),
            rebuild=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=600),
            **OWNER_ARGUMENT_SPEC,
            api_token=dict(type="str", no_log=True, fallback=(env_fallback, ["LINODE_API_TOKEN", "LINODE_TOKEN"])),
            api_url=dict(type="str", default=DEFAULT_API_URL, fallback=(env_fallback, ["LINODE_API_URL"])),
        ),
        required_if=[("rebuild", True, ("image",))],
        supports_check_mode=True,
    )
    run_linode_instance(module)


if __name__ == "__main__":
    main()
