#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: puppet_bootstrap
short_description: Install the puppet agent on a host and point it at its server and environment
version_added: 0.3.0
author: jarvis developers (@jarvis)
description:
  - Installs the distribution's C(puppet-agent) package (Debian and derivatives, with C(apt-get)) unless it is
    installed already, and sets C(server) and C(environment) in the C([agent]) section of C(puppet.conf),
    keeping every other line.
  - Runs on the deployed host.
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.full
requirements:
  - a Debian-like host with C(apt-get) and C(dpkg-query)
options:
  server:
    description: The puppet server; when omitted, no server is set (for C(puppet apply) runs).
    type: str
  environment:
    description: The puppet environment.
    type: str
    default: production
  conf:
    description: The puppet.conf to manage.
    type: path
    default: /etc/puppet/puppet.conf
  timeout:
    description: Seconds the package installation may take.
    type: int
    default: 900
"""

EXAMPLES = r"""
- name: Install puppet, talking to the site's server
  jarvis.deploy.puppet_bootstrap:
    server: puppet.websages.com
    environment: production
"""

RETURN = r"""
version:
  description: The installed puppet-agent package version.
  returned: success, except in check mode before installation
  type: str
  sample: 7.23.0-1
actions:
  description: What was done, or would be done in check mode.
  returned: always
  type: list
  elements: str
  sample: ["install puppet-agent", "set server = puppet.websages.com in /etc/puppet/puppet.conf"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._files import read_text
from ansible_collections.jarvis.deploy.plugins.module_utils._puppet import (
    CONF,
    NAME_RE,
    PACKAGE,
    installed_version,
    wanted_conf,
    write_conf,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="str"),
            environment=dict(type="str", default="production"),
            conf=dict(type="path", default=CONF),
            timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    server, environment = module.params["server"], module.params["environment"]
    for name, value in (("server", server), ("environment", environment)):
        if value is not None and not NAME_RE.match(value):
            module.fail_json(msg=f"{name}: unexpected characters in {value!r}")
    actions, changed = [], False
    version = installed_version(module)
    if version is None:
        actions.append(f"install {PACKAGE}")
        changed = True
        if not module.check_mode:
            env = {"DEBIAN_FRONTEND": "noninteractive"}
            for argv in (
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGE],
            ):
                rc, out, err = module.run_command(argv, environ_update=env)
                if rc != 0:
                    module.fail_json(msg=f"{' '.join(argv)} failed: {(err or out).strip()[-500:]}", actions=actions)
            version = installed_version(module)
    conf = module.params["conf"]
    before = read_text(conf)
    after = wanted_conf(before, server, environment)
    if after != before:
        changed = True
        actions.append(f"set server = {server}, environment = {environment} in {conf}")
        if not module.check_mode:
            write_conf(conf, after)
    result = dict(changed=changed, actions=actions, version=version)
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=conf, after_header=conf)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
