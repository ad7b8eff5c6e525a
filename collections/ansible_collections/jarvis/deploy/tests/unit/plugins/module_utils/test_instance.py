# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the instance modules share: one time budget per task, one shape of diff, one record of actions."""

from __future__ import annotations

import time

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import Budget, InstanceTaskBase, diff_side


class Module:
    """The little of AnsibleModule that InstanceTaskBase reads."""

    def __init__(self, check_mode=False, wait_timeout=300):
        self.check_mode = check_mode
        self.params = {"wait_timeout": wait_timeout}


def test_a_budget_starts_full_and_only_shrinks():
    budget = Budget(300)
    first = budget.remaining()
    assert 0 < first <= 300
    time.sleep(0.01)
    second = budget.remaining()
    assert second < first
    assert budget.seconds == 300


def test_a_budget_is_one_deadline_not_a_fresh_timeout_per_wait():
    budget = Budget(0.05)
    time.sleep(0.06)
    assert budget.remaining() < 0
    assert budget.remaining() < 0  # asking again does not reset it


def test_a_zero_budget_is_spent_at_once():
    assert Budget(0).remaining() <= 0


def test_a_task_takes_its_budget_from_wait_timeout():
    task = InstanceTaskBase(Module(wait_timeout=42))
    assert task.budget.seconds == 42
    assert (task.actions, task.changed) == ([], False)


@pytest.mark.parametrize(("check_mode", "recorded"), [(False, "created odin"), (True, "would create odin")])
def test_actions_say_what_happened_or_what_would(check_mode, recorded):
    task = InstanceTaskBase(Module(check_mode=check_mode))
    task._act("created odin", "would create odin")
    assert task.actions == [recorded]
    assert task.changed is True


@pytest.mark.parametrize("instance", [None, {}])
def test_no_instance_is_absent(instance):
    assert diff_side(instance) == {"state": "absent"}


def test_a_diff_describes_the_instance_without_its_addresses_and_id():
    instance = {
        "id": "i-0123",
        "state": "running",
        "type": "t3.micro",
        "private_ip": "10.201.100.5",
        "public_ip": "54.1.2.3",
        "tags": {"Name": "odin"},
    }
    assert diff_side(instance) == {"state": "running", "type": "t3.micro", "tags": {"Name": "odin"}}
    assert "id" in instance  # the instance itself is left as it was
