#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_record_info
short_description: Read one DNS record set from its authoritative server
version_added: 0.3.0
author: jarvis developers (@jarvis)
description:
  - Reads the values and TTL of one record set (all records of one name and type) straight from the
    authoritative server that M(jarvis.deploy.dns_record) updates, over TCP and signed with TSIG when a key
    is given, so no resolver's cache stands in between.
  - It is read-only; it never changes anything, so it reports C(changed=false) and runs the same in check mode.
  - A name or type without records is no error; RV(exists) is then false and RV(values) empty.
  - The pipeline's C(production_check) stage reads a host's A record with it, to refuse a name that points
    at someone else's address.
requirements:
  - dnspython >= 2.0
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.no_diff
  - jarvis.deploy._dns_server
options:
  record:
    description:
      - The record's absolute name, with or without the final dot, for example C(loki.websages.com).
      - With O(type=PTR) an IPv4 or IPv6 address is accepted as well and turned into its reverse
        pointer name.
    type: str
    required: true
  type:
    description: The record type.
    type: str
    choices: [A, AAAA, CNAME, PTR, SSHFP, TXT]
    default: A
  zone:
    description:
      - The zone that holds the record, for example C(websages.com).
      - When omitted, the zone is found by asking O(server) for the SOA of the record's name and then of
        each parent name in turn.
    type: str
seealso:
  - module: jarvis.deploy.dns_record
"""

EXAMPLES = r"""
- name: Read where loki.websages.com points now
  jarvis.deploy.dns_record_info:
    record: loki.websages.com
    zone: websages.com
  register: loki_a

- name: Say so
  ansible.builtin.debug:
    msg: "loki.websages.com has {{ loki_a.values | join(', ') if loki_a.exists else 'no A record' }}"

- name: Read its SSHFP records with an explicit server and key
  jarvis.deploy.dns_record_info:
    record: loki.websages.com
    type: SSHFP
    server: ns1.websages.com
    key_name: jarvis
    key_secret: "{{ vault_tsig_secret }}"
"""

RETURN = r"""
record:
  description: The absolute name of the record set.
  returned: success
  type: str
  sample: loki.websages.com.
type:
  description: The record type.
  returned: success
  type: str
  sample: A
zone:
  description: The zone that holds the record set.
  returned: success
  type: str
  sample: websages.com.
exists:
  description: Whether the server holds at least one record of this name and type.
  returned: success
  type: bool
  sample: true
values:
  description: The values the server holds, in canonical form, sorted; empty when there are none.
  returned: success
  type: list
  elements: str
  sample: [10.201.0.4]
ttl:
  description: The record set's TTL in seconds; null when there are no records.
  returned: success
  type: int
  sample: 3600
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._dns import (
    DNS_SERVER_REQUIRED_TOGETHER,
    RECORD_TYPES,
    dns_server_argument_spec,
    run_dns_record_info,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            record=dict(type="str", required=True),
            type=dict(type="str", choices=list(RECORD_TYPES), default="A"),
            zone=dict(type="str"),
            **dns_server_argument_spec(),
        ),
        required_together=DNS_SERVER_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    run_dns_record_info(module)


if __name__ == "__main__":
    main()
