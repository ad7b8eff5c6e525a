#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_pointers
short_description: Move the CNAMEs that point at one host over to another, and back
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Points the service names (CNAMEs) that point at one host, O(target), at another host, O(to), for example
    to a standby while the host is redeployed.
  - The CNAMEs are found by a zone transfer (AXFR over TCP, signed with the TSIG key) of O(zone); every CNAME
    whose target is O(target) is moved, plus those of O(names) that are CNAMEs to O(target).
  - Each CNAME is moved by an RFC 2136 dynamic update that holds only if it still points at O(target) (a
    value-dependent prerequisite), so a change someone made since it was read is never overwritten; the
    update of one zone is atomic, and a failed prerequisite fails the task with the names that changed.
  - Nothing else is touched. CNAMEs already at O(to) are left as they are, and a name of O(names) that holds
    no CNAME or points elsewhere is left alone with a warning.
  - Moving back at the end of a redeploy is the same module with O(target) and O(to) swapped,
    O(names) set to RV(moved) of the first call and O(discover=false), so only what was moved is moved back.
requirements:
  - dnspython >= 2.1
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
  - jarvis.deploy._dns_server
options:
  zone:
    description:
      - The zone to search for CNAMEs pointing at O(target), for example C(websages.com).
      - The server must allow the TSIG key O(key_name) to transfer it (C(allow-transfer { key NAME; };) in BIND).
    type: str
    required: true
  target:
    description:
      - The host name the pointers point at now, for example C(loki.websages.com).
      - Names compare case-insensitively and are always absolute, with or without the final dot.
    type: str
    required: true
  to:
    description: The host name the pointers must point at afterwards, for example C(thor.websages.com).
    type: str
    required: true
  names:
    description:
      - Owner names of further CNAMEs to move, for example the pointer names a host's CMDB entry lists.
      - Each is read from the server directly (its zone found by SOA queries), so it may lie outside O(zone) or
        be missing from the transfer. Names are absolute, with or without the final dot.
      - Only those that are CNAMEs to O(target) (or already to O(to)) are considered; the others are left
        alone, reported in RV(left_alone) and warned about.
    type: list
    elements: str
    default: []
  discover:
    description:
      - Whether to search O(zone) by a zone transfer for CNAMEs pointing at O(target).
      - Set to V(false) to move only O(names), as when moving back what an earlier call moved; no zone
        transfer is made then.
    type: bool
    default: true
  state:
    description: V(present) makes the pointers now at O(target) point at O(to).
    type: str
    choices: [present]
    default: present
notes:
  - RV(moved) holds what this run moved. Keep the first run's list for moving back; a rerun after the move
    moves nothing and returns an empty list.
"""

EXAMPLES = r"""
- name: Point loki's services at the standby thor while loki is redeployed
  jarvis.deploy.dns_pointers:
    zone: websages.com
    target: loki.websages.com
    to: thor.websages.com
    names: "{{ cmdb.pointer_names | default([]) }}"
  register: pointers

- name: Move back what was moved, and only that, once loki is up again
  jarvis.deploy.dns_pointers:
    zone: websages.com
    target: thor.websages.com
    to: loki.websages.com
    names: "{{ pointers.moved }}"
    discover: false

- name: With the server and key given as options instead of JARVIS_DNS_* / JARVIS_TSIG_* variables
  jarvis.deploy.dns_pointers:
    zone: websages.com
    target: loki.websages.com
    to: thor.websages.com
    server: ns1.websages.com
    key_name: jarvis
    key_secret: "{{ vault_tsig_secret }}"
"""

RETURN = r"""
moved:
  description:
    - Absolute owner names of the CNAMEs this run moved from O(target) to O(to) (in check mode, would move).
    - Pass it as O(names) with O(discover=false) and O(target)/O(to) swapped to move them back.
  returned: success
  type: list
  elements: str
  sample: [mail.websages.com., www.websages.com.]
pointing:
  description: Absolute owner names of all the CNAMEs considered that now point at O(to) (moved or already there).
  returned: success
  type: list
  elements: str
  sample: [mail.websages.com., www.websages.com.]
left_alone:
  description: Names from O(names) that were left alone because they hold no CNAME or point at another host.
  returned: success
  type: list
  elements: str
  sample: [ftp.websages.com.]
actions:
  description: What was done (or would be done in check mode), one human-readable line per CNAME moved.
  returned: success
  type: list
  elements: str
  sample: [moved www.websages.com. from loki.websages.com. to thor.websages.com.]
diff:
  description: The CNAMEs considered, owner name to the name it points at, before and after the move.
  returned: success
  type: dict
  contains:
    before:
      description: Owner name to target before the move.
      type: dict
      returned: success
      sample: {"www.websages.com.": "loki.websages.com.", "backup.websages.com.": "thor.websages.com."}
    after:
      description: Owner name to target after the move (or as it would be, in check mode).
      type: dict
      returned: success
      sample: {"www.websages.com.": "thor.websages.com.", "backup.websages.com.": "thor.websages.com."}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._dns import (
    DNS_SERVER_REQUIRED_TOGETHER,
    dns_server_argument_spec,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._dns_pointers import run_dns_pointers


def main():
    module = AnsibleModule(
        argument_spec=dict(
            zone=dict(type="str", required=True),
            target=dict(type="str", required=True),
            to=dict(type="str", required=True),
            names=dict(type="list", elements="str", default=[]),
            discover=dict(type="bool", default=True),
            state=dict(type="str", choices=["present"], default="present"),
            **dns_server_argument_spec(),
        ),
        required_together=DNS_SERVER_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    run_dns_pointers(module)


if __name__ == "__main__":
    main()
