#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: root_credentials
short_description: Create a host's root password and keep it only in an Ansible Vault file
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Generates a random root password for a host and stores it, encrypted with Ansible Vault, in
    O(secrets_dir)/O(name).yml (mode 0600, directory 0700), together with its SHA-512 crypt hash.
  - The clear password is not returned, printed or logged; only the hash (for M(ansible.builtin.user))
    and the file's path are, unless O(return_password=true).
  - The hash is a secret too, open to offline attacks. Mark a task that returns it C(no_log), or set
    O(return_hash=false) where the password only has to exist, so that the result can be shown.
  - An existing file is kept, so a second run reports no change, unless O(rotate=true).
  - Runs on the controller as an action plugin; read it back with C(ansible-vault view).
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.no_diff
attributes:
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: All of it runs in the action plugin, on the controller where the vault lives.
  idempotent:
    details: Not idempotent when O(rotate=true), which makes a new password on every run.
requirements:
  - the C(openssl) command on the controller (to compute the SHA-512 crypt hash)
options:
  name:
    description: The host's fully qualified name; the secrets file is named after it.
    type: str
    required: true
  secrets_dir:
    description: Directory of the vault-encrypted secrets files; created with mode 0700.
    type: path
    required: true
  vault_password_file:
    description: File holding the vault password used to encrypt the secrets file.
    type: path
    required: true
  rotate:
    description: Make a new password even when one is stored already.
    type: bool
    default: false
  length:
    description: Length of the generated password, in characters.
    type: int
    default: 24
  return_hash:
    description:
      - Return the password's hash as RV(password_hash). With V(false) the result holds no secret (and,
        without O(return_password), can be shown), only what was done and the file's path.
    type: bool
    default: true
  return_password:
    description:
      - Also return the clear password as RV(password), for a provider API that sets it itself (Linode's
        C(root_pass)). The result is then marked C(no_log), so output and logs show it censored.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Create (or reuse) loki's root password; the result, with no secret in it, can be shown
  jarvis.deploy.root_credentials:
    name: loki.websages.com
    secrets_dir: /var/lib/jarvis/secrets
    vault_password_file: /etc/jarvis/vault-password
    return_hash: false

# Over SSH, not in cloud-init's user data: any local user of an EC2 instance can read that.
- name: Read the hash on the controller
  jarvis.deploy.root_credentials:
    name: loki.websages.com
    secrets_dir: /var/lib/jarvis/secrets
    vault_password_file: /etc/jarvis/vault-password
  register: root_credentials
  no_log: true

- name: Set root's password on the host
  ansible.builtin.user:
    name: root
    password: "{{ root_credentials.password_hash }}"
  no_log: true
"""

RETURN = r"""
path:
  description: The vault-encrypted secrets file.
  returned: always
  type: str
  sample: /var/lib/jarvis/secrets/loki.websages.com.yml
password_hash:
  description: SHA-512 crypt hash of the root password; empty in check mode when no password exists yet.
  returned: when O(return_hash=true)
  type: str
  sample: $6$Yy3...$6Q...
password:
  description: The clear root password; only with O(return_password=true), and empty in check mode.
  returned: when O(return_password=true)
  type: str
  sample: "********"
actions:
  description: What was done, or would be done in check mode.
  returned: always
  type: list
  elements: str
  sample:
    - create the root password of loki.websages.com, vault-encrypted in /var/lib/jarvis/secrets/loki.websages.com.yml
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._root_credentials import ARGUMENT_SPEC


def main() -> None:
    # The work happens in the action plugin of the same name, on the controller, where the
    # vault lives; reaching this means the task ran somewhere the action plugin was bypassed.
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    module.fail_json(msg="jarvis.deploy.root_credentials runs as an action plugin on the controller only")


if __name__ == "__main__":
    main()
