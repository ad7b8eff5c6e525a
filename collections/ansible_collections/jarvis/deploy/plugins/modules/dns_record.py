#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_record
short_description: Set or delete one DNS record set with a TSIG-signed dynamic update
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Makes one record set (all records of one name and type) on an authoritative DNS server hold
    exactly the given values, or deletes it, with an RFC 2136 dynamic update signed with TSIG and
    sent over TCP.
  - The current values are read from the same server over TCP (signed when a key is given), so the
    module is idempotent and can predict its changes in check mode.
requirements:
  - dnspython >= 2.0
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
  - jarvis.deploy._dns_server
options:
  record:
    description:
      - The record's absolute name, with or without the final dot, for example C(loki.websages.com).
      - With O(type=PTR) an IPv4 or IPv6 address is accepted as well and turned into its reverse
        pointer name, for example C(10.201.0.5) becomes C(5.0.201.10.in-addr.arpa.).
    type: str
    required: true
  type:
    description: The record type.
    type: str
    required: true
    choices: [A, AAAA, CNAME, PTR, SSHFP, TXT]
  values:
    description:
      - The values the record set must hold, in zone file syntax, for example C(10.201.0.5) or
        C(4 2 0a1b...). The set replaces whatever the server holds.
      - Values are compared in canonical form, so case in hex digits and names and a missing final
        dot on names make no difference. Names are always taken as absolute.
      - A TXT value that does not start with a double quote is one string, spaces included.
      - Required when O(state=present); ignored when O(state=absent).
    type: list
    elements: str
  ttl:
    description: Time to live of the record set, in seconds. A different TTL alone is a change.
    type: int
    default: 3600
  state:
    description: Whether the record set must exist with O(values) or must not exist.
    type: str
    choices: [present, absent]
    default: present
  zone:
    description:
      - The zone to update, for example C(websages.com).
      - When omitted, the zone is found by asking O(server) for the SOA of the record's name and then of
        each parent name in turn.
    type: str
"""

EXAMPLES = r"""
- name: Point loki at its new address
  jarvis.deploy.dns_record:
    record: loki.websages.com
    type: A
    values: [10.201.0.5]

- name: Reverse record, given the address
  jarvis.deploy.dns_record:
    record: 10.201.0.5
    type: PTR
    values: [loki.websages.com]

- name: Publish the host keys' SSHFP records
  jarvis.deploy.dns_record:
    record: loki.websages.com
    type: SSHFP
    values: "{{ scan.sshfp }}"
    ttl: 300
    server: ns1.websages.com
    key_name: jarvis
    key_secret: "{{ vault_tsig_secret }}"

- name: Forget a decommissioned host
  jarvis.deploy.dns_record:
    record: loki.websages.com
    type: A
    state: absent
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
before:
  description: The values the server held before, in canonical form, sorted; empty when there were none.
  returned: success
  type: list
  elements: str
  sample: [10.201.0.4]
after:
  description: The values the server holds afterwards (or would hold, in check mode), sorted.
  returned: success
  type: list
  elements: str
  sample: [10.201.0.5]
actions:
  description: What was done (or would be done in check mode), one human-readable line per step.
  returned: success
  type: list
  elements: str
  sample: [replace loki.websages.com. A 10.201.0.4 with 10.201.0.5]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._dns import (
    DNS_SERVER_REQUIRED_TOGETHER,
    RECORD_TYPES,
    dns_server_argument_spec,
    run_dns_record,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            record=dict(type="str", required=True),
            type=dict(type="str", required=True, choices=list(RECORD_TYPES)),
            values=dict(type="list", elements="str"),
            ttl=dict(type="int", default=3600),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            zone=dict(type="str"),
            **dns_server_argument_spec(),
        ),
        required_if=[("state", "present", ["values"])],
        required_together=DNS_SERVER_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    run_dns_record(module)


if __name__ == "__main__":
    main()
