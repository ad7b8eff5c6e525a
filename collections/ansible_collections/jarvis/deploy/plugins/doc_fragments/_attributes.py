# Private to this collection: the attribute declarations every module shares.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What each attribute means; every module extends it, with one of the support levels below.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
"""

    # jarvis.deploy._attributes.full: check mode, diff mode and idempotence fully supported (a module that
    # supports one of them less says so in its own attributes, which win).
    FULL = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""

    # jarvis.deploy._attributes.no_diff: full check mode and idempotence, no diff.
    NO_DIFF = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
"""

    # jarvis.deploy._attributes.in_process: the module's action plugin runs it inside Ansible's worker process
    # when its task runs on the controller (plugin_utils/_in_process.py).
    IN_PROCESS = r"""
options: {}
attributes:
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - >-
        On the controller (C(delegate_to: localhost), or a local connection, with ansible's own Python) the module
        runs inside Ansible's worker process instead of a new Python process, with the same arguments, check
        mode, diff, C(no_log) and result.
      - >-
        As another user (become), asynchronously, with another C(ansible_python_interpreter) or on another host
        it runs as a module process.
"""
