# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the instance modules share: one time budget and poll loop, one run, one shape of diff and of actions."""

from __future__ import annotations

import time

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils import _instance
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import (
    MAX_POLL,
    Budget,
    InstanceTaskBase,
    OwnerRefused,
    diff_side,
    poll,
    run_instance_task,
)


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


# --- the one poll loop ------------------------------------------------------------------------------


def test_a_poll_returns_what_the_attempt_found_once_it_is_done():
    answers = iter([(False, None), (False, None), (True, "running")])
    assert poll(Budget(5), lambda: next(answers), lambda: AssertionError("no time left")) == "running"


def test_a_poll_backs_off_by_half_up_to_two_seconds(monkeypatch):
    slept = []
    monkeypatch.setattr(_instance.time, "sleep", slept.append)
    answers = iter([(False, None)] * 12 + [(True, None)])
    poll(Budget(300), lambda: next(answers), lambda: AssertionError("no time left"), first_delay=0.2)
    assert slept[:3] == pytest.approx([0.2, 0.3, 0.45])
    assert max(slept) == MAX_POLL and slept[-1] == MAX_POLL


def test_a_poll_raises_what_expired_gives_when_the_budget_runs_out():
    attempts = []

    def attempt():
        attempts.append(1)
        return False, None

    with pytest.raises(TimeoutError, match="still pending"):
        poll(Budget(0.05), attempt, lambda: TimeoutError("still pending"), first_delay=0.01)
    assert len(attempts) > 1


def test_a_poll_never_sleeps_past_the_budget(monkeypatch):
    slept = []
    monkeypatch.setattr(_instance.time, "sleep", slept.append)
    budget = Budget(0.5)
    answers = iter([(False, None), (True, None)])
    poll(budget, lambda: next(answers), lambda: AssertionError("no time left"), first_delay=10)
    assert 0 < slept[0] <= 0.5


def test_an_attempt_ends_the_wait_with_its_own_error():
    def attempt():
        raise ValueError("terminated while waiting")

    with pytest.raises(ValueError, match="terminated while waiting"):
        poll(Budget(5), attempt, lambda: AssertionError("no time left"))


# --- one run, the same for every provider ----------------------------------------------------------


class Task(InstanceTaskBase):
    """A provider of one dict: what the run asks of it is recorded."""

    def __init__(self, module, found=None):
        super().__init__(module)
        self.found = found
        self.calls = []

    def look_up(self):
        return self.found, dict(self.found or {})

    def named(self, current, before):
        return f"instance {before['id']}"

    def ensure_absent(self, current, before):
        self.calls.append("ensure_absent")
        self._act("deleted", "delete")
        return before if self.module.check_mode else {}

    def create(self, state):
        self.calls.append("create")
        self._act("created", "create")
        return {} if self.module.check_mode else {"id": "i-2", "state": state, "private_ip": "10.0.0.2"}

    def converge(self, current, before, state):
        self.calls.append("converge")
        return before

    def predicted_new(self, state):
        return {"state": state, "owner": self.owner}

    def predicted_change(self, before, state):
        return dict(before, state=state)


def instance_module(check_mode=False, diff=True, state="running", **params):
    module = Module(check_mode=check_mode)
    module._diff = diff
    module.params.update({"state": state, "owner": None, "adopt": False, **params})
    return module


@pytest.mark.parametrize(
    ("found", "state", "call"),
    [(None, "running", "create"), (None, "absent", "ensure_absent"), ({"id": "i-1"}, "stopped", "converge")],
)
def test_a_run_removes_creates_or_converges(found, state, call):
    task = Task(instance_module(state=state), found)
    result = task.run()
    assert task.calls == [call]
    assert result["changed"] is (call != "converge")


def test_check_mode_predicts_the_diff_of_a_new_instance():
    result = Task(instance_module(check_mode=True, owner="Odin.WebSages.com.")).run()
    assert result["actions"] == ["create"]
    assert result["diff"] == {
        "before": {"state": "absent"},
        "after": {"state": "running", "owner": "odin.websages.com"},
    }


def test_check_mode_predicts_the_diff_of_a_change_and_of_a_removal():
    found = {"id": "i-1", "state": "running", "private_ip": "10.0.0.1"}
    stopped = Task(instance_module(check_mode=True, state="stopped"), found).run()
    assert stopped["diff"] == {"before": {"state": "running"}, "after": {"state": "stopped"}}
    removed = Task(instance_module(check_mode=True, state="absent"), found).run()
    assert removed["diff"] == {"before": {"state": "running"}, "after": {"state": "absent"}}


def test_outside_check_mode_the_diff_shows_the_result():
    result = Task(instance_module()).run()
    assert result["diff"]["after"] == {"state": "running"}
    assert result["instance"]["id"] == "i-2"


def test_without_diff_mode_there_is_no_diff():
    assert "diff" not in Task(instance_module(diff=False)).run()


def test_an_instance_of_another_owner_is_refused_before_anything_is_done():
    task = Task(instance_module(owner="odin.websages.com"), {"id": "i-1", "owner": "thor.websages.com"})
    with pytest.raises(OwnerRefused, match="^instance i-1 carries the owner mark of thor.websages.com"):
        task.run()
    assert task.calls == []


# --- the entry point --------------------------------------------------------------------------------


class Exited(Exception):
    """exit_json or fail_json was called, with these keyword arguments."""


class EntryModule(Module):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._diff = False
        self.params.update(state="running", owner=None, adopt=False)

    def exit_json(self, **result):
        raise Exited("exit", result)

    def fail_json(self, **result):
        raise Exited("fail", result)


class ProviderError(Exception):
    pass


class Client:
    closed = False

    def close(self):
        self.closed = True


def entry(module, connect, task_class=Task, import_error=None):
    with pytest.raises(Exited) as exited:
        run_instance_task(module, "thesdk", import_error, ProviderError, connect, task_class)
    return exited.value.args


def test_a_missing_sdk_is_said_before_anything_runs():
    kind, result = entry(EntryModule(), connect=lambda params: pytest.fail("connected"), import_error="Traceback")
    assert kind == "fail" and "thesdk" in result["msg"] and result["exception"] == "Traceback"


def test_the_result_is_the_task_s_and_the_client_is_closed():
    client = Client()
    kind, result = entry(EntryModule(), connect=lambda params: client, task_class=lambda module, c: Task(module))
    assert (kind, result["changed"], result["actions"]) == ("exit", True, ["created"])
    assert client.closed


def test_a_provider_error_is_shown_with_what_was_done_before_it():
    class Failing(Task):
        def create(self, state):
            self._act("created i-2", "create")
            raise ProviderError("tagging i-2 failed: throttled")

    kind, result = entry(EntryModule(), connect=lambda params: Client(), task_class=lambda m, c: Failing(m))
    assert (kind, result["msg"], result["changed"], result["actions"]) == (
        "fail",
        "tagging i-2 failed: throttled",
        True,
        ["created i-2"],
    )


def test_a_provider_error_while_connecting_did_nothing():
    def refuse(params):
        raise ProviderError("no region")

    assert entry(EntryModule(), connect=refuse)[1] == {"msg": "no region", "changed": False, "actions": []}


def test_a_refusal_reports_the_instance_found():
    module = EntryModule()
    module.params["owner"] = "odin.websages.com"
    found = {"id": "i-1", "owner": None}
    kind, result = entry(module, connect=lambda params: Client(), task_class=lambda m, c: Task(m, found))
    assert (kind, result["changed"], result["actions"], result["instance"]) == ("fail", False, [], found)
