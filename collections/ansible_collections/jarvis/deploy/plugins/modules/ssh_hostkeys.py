#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ssh_hostkeys
short_description: Wait for a host's SSH server and read its host keys, fingerprints and SSHFP values
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Waits until the SSH server of a freshly (re)deployed host accepts TCP connections and greets with
    an C(SSH-) banner, then reads its public host keys with C(ssh-keyscan).
  - Returns each key with its SHA256 fingerprint as C(ssh-keygen -l) prints it and its SSHFP record
    value as C(ssh-keygen -r) prints it, ready for M(jarvis.deploy.dns_record) and a known_hosts file.
  - Read-only, it never changes anything and always reports C(changed=false).
requirements:
  - ssh-keyscan (OpenSSH client) on the host the module runs on
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.no_diff
attributes:
  check_mode:
    details: Runs normally in check mode, since it changes nothing.
options:
  host:
    description: Address or name of the host whose SSH server to scan.
    type: str
    required: true
  port:
    description: TCP port of the SSH server.
    type: int
    default: 22
  timeout:
    description:
      - Seconds allowed in all, one budget shared by waiting for SSH to answer and by the scan itself.
      - The module fails when the budget runs out before any host key was read.
    type: int
    default: 300
  key_types:
    description: The host key types to ask for.
    type: list
    elements: str
    choices: [ed25519, ecdsa, rsa]
    default: [ed25519, ecdsa, rsa]
  known_hosts:
    description:
      - A file on the controller to record the keys read in, as known_hosts lines for the address O(host)
        (mode C(0600), its directory made C(0700) when missing), for later SSH connections that check them.
      - This is the controller's record of what was read, not a change to the host, so it is written in check
        mode too and never counts as a change; it is replaced whole only when its content differs.
    type: path
"""

EXAMPLES = r"""
- name: Wait for the reinstalled host and read its host keys
  jarvis.deploy.ssh_hostkeys:
    host: 10.201.0.5
    timeout: 600
  register: scan

- name: Publish them as SSHFP records
  jarvis.deploy.dns_record:
    record: loki.websages.com
    type: SSHFP
    values: "{{ scan.sshfp }}"
"""

RETURN = r"""
host_keys:
  description: The host keys the server offered, one per key type, sorted by type.
  returned: success
  type: list
  elements: dict
  contains:
    type:
      description: The key type as SSH names it.
      type: str
      sample: ssh-ed25519
    key:
      description: The base64 key blob.
      type: str
      sample: AAAAC3NzaC1lZDI1NTE5AAAAIG9q...
    public_key:
      description: Type and blob, as in a known_hosts or authorized_keys line.
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9q...
    fingerprint:
      description: The SHA256 fingerprint exactly as C(ssh-keygen -l) prints it.
      type: str
      sample: SHA256:Q0W2yPpB9TVQ3oC3Q4Yv2O6u5w3pX0gPq1Zp1m1V3dE
    sshfp:
      description: The SSHFP record value (algorithm, fingerprint type 2, SHA-256 hex of the blob).
      type: str
      sample: 4 2 4345b6c8fa41f535...
sshfp:
  description: The SSHFP record values of all keys, in the order of RV(host_keys).
  returned: success
  type: list
  elements: str
  sample: [3 2 0b5e4c..., 4 2 4345b6...]
fingerprints:
  description: The SHA256 fingerprints of all keys, in the order of RV(host_keys).
  returned: success
  type: list
  elements: str
  sample: [SHA256:C15MKz..., SHA256:Q0W2yP...]
elapsed:
  description: Seconds spent waiting for SSH to answer and scanning, together.
  returned: always
  type: float
  sample: 4.217
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import KEY_KINDS
from ansible_collections.jarvis.deploy.plugins.module_utils._sshkeys import run_ssh_hostkeys


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=22),
            timeout=dict(type="int", default=300),
            key_types=dict(type="list", elements="str", choices=list(KEY_KINDS), default=list(KEY_KINDS)),
            known_hosts=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    run_ssh_hostkeys(module)


if __name__ == "__main__":
    main()
