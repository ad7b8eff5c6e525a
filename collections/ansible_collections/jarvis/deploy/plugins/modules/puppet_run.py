#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: puppet_run
short_description: Run puppet on a host and report what it changed, or why it failed
version_added: 0.3.0
author: jarvis developers (@jarvis)
description:
  - Runs C(puppet agent --test) against the configured server, or C(puppet apply) of O(manifest) when given.
  - Uses C(--detailed-exitcodes), so C(changed) is whether puppet changed anything, and a run with failures
    fails the task with puppet's own error lines and summary.
  - In check mode runs puppet with C(--noop) and reports whether it would change anything (puppet then
    exits 0 and marks the changes it would make with C((noop))).
  - Runs on the deployed host.
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.no_diff
attributes:
  idempotent:
    details: As idempotent as the puppet code it applies.
requirements:
  - puppet on the host (see M(jarvis.deploy.puppet_bootstrap))
options:
  manifest:
    description: The text of a manifest to C(puppet apply); when omitted, C(puppet agent --test) runs.
    type: str
  environment:
    description: The puppet environment of the run.
    type: str
  timeout:
    description: Seconds the run may take.
    type: int
    default: 1800
"""

EXAMPLES = r"""
- name: Apply a manifest given in the design
  jarvis.deploy.puppet_run:
    manifest: |
      file { '/etc/motd': content => "managed by puppet\n" }

- name: Run the agent against its server
  jarvis.deploy.puppet_run:
"""

RETURN = r"""
exit_code:
  description: Puppet's detailed exit code (0 nothing to do, 2 changes, 4 failures, 6 changes and failures).
  returned: when puppet ran
  type: int
  sample: 2
summary:
  description: Puppet's error lines and its closing "Applied catalog" line.
  returned: when puppet ran
  type: str
  sample: "Notice: Applied catalog in 0.02 seconds"
actions:
  description: What was done.
  returned: always
  type: list
  elements: str
  sample: ["puppet apply changed the host: Notice: Applied catalog in 0.02 seconds"]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._puppet import CHANGED_CODES, FAILED_CODES, NAME_RE, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifest=dict(type="str"),
            environment=dict(type="str"),
            timeout=dict(type="int", default=1800),
        ),
        supports_check_mode=True,
    )
    puppet = module.get_bin_path("puppet", opt_dirs=["/opt/puppetlabs/bin"])
    kind = "puppet apply" if module.params["manifest"] is not None else "puppet agent"
    if puppet is None and module.check_mode:
        # A plan: puppet_bootstrap only said it would install puppet, so there is nothing to ask yet.
        module.exit_json(changed=True, actions=[f"{kind} would run once puppet is installed"])
    if puppet is None:
        module.fail_json(msg="puppet is not installed on this host (run jarvis.deploy.puppet_bootstrap first)")
    environment = module.params["environment"]
    if environment is not None and not NAME_RE.match(environment):
        module.fail_json(msg=f"environment: unexpected characters in {environment!r}")
    argv = [puppet]
    manifest_file = None
    try:  # the manifest's temporary file goes, whatever fails
        if module.params["manifest"] is not None:
            handle, manifest_file = tempfile.mkstemp(prefix="jarvis-", suffix=".pp")
            with os.fdopen(handle, "w") as out:
                out.write(module.params["manifest"])
            argv += ["apply", manifest_file]
        else:
            argv += ["agent", "--test", "--no-daemonize"]
        argv += ["--detailed-exitcodes", "--color=false"]
        if environment:
            argv += ["--environment", environment]
        if module.check_mode:
            argv.append("--noop")
        rc, out, err = module.run_command(argv)
    finally:
        if manifest_file:
            os.unlink(manifest_file)
    text = summary(out + "\n" + err)
    if rc in FAILED_CODES:
        module.fail_json(msg=f"{kind} failed (exit {rc}): {text}", exit_code=rc, summary=text, actions=[])
    # With --noop, puppet exits 0 and marks each change it would make with "(noop)".
    changed = rc in CHANGED_CODES or (module.check_mode and "(noop)" in out)
    verb = "would change" if module.check_mode else "changed"
    actions = [f"{kind} {verb} the host: {text}"] if changed else []
    module.exit_json(changed=changed, exit_code=rc, summary=text, actions=actions)


if __name__ == "__main__":
    main()
