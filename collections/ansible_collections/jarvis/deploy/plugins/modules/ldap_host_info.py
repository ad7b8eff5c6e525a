#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ldap_host_info
short_description: Read a host's entry in the LDAP CMDB
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Reads the entry C(cn=<name>,<hosts_dn>) of a host in the CMDB (written by M(jarvis.deploy.ldap_host))
    and returns its facts decoded (lists, a boolean, an ISO 8601 time) and its raw attributes.
  - It is read-only; it never changes anything, so it reports C(changed=false) and runs the same in check mode.
  - A host without an entry is no error; RV(exists) is then false and every fact in RV(host) has its empty
    value (C(production) false, C(standby) null), so a playbook can use RV(host) either way.
  - The C(jarvis.deploy.ldap) inventory plugin decodes every entry the same way (as C(jarvis_cmdb_*) host variables).
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.no_diff
  - jarvis.deploy._ldap_host
seealso:
  - module: jarvis.deploy.ldap_host
"""

EXAMPLES = r"""
- name: Read the host's CMDB entry before a redeploy
  jarvis.deploy.ldap_host_info:
    name: loki
  environment:
    JARVIS_LDAP_URI: ldap://ldap.websages.com
    JARVIS_LDAP_BIND_DN: cn=jarvis,ou=People,dc=websages,dc=com
    JARVIS_LDAP_BIND_PASSWORD: "{{ vault_ldap_password }}"
    JARVIS_LDAP_HOSTS_DN: ou=Hosts,dc=websages,dc=com
  register: cmdb

- name: Keep what the redeploy needs to know
  ansible.builtin.set_fact:
    jarvis_production: "{{ cmdb.host.production }}"
    jarvis_standby: "{{ cmdb.host.standby }}"
"""

RETURN = r"""
exists:
  description: Whether the host has an entry in the CMDB.
  returned: always
  type: bool
  sample: true
dn:
  description: DN of the host's entry (also when it does not exist).
  returned: always
  type: str
  sample: cn=loki,ou=Hosts,dc=websages,dc=com
host:
  description:
    - The host's CMDB facts, decoded. Every key is always there; a missing attribute gives null
      (an empty list for the multi-valued ones, false for C(production)).
  returned: always
  type: dict
  contains:
    fqdn:
      description: C(jarvisFqdn).
      type: str
      sample: loki.websages.com
    ip:
      description: C(ipHostNumber), sorted.
      type: list
      elements: str
      sample: [10.201.100.11]
    provider:
      description: C(jarvisProvider).
      type: str
      sample: ec2
    instance_id:
      description: C(jarvisInstanceId).
      type: str
      sample: i-0123456789abcdef0
    region:
      description: C(jarvisRegion).
      type: str
      sample: us-east-1
    roles:
      description: C(jarvisRole), sorted.
      type: list
      elements: str
      sample: [cache, web]
    production:
      description: C(jarvisProduction); true only when it is C(TRUE).
      type: bool
      sample: false
    standby:
      description: C(jarvisStandby), the fqdn the host's services move to during a redeploy.
      type: str
      sample: odin.websages.com
    kernel:
      description: C(jarvisKernel).
      type: str
      sample: 6.1.0-31-amd64
    root_public_key:
      description: C(jarvisRootPublicKey).
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... root@loki
    ssh_fingerprints:
      description: C(jarvisSshFingerprint), sorted.
      type: list
      elements: str
      sample: ["SHA256:n0Vc1kz0ffKx7m2lV5cV..."]
    deployed_at:
      description: C(jarvisDeployedAt) as an ISO 8601 UTC time (the raw value if it is not a GeneralizedTime).
      type: str
      sample: "2025-01-01T12:00:00Z"
    deployed_by:
      description: C(jarvisDeployedBy).
      type: str
      sample: whitejs
    owner:
      description:
        - The jarvis identity (fqdn, lower case) the entry was made for, C(jarvisOwner).
        - An entry without C(jarvisOwner) but of class C(jarvisHost) was written by a jarvis older than owner
          marks and gives its C(jarvisFqdn); null for an entry jarvis did not write.
      type: str
      sample: loki.websages.com
    approval:
      description: C(jarvisApproval), the approval of the last change to the host while it was in production.
      type: str
      sample: r-1a2b approved by irc:alice!~alice@ops.example.com at 2026-01-01T12:00:00Z
attributes:
  description:
    - The entry's attributes as stored, attribute name to its sorted values, C(userPassword) left out.
    - Empty when the entry does not exist.
  returned: always
  type: dict
  sample:
    objectClass: [device, ipHost, jarvisHost]
    cn: [loki]
    ipHostNumber: [10.201.100.11]
    jarvisProduction: ["FALSE"]
    jarvisRole: [cache, web]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._ldap import (
    LDAP_SERVER_REQUIRED_TOGETHER,
    ldap_host_argument_spec,
    run_ldap_host_info,
)


def main():
    module = AnsibleModule(
        argument_spec=ldap_host_argument_spec(),
        required_together=LDAP_SERVER_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    run_ldap_host_info(module)


if __name__ == "__main__":
    main()
