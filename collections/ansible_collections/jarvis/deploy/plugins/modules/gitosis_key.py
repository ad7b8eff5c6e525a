#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gitosis_key
short_description: Register or remove a host's SSH public key in a gitosis-admin repository
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Clones a gitosis-admin repository over SSH into a temporary directory, makes
    C(keydir/<member>.pub) hold O(public_key) and puts O(member) into the C(members) of
    C([group <group>]) in C(gitosis.conf), commits and pushes. With O(state=absent) it removes the key
    file and takes the member out of every group.
  - When the key file already holds the key and the member is in the group, nothing is committed or
    pushed.
  - C(gitosis.conf) is edited line by line, so comments, the order of members and every other section
    stay as they were. A missing group is appended as C([group <group>]) with C(members = <member>).
  - When the push is rejected because someone else pushed first, the module fetches, applies the same
    change again on top of what is there now and pushes again, up to O(retries) times.
  - "Runs C(git) and C(ssh) on the host it executes on; delegate it to the controller
    (C(delegate_to: localhost)) when the repository is reached from there."
requirements:
  - git
  - ssh (OpenSSH client)
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
attributes:
  check_mode:
    details: Clones the repository (read-only) to compute the change; commits and pushes nothing.
options:
  remote:
    description:
      - The gitosis-admin repository, in the scp-like form C(user@host:path.git), for example
        C(gitosis@freyr.websages.com:gitosis-admin.git). An C(ssh://user@host[:port]/path.git) URL is
        accepted as well; a port written in it wins over O(port).
      - Only SSH remotes are accepted, and no part of one (user, host, path) may start with C(-).
      - jarvis lets a design name only the remotes its config allows (C(gitosis.remotes), C(gitosis.allowed));
        this module connects to whatever it is given, so give it only remotes you trust.
    type: str
    required: true
  port:
    description: TCP port of the SSH server of O(remote).
    type: int
    default: 22
  member:
    description:
      - The gitosis member name the key belongs to, for example C(root@loki.websages.com); the key
        file is C(keydir/<member>.pub).
      - Must be a name gitosis accepts, C(user) or C(user@host) made of letters, digits, C(.), C(_) and
        C(-), so no path separators and no whitespace.
    type: str
    required: true
  public_key:
    description:
      - One OpenSSH public key line, for example C(ssh-ed25519 AAAA... root@loki.websages.com).
      - Required when O(state=present); ignored when O(state=absent).
    type: str
  group:
    description:
      - The gitosis group whose C(members) must list O(member) when O(state=present); created when
        missing.
      - With O(state=absent) the member is taken out of every group, whatever this is set to.
    type: str
    default: hosts
  state:
    description: Whether the member's key and group membership must be present or absent.
    type: str
    choices: [present, absent]
    default: present
  ssh_private_key:
    description:
      - Path of the private key SSH authenticates with (the deploy key allowed to push). Only this key
        is offered (C(IdentitiesOnly=yes)); no SSH agent is asked (C(IdentityAgent=none)) and SSH's default
        identities are never tried.
      - An absolute path to a readable file, without whitespace, quotes, C(\\), C(%) or C(~), which SSH
        would split or expand.
    type: path
    required: true
  known_hosts:
    description:
      - Path of a known_hosts file holding the host key of O(remote)'s server; the server must present
        a key listed there (C(StrictHostKeyChecking=yes)), else nothing is cloned or pushed. A host key is
        never learnt on first use.
      - An absolute path to a readable, non-empty file, without whitespace, quotes, C(\\), C(%) or C(~).
      - The file is only read. The user's own C(~/.ssh/known_hosts) and the system-wide file are never
        read or written.
    type: path
    required: true
  author_name:
    description: Author and committer name of the commit.
    type: str
    default: jarvis
  author_email:
    description: Author and committer e-mail address of the commit.
    type: str
    default: jarvis@localhost
  retries:
    description: How many times to fetch, apply again and push when a push is rejected because the branch moved.
    type: int
    default: 3
  timeout:
    description: Seconds allowed in all, one budget shared by the clone, every push and every retry.
    type: int
    default: 60
notes:
  - SSH runs with C(-F none), so the user's and the system's C(ssh_config) (proxies, other keys, host
    aliases) do not apply, and in batch mode, so it never prompts.
  - The user's and the system's git configuration are ignored (C(GIT_CONFIG_GLOBAL=/dev/null),
    C(GIT_CONFIG_NOSYSTEM=1)), so hooks, signing or aliases configured there do not interfere.
  - The commit goes to the branch the remote's C(HEAD) names (usually C(master) for gitosis-admin).
  - Failures report git's own message, with any password in a URL masked.
"""

EXAMPLES = r"""
- name: Let the new host's root read its repositories
  jarvis.deploy.gitosis_key:
    remote: gitosis@freyr.websages.com:gitosis-admin.git
    member: "root@{{ inventory_hostname }}"
    public_key: "{{ root_key.public_key }}"
    ssh_private_key: /etc/jarvis/deploy_key
    known_hosts: /etc/jarvis/known_hosts
  delegate_to: localhost

- name: Forget a decommissioned host
  jarvis.deploy.gitosis_key:
    remote: gitosis@freyr.websages.com:gitosis-admin.git
    member: root@loki.websages.com
    state: absent
    ssh_private_key: /etc/jarvis/deploy_key
    known_hosts: /etc/jarvis/known_hosts
  delegate_to: localhost
"""

RETURN = r"""
member:
  description: The member name.
  returned: success
  type: str
  sample: root@loki.websages.com
group:
  description: The group the member was put into (O(state=present)).
  returned: success
  type: str
  sample: hosts
key_file:
  description: Path of the member's key file inside the repository.
  returned: success
  type: str
  sample: keydir/root@loki.websages.com.pub
commit:
  description: SHA-1 of the commit pushed; null when nothing was pushed (no change, or check mode).
  returned: success
  type: str
  sample: 3f0c1d2e4b5a69788796a5b4c3d2e1f000112233
attempts:
  description: How many times the change was applied; more than 1 when a push lost a race with another push.
  returned: success
  type: int
  sample: 1
actions:
  description: What was done (or would be done in check mode), one human-readable line per step.
  returned: success
  type: list
  elements: str
  sample:
    - add keydir/root@loki.websages.com.pub
    - add root@loki.websages.com to group hosts in gitosis.conf
    - "commit 3f0c1d2e4b5a (jarvis: add root@loki.websages.com) and push it to gitosis@freyr:gitosis-admin.git"
diff:
  description: One entry per changed file, with its text before and after.
  returned: when diff mode is on
  type: list
  elements: dict
  contains:
    before_header:
      description: The file's path in the repository.
      type: str
    after_header:
      description: The file's path in the repository.
      type: str
    before:
      description: The file's text before; empty when it did not exist.
      type: str
    after:
      description: The file's text after; empty when it is removed.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.jarvis.deploy.plugins.module_utils._gitosis import run_gitosis_key


def main():
    module = AnsibleModule(
        argument_spec=dict(
            remote=dict(type="str", required=True),
            port=dict(type="int", default=22),
            member=dict(type="str", required=True),
            public_key=dict(type="str", no_log=False),
            group=dict(type="str", default="hosts"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            ssh_private_key=dict(type="path", required=True, no_log=False),
            known_hosts=dict(type="path", required=True),
            author_name=dict(type="str", default="jarvis"),
            author_email=dict(type="str", default="jarvis@localhost"),
            retries=dict(type="int", default=3),
            timeout=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ["public_key"])],
        supports_check_mode=True,
    )
    run_gitosis_key(module)


if __name__ == "__main__":
    main()
