#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: design
short_description: Validate a host design and return its hosts in canonical form
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Accepts the original one-host C(instance) document (keys C(hostname), C(fqdn), C(provider), C(guestid),
    C(datacenter), C(size), C(gitosis-admin), C(sshpubkey)) or the richer C(instances) list with optional
    C(defaults), and returns one canonical dictionary per host.
  - Provider names are matched case-insensitively; images, regions and sizes are mapped per provider through
    the collection's tables, which O(mappings) extends.
  - 'Any problem fails the task with the path of the key at fault, for example
    C(instance.size: expected a positive integer, got "huge"), before anything else runs.'
  - Changes nothing, so it always reports C(changed=false).
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.no_diff
options:
  instance:
    description:
      - The seed's one-host design (the value of its top-level C(instance) key).
      - Mutually exclusive with O(instances).
    type: dict
  instances:
    description:
      - The rich design's list of hosts. Each item may use C(hostname), C(fqdn), C(provider), C(image),
        C(region), C(size), C(ssh_keys), C(gitosis_admin), C(dns), C(mounts), C(puppet), C(kernel),
        C(provider_options), C(standby), C(root_key) and C(roles); see the project's C(docs/design.md).
      - C(roles) is a list of role names (a lower-case letter, then up to 62 of C(a-z), C(0-9), C(_) and C(-)),
        at most 32; duplicates are dropped. They are recorded in the CMDB (C(jarvisRole)) and become
        C(role_<name>) groups of the C(jarvis.deploy.ldap) inventory. Hosts of the one-host O(instance)
        format have no roles.
      - Mutually exclusive with O(instance).
    type: list
    elements: dict
  defaults:
    description:
      - Settings every item of O(instances) inherits unless it sets them itself, for example C(provider) or
        C(roles) (an item's own C(roles) replace the defaults' roles, they are not merged).
    type: dict
  design_vars:
    description:
      - Take O(instance), O(instances) and O(defaults) from the play's variables of those names (for example
        given with C(-e @design.yml)) instead of from the task's arguments.
      - "They are read as data, never as templates, so a value such as C({{ 6*7 }}) stays that text; naming
        them in the task's arguments instead (C(instance: '{{ instance }}')) would render a template that a
        design's author wrote, on the controller."
      - A file given with C(-e @FILE) that holds a design may then hold nothing but O(instance),
        O(instances) and O(defaults); a design that sets other variables (C(jarvis_force),
        C(ansible_ssh_common_args), ...) is refused.
      - Handled by the controller side of this module (its action plugin).
    type: bool
    default: false
  mappings:
    description:
      - "Extra or overriding entries for the mapping tables, as C({provider: {images|regions|sizes: {name: id}}})."
    type: dict
  gitosis_allowed:
    description:
      - The gitosis-admin remotes a host may name in C(gitosis_admin) (C(gitosis-admin) in the O(instance)
        format), written as the design writes them; the controller connects to no other gitosis server.
      - A host naming another remote fails the task, with the list of allowed ones. An empty list allows
        none, so only hosts without C(gitosis_admin) pass.
      - The pipeline's validate stage passes the keys of C(jarvis_gitosis.remotes) plus
        C(jarvis_gitosis.allowed). When omitted, remotes are not checked (for hosts validated before).
    type: list
    elements: str
  zones:
    description:
      - The DNS zones jarvis may write. A host whose C(dns.zone) (by default the fqdn's parent) or
        C(dns.reverse_zone) is another fails the task, with the list of allowed ones; an empty list allows none.
      - The pipeline's validate stage passes C(jarvis_zones), which C(jarvis vars) prints from the config's
        C(zones). When omitted, zones are not checked.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Validate the design given with -e @design.yml, as data
  jarvis.deploy.design:
    design_vars: true
    mappings: "{{ jarvis_mappings | default(omit) }}"
    gitosis_allowed: "{{ (jarvis_gitosis.remotes | default({})) | list + (jarvis_gitosis.allowed | default([])) }}"
    zones: "{{ jarvis_zones | default(omit) }}"
  register: design

- name: Validate a legacy design inline
  jarvis.deploy.design:
    instance:
      hostname: loki
      fqdn: loki.websages.com
      provider: Linode
      guestid: Debian 6
      datacenter: Atlanta
      size: 512
      gitosis-admin: gitosis@freyr.websages.com:gitosis-admin.git
    gitosis_allowed:
      - gitosis@freyr.websages.com:gitosis-admin.git
"""

RETURN = r"""
hosts:
  description: The design's hosts in canonical form, in the order given.
  returned: success
  type: list
  elements: dict
  sample:
    - hostname: loki
      fqdn: loki.websages.com
      provider: linode
      image: linode/debian12
      region: us-southeast
      size: g6-nanode-1
      ssh_keys: []
      gitosis_admin: gitosis@freyr.websages.com:gitosis-admin.git
      dns: {zone: websages.com, reverse_zone: null, ttl: 3600}
      mounts: []
      puppet: {server: null, environment: production, manifest: null}
      kernel: {upgrade: false, minimum: null}
      provider_options: {}
      standby: null
      root_key: {rotate: false}
      roles: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._design import DesignError, normalize


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="dict"),
            instances=dict(type="list", elements="dict"),
            defaults=dict(type="dict"),
            mappings=dict(type="dict"),
            gitosis_allowed=dict(type="list", elements="str"),
            zones=dict(type="list", elements="str"),
            design_vars=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("instance", "instances")],
        required_one_of=[("instance", "instances")],
        supports_check_mode=True,
    )
    design = {
        key: module.params[key] for key in ("instance", "instances", "defaults") if module.params[key] is not None
    }
    try:
        hosts = normalize(
            design,
            module.params["mappings"],
            gitosis_allowed=module.params["gitosis_allowed"],
            zones=module.params["zones"],
        )
    except DesignError as exc:
        module.fail_json(msg=f"invalid design: {exc}", path=exc.path)
    module.exit_json(changed=False, hosts=hosts)


if __name__ == "__main__":
    main()
