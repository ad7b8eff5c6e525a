# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stdout callback printing every task result as one JSON document, for the tests.

ansible-core 2.19's ``ansible.builtin.json`` only redirects to ``ansible.posix.json``, which the
project does not depend on; this is the small part of it the tests need.
"""

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: jarvis_test_json
type: stdout
short_description: Task results as one JSON document (tests only)
description: Collects each task's result per host and prints them as JSON when the playbook ends.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "jarvis_test_json"

    def __init__(self) -> None:
        super().__init__()
        self.plays: list[dict] = []

    def v2_playbook_on_play_start(self, play) -> None:  # type: ignore[no-untyped-def]
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:  # type: ignore[no-untyped-def]
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name(), "path": task.get_path()}, "hosts": {}})

    def _record(self, result, **extra) -> None:  # type: ignore[no-untyped-def]
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = {**result._result, **extra}

    def v2_runner_on_ok(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:  # type: ignore[no-untyped-def]
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats) -> None:  # type: ignore[no-untyped-def]
        self._display.display(json.dumps({"plays": self.plays}, default=str))
