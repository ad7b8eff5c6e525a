#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alertmanager_silence
short_description: Silence alerts in Prometheus Alertmanager while a host is redeployed
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Creates a silence in Prometheus Alertmanager through its v2 HTTP API, so a host that is being rebuilt
    pages nobody, or expires it again when the work is done.
  - A silence is found again by its O(tag) (a word in its comment, for example the deployment id) and its
    O(matchers), so running the module twice creates one silence.
  - Every silence ends by itself after O(duration), so a deployment that crashes before it expires its
    silence does not silence the host forever.
requirements:
  - Alertmanager 0.22 or later (API v2)
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
options:
  url:
    description:
      - Base URL of Alertmanager, for example V(https://alertmanager.websages.com:9093), with the path
        prefix if it is served under one. The module adds C(/api/v2/...).
      - Falls back to the E(JARVIS_ALERTMANAGER_URL) environment variable.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure an active silence with O(tag) and exactly O(matchers) exists, creating one if
        needed. An existing one is left as it is, even if it ends sooner than O(duration) from now.
      - V(absent) expires every active or pending silence whose comment carries O(tag), whatever its
        matchers.
    type: str
    choices: [present, absent]
    default: present
  tag:
    description:
      - Marks the silences of this module, for example the deployment id. An active or pending silence
        whose comment contains O(tag) as a whole word (not as part of a longer word, so C(deploy-4) does not
        find C(deploy-42)) and whose matchers equal O(matchers) is "the" silence.
      - Silences of other tags are never touched.
    type: str
    required: true
  matchers:
    description:
      - The alerts to silence; a silence with several matchers silences the alerts that match all of them.
      - Compared as a set with the matchers of existing silences; order makes no difference.
      - Required when O(state=present); ignored when O(state=absent).
    type: list
    elements: dict
    suboptions:
      name:
        description: The label name, for example C(instance).
        type: str
        required: true
      value:
        description: The label value, or a regular expression with O(matchers[].is_regex=true).
        type: str
        required: true
      is_regex:
        description: Whether O(matchers[].value) is a regular expression (anchored at both ends).
        type: bool
        default: false
        aliases: [isRegex]
      is_equal:
        description: V(false) negates the matcher (C(!=) or C(!~)).
        type: bool
        default: true
        aliases: [isEqual]
  duration:
    description:
      - How long a new silence lasts from now, as numbers with units C(w), C(d), C(h), C(m) or C(s), for
        example V(30m), V(2h) or V(1h30m).
    type: str
    default: 1h
  comment:
    description:
      - The comment of a new silence, for people reading Alertmanager, for example C(jarvis deployment 42).
      - If it does not contain O(tag), the tag is appended in brackets, since the comment is where the module
        finds its silence again. Without a comment, a new silence says C(jarvis silence [TAG]).
    type: str
  created_by:
    description: The author a new silence names.
    type: str
    default: jarvis
  username:
    description:
      - User name for HTTP basic authentication. Without it, requests are sent without credentials.
      - Falls back to the E(JARVIS_ALERTMANAGER_USER) environment variable.
    type: str
  password:
    description:
      - Password for HTTP basic authentication.
      - Falls back to the E(JARVIS_ALERTMANAGER_PASSWORD) environment variable.
    type: str
  validate_certs:
    description: Whether to check Alertmanager's TLS certificate when O(url) is C(https://).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each answer of Alertmanager.
    type: int
    default: 10
notes:
  - Silences are never changed in place; Alertmanager keeps expired ones for a while (its C(--data.retention)),
    and the module looks only at active and pending ones.
"""

EXAMPLES = r"""
- name: Silence loki while it is redeployed
  jarvis.deploy.alertmanager_silence:
    url: https://alertmanager.websages.com
    tag: "{{ deployment_id }}"
    comment: "jarvis deployment {{ deployment_id }}"
    matchers:
      - name: instance
        value: loki.websages.com
    duration: 2h

- name: Silence every exporter of loki, whatever its port
  jarvis.deploy.alertmanager_silence:
    tag: "{{ deployment_id }}"
    matchers:
      - name: instance
        value: "loki\\.websages\\.com:.*"
        is_regex: true
    duration: 30m

- name: Alert again once loki is back
  jarvis.deploy.alertmanager_silence:
    tag: "{{ deployment_id }}"
    state: absent
"""

RETURN = r"""
silence:
  description:
    - With O(state=present), the silence with O(tag) and O(matchers), as Alertmanager holds it; in check mode,
      when it would be created, its RV(silence.id) and RV(silence.status.state) are null.
    - Empty with O(state=absent).
  returned: success
  type: dict
  contains:
    id:
      description: The silence's id.
      type: str
      sample: 2b7ad1f1-6e0b-4b0e-9d4a-3ac44b4e4a0e
    status:
      description: The silence's status.
      type: dict
      contains:
        state:
          description: V(active), V(pending) (it starts later) or V(expired).
          type: str
          sample: active
    matchers:
      description: The silence's matchers, sorted.
      type: list
      elements: dict
      sample: [{name: instance, value: loki.websages.com, isRegex: false, isEqual: true}]
    startsAt:
      description: When the silence starts, in UTC.
      type: str
      sample: "2026-11-25T04:13:47.906Z"
    endsAt:
      description: When the silence ends by itself, in UTC.
      type: str
      sample: "2026-11-25T06:13:47.906Z"
    createdBy:
      description: The silence's author.
      type: str
      sample: jarvis
    comment:
      description: The silence's comment; it carries O(tag).
      type: str
      sample: jarvis deployment 42
  sample:
    id: 2b7ad1f1-6e0b-4b0e-9d4a-3ac44b4e4a0e
    status: {state: active}
    matchers: [{name: instance, value: loki.websages.com, isRegex: false, isEqual: true}]
    startsAt: "2026-11-25T04:13:47.906Z"
    endsAt: "2026-11-25T06:13:47.906Z"
    createdBy: jarvis
    comment: jarvis deployment 42
silences_expired:
  description: The ids of the silences expired (or that would be, in check mode) with O(state=absent).
  returned: success
  type: list
  elements: str
  sample: [2b7ad1f1-6e0b-4b0e-9d4a-3ac44b4e4a0e]
actions:
  description: What was done (or would be done in check mode), one human-readable line per step.
  returned: success
  type: list
  elements: str
  sample: ['create silence {instance="loki.websages.com"} for 2h [42]']
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.jarvis.deploy.plugins.module_utils._alertmanager import run_alertmanager_silence


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True, fallback=(env_fallback, ["JARVIS_ALERTMANAGER_URL"])),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            tag=dict(type="str", required=True),
            matchers=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    value=dict(type="str", required=True),
                    is_regex=dict(type="bool", default=False, aliases=["isRegex"]),
                    is_equal=dict(type="bool", default=True, aliases=["isEqual"]),
                ),
            ),
            duration=dict(type="str", default="1h"),
            comment=dict(type="str"),
            created_by=dict(type="str", default="jarvis"),
            username=dict(type="str", fallback=(env_fallback, ["JARVIS_ALERTMANAGER_USER"])),
            password=dict(type="str", no_log=True, fallback=(env_fallback, ["JARVIS_ALERTMANAGER_PASSWORD"])),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=10),
        ),
        required_if=[("state", "present", ["matchers"])],
        required_together=[("username", "password")],
        supports_check_mode=True,
    )
    run_alertmanager_silence(module)


if __name__ == "__main__":
    main()
