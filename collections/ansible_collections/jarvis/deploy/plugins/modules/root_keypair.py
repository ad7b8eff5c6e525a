#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: root_keypair
short_description: Generate root's SSH key pair on the host itself
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Runs on the deployed host. Makes sure root has an SSH key pair at O(path), generating it there with
    C(ssh-keygen) when it is missing, so the private key is born on the host and never leaves it.
  - An existing key pair is kept unless O(rotate) is set. Keeping it still mends what is around the key.
    A missing or stale C(.pub) file is rewritten from the private key, a different comment is changed
    with C(ssh-keygen -c), and modes are set (C(0700) on the C(.ssh) directory, C(0600) on the private
    key, C(0644) on the public key).
  - A new key pair is made in a private directory beside O(path) and renamed into place, so an existing
    pair is replaced whole, never left half-written.
  - The private key never makes it into the module's result; only the public key and its fingerprint are
    returned.
requirements:
  - ssh-keygen (package openssh-client) on the host
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.full
attributes:
  diff_mode:
    details: The diff shows the public key and fingerprint before and after.
  idempotent:
    support: partial
    details: With O(rotate=true) every run replaces the key pair.
options:
  type:
    description: The key type.
    type: str
    choices: [ed25519, rsa, ecdsa]
    default: ed25519
  path:
    description:
      - Where the private key lives; the public key is this path with C(.pub) added.
      - Defaults to C(.ssh/id_TYPE) in root's home directory, C(/root/.ssh/id_ed25519) for the default O(type).
      - A missing parent directory is created with mode C(0700); an existing one named C(.ssh) gets mode C(0700).
    type: path
  comment:
    description:
      - The comment of the key, shown at the end of the public key line.
      - Defaults to C(root@) followed by the host's fully qualified domain name.
    type: str
  rotate:
    description:
      - Replace an existing key pair with a new one. Without it an existing key is kept.
      - An existing key of another type than O(type) makes the module fail unless this is set.
    type: bool
    default: false
  bits:
    description: Size of a new RSA key, in bits. Ignored for the other types (and for an existing RSA key).
    type: int
    default: 4096
notes:
  - Needs root on the host (C(become) or C(ansible_user=root)).
  - A passphrase-protected key at O(path) cannot be read; the module fails rather than replace it.
"""

EXAMPLES = r"""
- name: Root's key pair, made on the host
  jarvis.deploy.root_keypair:
    comment: "root@{{ fqdn }}"
  register: root_key

- name: Let root of this host pull from the backup server
  ansible.builtin.lineinfile:
    path: /home/backup/.ssh/authorized_keys
    line: "{{ root_key.public_key }}"
  delegate_to: backup.websages.com

- name: A new key, after a compromise
  jarvis.deploy.root_keypair:
    comment: "root@{{ fqdn }}"
    rotate: true

- name: An RSA key for an old peer
  jarvis.deploy.root_keypair:
    type: rsa
    bits: 3072
"""

RETURN = r"""
path:
  description: Where the private key is; the public key is beside it with C(.pub) added.
  returned: success
  type: str
  sample: /root/.ssh/id_ed25519
public_key:
  description:
    - The public key line, as in the C(.pub) file.
    - In check mode, the current key; empty when a key would be generated or replaced.
  returned: success
  type: str
  sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBFu90K9xUV9Dd2t4t+fWsx5N9VoFHYAgpY7+t8dac8L root@loki.websages.com
fingerprint:
  description:
    - The SHA256 fingerprint of the public key, as C(ssh-keygen -l) prints it.
    - In check mode, that of the current key; empty when a key would be generated or replaced.
  returned: success
  type: str
  sample: SHA256:lie/lMeeHjz50kbVDhpNyokmG3togIIyO5fNibw9+G0
actions:
  description:
    - What was done, one human-readable line per step; in check mode what would be done, each line
      starting with C(would).
  returned: always
  type: list
  elements: str
  sample: [generated an ed25519 key pair at /root/.ssh/id_ed25519]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._keypair import run_root_keypair


def main():
    module = AnsibleModule(
        argument_spec=dict(
            type=dict(type="str", choices=["ed25519", "rsa", "ecdsa"], default="ed25519"),
            path=dict(type="path"),
            comment=dict(type="str"),
            rotate=dict(type="bool", default=False),
            bits=dict(type="int", default=4096),
        ),
        supports_check_mode=True,
    )
    run_root_keypair(module)


if __name__ == "__main__":
    main()
