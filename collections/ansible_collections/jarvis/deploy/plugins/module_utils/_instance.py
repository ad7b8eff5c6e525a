# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the instance modules (ec2_instance, linode_instance, vsphere_instance) share."""

from __future__ import annotations

import time


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

    def _act(self, done, planned):
        """Record one step: DONE when it happened, PLANNED (what would happen) in check mode."""
        self.changed = True
        self.actions.append(planned if self.module.check_mode else done)


def diff_side(instance):
    """One side of an instance module's diff: what describes the instance, not what it was given."""
    if not instance:
        return {"state": "absent"}
    return {key: value for key, value in instance.items() if key not in ("id", "private_ip", "public_ip")}
