# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the instance modules (ec2_instance, linode_instance, vsphere_instance) share.

One run: look the instance up, check its owner mark, then remove, create or converge it (or, in check
mode, say what would be done and predict the result for the diff), all waits within one time budget.

Owner marks: every instance jarvis creates carries, at its provider, the jarvis identity of the host it
was made for (the host's fqdn, lower case, no trailing dot). An instance found under the host's name
whose mark is missing or another host's belongs to someone else: it is refused unless ``adopt``.

One poll loop serves every wait. The SDKs' waiters would change what the modules do and say: boto3's
wait whole seconds (15 by default) and fail with their own messages; pyVim's WaitForTask raises a bare
Exception at its deadline and may print to stdout (the module's output); linode_api4's pollers wait for
the account's events rather than the Linode's status, in whole seconds, and raise their own timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import owner_identity

# What a refusal says takes the instance over.
ADOPT_HINT = "adopt: true takes it over"
# The owner mark options (documented in the jarvis.deploy._owner doc fragment).
OWNER_ARGUMENT_SPEC = dict(owner=dict(type="str"), adopt=dict(type="bool", default=False))
MAX_POLL = 2.0  # seconds between two looks at a slow provider, at the most


class Budget:
    """The one wait_timeout of a task, shared by every wait in it (never reset per wait)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self):
        return self._end - time.monotonic()


def poll(
    budget: Budget,
    attempt: Callable[[], tuple[bool, Any]],
    expired: Callable[[], Exception],
    first_delay: float = 0.2,
) -> Any:
    """The value of ATTEMPT()'s first (done, value) that is done, within what is left of BUDGET.

    Between attempts the pause grows by half each time, from FIRST_DELAY up to MAX_POLL. ATTEMPT raises
    to end the wait with its own error; EXPIRED() is the error raised when the budget runs out first.
    """
    delay = first_delay
    while True:
        done, value = attempt()
        if done:
            return value
        if budget.remaining() <= 0:
            raise expired()
        time.sleep(max(0.0, min(delay, budget.remaining())))
        delay = min(delay * 1.5, MAX_POLL)


class InstanceTaskBase:
    """One run of an instance module: its parameters, its time budget, and what it did.

    A provider's task supplies look_up, named, ensure_absent, create, converge, predicted_new and
    predicted_change; run() puts them together the same way for every provider.
    """

    # Keys of a summary that describe where an instance is reached, not what it is: left out of the diff.
    NOT_IN_DIFF = ("id", "private_ip", "public_ip")

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.budget = Budget(self.params["wait_timeout"])
        self.actions = []
        self.changed = False
        self.owner = owner_identity(self.params.get("owner"))
        self.adopt = bool(self.params.get("adopt"))
        self.adopting = False

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

    def run(self):
        """The module's result: the instance looked up, its owner checked, then removed, created or converged."""
        current, before = self.look_up()
        if before:
            self.adopting = self.claim(before, self.named(current, before))
        state = self.params["state"]
        if state == "absent":
            after = self.ensure_absent(current, before)
        elif not before:
            after = self.create(state)
        else:
            after = self.converge(current, before, state)
        result = {"changed": self.changed, "actions": self.actions, "instance": after}
        if self.module._diff:
            predicted = after if not self.module.check_mode else self.predicted(before, state)
            result["diff"] = {"before": self.diff_side(before), "after": self.diff_side(predicted)}
        return result

    def predicted(self, before, state):
        """What check mode expects the instance to look like afterwards, for the diff."""
        if state == "absent":
            return {}
        if not before:
            return self.predicted_new(state)
        return self.predicted_change(before, state)

    def diff_side(self, instance):
        return diff_side(instance, self.NOT_IN_DIFF)


def diff_side(instance, left_out=InstanceTaskBase.NOT_IN_DIFF):
    """One side of an instance module's diff: what describes the instance (not LEFT_OUT), not what it was given."""
    if not instance:
        return {"state": "absent"}
    return {key: value for key, value in instance.items() if key not in left_out}


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


def run_instance_task(
    module: Any,
    sdk: str,
    import_error: str | None,
    error: type[Exception],
    connect: Callable[[dict], Any],
    task_class: Callable[[Any, Any], InstanceTaskBase],
) -> None:
    """Entry point of an instance module: exit_json with the task's result, or fail_json with a safe message.

    SDK names the provider's library, which failed to import when IMPORT_ERROR (its traceback) is set.
    CONNECT(params) gives the provider's client (closed at the end when it has a close()), TASK_CLASS(module,
    client) the task; ERROR is the provider's failure, whose message is shown with what was done before it.
    """
    if import_error is not None:
        module.fail_json(msg=missing_required_lib(sdk), exception=import_error)
    client = task = None
    try:
        client = connect(module.params)
        task = task_class(module, client)
        result = task.run()
    except OwnerRefused as exc:
        fail_refused(module, exc)
    except error as exc:
        done = task.actions if task and not module.check_mode else []
        module.fail_json(msg=str(exc), changed=bool(done), actions=done)
    finally:
        if hasattr(client, "close"):
            client.close()
    module.exit_json(**result)
