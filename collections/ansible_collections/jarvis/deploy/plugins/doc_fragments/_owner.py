# Private to this collection: the owner mark options of the instance modules.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Read by InstanceTaskBase in plugins/module_utils/_instance.py; each module says how its provider keeps the mark.
    DOCUMENTATION = r"""
options:
  owner:
    description:
      - The jarvis identity of the host the instance is for, its fqdn, for example C(loki.websages.com);
        compared in lower case and without a trailing dot.
      - A new instance gets it as its owner mark.
      - An existing instance whose owner mark is missing or another host's was not created by jarvis for
        this host and is refused, before anything changes (in check mode and with O(state=absent) too);
        the failure names the instance and the mark it carries, and RV(instance) still describes it.
        O(adopt) takes it over instead.
      - Without O(owner), marks are neither set nor checked; RV(instance.owner) is reported either way.
    type: str
  adopt:
    description:
      - Take over an existing instance whose owner mark is missing or another host's, on purpose; the
        module then sets the mark to O(owner) (with O(state=absent) it deletes the instance) and says so
        in RV(actions).
      - Ignored without O(owner).
    type: bool
    default: false
"""
