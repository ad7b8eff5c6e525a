#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ldap_host
short_description: Create, update or delete a host's entry in the LDAP CMDB
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Manages the entry C(cn=<name>,<hosts_dn>) of a host in the CMDB, with the object classes
    C(device), C(ipHost) and C(jarvisHost) (see the collection's C(docs/ldap/jarvis.schema)).
  - Only the attributes of the options given are managed; an option left out leaves its attribute alone.
    Multi-valued attributes compare as sets, so their order does not matter.
  - C(jarvisDeployedAt) is set to the current UTC time when the entry is created or when anything else
    in it changes, never on a run that changes nothing.
  - Object classes the entry misses are added. C(ipHost) requires C(ipHostNumber), so the entry
    carries C(ipHost) exactly while it has at least one address (O(ip)).
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
  - jarvis.deploy._ldap_host
options:
  fqdn:
    description:
      - The host's fully qualified domain name (C(jarvisFqdn)). An empty string removes it.
    type: str
  ip:
    description:
      - The host's IP addresses (C(ipHostNumber)). An empty list removes them and the C(ipHost) class.
    type: list
    elements: str
  provider:
    description:
      - Where the host runs, for example C(ec2), C(linode), C(vsphere) (C(jarvisProvider)).
    type: str
  instance_id:
    description:
      - The provider's identifier of the instance (C(jarvisInstanceId)).
    type: str
  region:
    description:
      - The provider region or datacenter (C(jarvisRegion)).
    type: str
  ssh_host_keys:
    description:
      - The host's public SSH host keys, one C(ssh-ed25519 AAAA...) line each (C(jarvisSshHostKey)).
    type: list
    elements: str
  ssh_fingerprints:
    description:
      - Fingerprints of the host keys (C(jarvisSshFingerprint)).
    type: list
    elements: str
  root_public_key:
    description:
      - The public SSH key of the host's root user (C(jarvisRootPublicKey)).
    type: str
  kernel:
    description: The kernel release the host runs (C(jarvisKernel)), e.g. C(6.1.0-31-amd64).
    type: str
  deployed_by:
    description:
      - Who runs the deployment (C(jarvisDeployedBy)).
    type: str
  production:
    description:
      - Whether the host is in production (C(jarvisProduction)).
      - When omitted, the value in the entry is left as it is.
    type: bool
  owner:
    description:
      - The jarvis identity the host is deployed for, its fqdn (C(jarvisOwner)), stored in lower case without
        a trailing dot; the host's instance carries the same owner mark at its provider. An empty string removes it.
      - The module records it, it does not check it; the pipeline's C(production_check) stage refuses an entry
        that is someone else's before this module runs.
    type: str
  approval:
    description:
      - The approval of this change to a production host (C(jarvisApproval)), free text such as
        C(r-1a2b approved by irc:alice!~alice@ops.example.com at 2026-01-01T12:00:00Z). An empty string removes it.
    type: str
  roles:
    description:
      - The host's roles from its design (C(jarvisRole), one value per role), for example C([web, cache]).
        Compared as a set; an empty list removes them.
      - The C(jarvis.deploy.ldap) inventory plugin makes them C(role_<name>) groups.
    type: list
    elements: str
  attributes:
    description:
      - Further attributes to manage, name to a string or a list of strings, for example
        C(jarvisStandby) or C(jarvisDesign). An empty string, empty list or null removes the attribute.
      - C(objectClass), C(cn), C(jarvisDeployedAt) and the attributes of the other options cannot be set here.
    type: dict
  state:
    description:
      - Whether the entry should exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Record a freshly deployed host in the CMDB
  jarvis.deploy.ldap_host:
    name: loki
    fqdn: loki.websages.com
    ip: [10.201.100.11]
    provider: ec2
    instance_id: i-0123456789abcdef0
    region: us-east-1
    ssh_host_keys: "{{ host_keys }}"
    deployed_by: whitejs
    owner: loki.websages.com
    roles: [web, cache]
    attributes:
      jarvisStandby: odin.websages.com
      jarvisDesign: "{{ lookup('file', 'designs/loki.yml') }}"
  environment:
    JARVIS_LDAP_URI: ldap://ldap.websages.com
    JARVIS_LDAP_BIND_DN: cn=jarvis,ou=People,dc=websages,dc=com
    JARVIS_LDAP_BIND_PASSWORD: "{{ vault_ldap_password }}"
    JARVIS_LDAP_HOSTS_DN: ou=Hosts,dc=websages,dc=com

- name: Put the host in production
  jarvis.deploy.ldap_host:
    name: loki
    production: true

- name: Remove the host from the CMDB
  jarvis.deploy.ldap_host:
    name: loki
    state: absent
"""

RETURN = r"""
dn:
  description: DN of the host's entry.
  returned: always
  type: str
  sample: cn=loki,ou=Hosts,dc=websages,dc=com
entry:
  description:
    - The entry after the change (in check mode, as it would be), attribute name to its sorted values.
    - Empty when the entry does not exist.
  returned: always
  type: dict
  sample:
    objectClass: [device, ipHost, jarvisHost]
    cn: [loki]
    ipHostNumber: [10.201.100.11]
    jarvisFqdn: [loki.websages.com]
    jarvisDeployedAt: ["20250101120000Z"]
actions:
  description: What was done (or would be done in check mode), one human-readable line each.
  returned: always
  type: list
  elements: str
  sample:
    - add entry cn=loki,ou=Hosts,dc=websages,dc=com (device, ipHost, jarvisHost)
    - set jarvisFqdn to loki.websages.com
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._ldap import (
    LDAP_SERVER_REQUIRED_TOGETHER,
    ldap_host_argument_spec,
    run_ldap_host,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fqdn=dict(type="str"),
            ip=dict(type="list", elements="str"),
            provider=dict(type="str"),
            instance_id=dict(type="str"),
            region=dict(type="str"),
            ssh_host_keys=dict(type="list", elements="str", no_log=False),
            ssh_fingerprints=dict(type="list", elements="str"),
            root_public_key=dict(type="str", no_log=False),
            kernel=dict(type="str"),
            deployed_by=dict(type="str"),
            production=dict(type="bool"),
            roles=dict(type="list", elements="str"),
            owner=dict(type="str"),
            approval=dict(type="str"),
            attributes=dict(type="dict"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            **ldap_host_argument_spec(),
        ),
        required_together=LDAP_SERVER_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    run_ldap_host(module)


if __name__ == "__main__":
    main()
