# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the instance modules (ec2_instance, linode_instance, vsphere_instance) share.

Owner marks: every instance jarvis creates carries, at its provider, the jarvis identity of the host it
was made for (the host's fqdn, lower case, no trailing dot). An instance found under the host's name
whose mark is missing or another host's belongs to someone else: it is refused unless ``adopt``.
"""

from __future__ import annotations

import time

# What a refusal says takes the instance over.
ADOPT_HINT = "adopt: true takes it over"


class Budget:
    """The one wait_timeout of a task, shared by every wait in it (never reset per wait)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self):
        return self._end - time.monotonic()


class InstanceTaskBase:
    """One run of an instance module: its parameters, its time budget, and what it did."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.budget = Budget(self.params["wait_timeout"])
        self.actions = []
        self.changed = False
        self.owner = owner_identity(self.params.get("owner"))
        self.adopt = bool(self.params.get("adopt"))

    def _act(self, done, planned):
        """Record one step: DONE when it happened, PLANNED (what would happen) in check mode."""
        self.changed = True
        self.actions.append(planned if self.module.check_mode else done)

    def claim(self, described, what):
        """Whether this task may act on the instance DESCRIBED (a summary with its ``owner``), named WHAT.

        False: nothing to do (no owner asked for, no instance, or the mark is already this owner's).
        True: the mark is missing or another's and the task adopts the instance: the caller sets the
        mark, and the adoption is recorded as an action.
        Raises OwnerRefused when the mark is missing or another's and the task does not adopt.
        """
        if not self.owner or not described or described.get("owner") == self.owner:
            return False
        mark = described.get("owner")
        if not self.adopt:
            carries = f"the owner mark of {mark}" if mark else "no jarvis owner mark"
            raise OwnerRefused(
                f"{what} carries {carries}: jarvis did not create it for {self.owner}; {ADOPT_HINT}", described
            )
        was = f"owner mark of {mark}" if mark else "no owner mark"
        self._act(f"adopted {what} ({was}) for {self.owner}", f"adopt {what} ({was}) for {self.owner}")
        return True


def diff_side(instance):
    """One side of an instance module's diff: what describes the instance, not what it was given."""
    if not instance:
        return {"state": "absent"}
    return {key: value for key, value in instance.items() if key not in ("id", "private_ip", "public_ip")}


def owner_identity(value):
    """A jarvis identity as owner marks hold it: lower case, no trailing dot; None for none."""
    text = (value or "").strip().rstrip(".").lower()
    return text or None


class OwnerRefused(Exception):
    """An existing instance that is not this host's (its owner mark is missing or another's).

    The message is safe to show; INSTANCE is the module's summary of what was found, so a caller that
    looks before it acts (the pipeline's production_check) learns what exists.
    """

    def __init__(self, message, instance):
        super().__init__(message)
        self.instance = instance


def fail_refused(module, exc):
    """fail_json for an OwnerRefused: nothing was done, and the instance found is reported."""
    module.fail_json(msg=str(exc), changed=False, actions=[], instance=exc.instance)
