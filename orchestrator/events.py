"""Turn ansible-runner task events into stage transitions, facts and a status per host.

Each task belongs to the stage named by its task file (see :mod:`orchestrator.stages`); a stage
starts with its first task on a host and ends when the next one starts, when it fails, or when
the playbook ends. The same mapping serves local runs, remote workers and AWX job events.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.render import cancel_check_stage
from orchestrator.stages import BY_ID, findings_of, stage_of_task_path, stage_title
from orchestrator.store import DeploymentStore

FAILURE_EVENTS = {"runner_on_failed", "runner_on_unreachable"}
RESULT_EVENTS = {"runner_on_ok", "runner_on_skipped", *FAILURE_EVENTS}
MAX_REASON = 300
# How a host's run ends well: deployed (ready), destroyed, or planned (a dry run).
DONE_STATES = frozenset({"ready", "destroyed", "planned"})
BANNER = re.compile(r"@{3,}")


@dataclass(frozen=True)
class Transition:
    """Something a person watching the deployment wants to hear about."""

    deployment_id: str
    hostname: str
    stage: str
    state: str  # running | ok | changed | failed | ready | destroyed | canceled | planned
    detail: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def title(self) -> str:
        return stage_title(self.stage)


Listener = Callable[[Transition], None]
Redactor = Callable[[str], str]


@dataclass
class _HostProgress:
    stage: str | None = None
    changed: bool = False
    ran: bool = False  # a task of the current stage ran (was not skipped)
    note: str | None = None
    actions: list[str] = field(default_factory=list)
    finished: bool = False
    reached_end: bool = False  # a task of the last stage (ready; a destroy's forget) succeeded


class StageTracker:
    """Consumes one deployment's events in order; writes the store and tells the listener."""

    def __init__(
        self,
        store: DeploymentStore,
        deployment_id: str,
        hostnames: list[str],
        redact: Redactor,
        listener: Listener | None = None,
        kind: str = "deploy",
    ) -> None:
        self.store = store
        self.deployment_id = deployment_id
        self.redact = redact
        self.listener = listener
        self.plan = kind == "plan"  # a dry run: hosts end "planned"
        # A host ends "ready" after the ready stage; a destroyed one "destroyed" after the forget stage.
        self.last_stage, self.end_state = ("forget", "destroyed") if kind == "destroy" else ("ready", "ready")
        self.hosts = {name: _HostProgress() for name in hostnames}
        self._canceled_alone: set[str] = set()  # hosts whose cancel flag is set (or about to be)
        self._check: tuple[str, set[str]] | None = None  # the cancel check under way: its stage, hosts past it
        self._lock = threading.Lock()  # cancel_host() comes from the runner's thread

    def cancel_host(self, hostname: str) -> None:
        """HOSTNAME's cancel flag is about to be set: it ends at the first cancel check it does not pass.

        ``meta: end_host`` sends no event for the host it ends, but every host that goes on is reported
        skipped; under the linear strategy each host has done the check once the next task starts. So a
        host asked to stop that was not skipped by the check has ended there.
        """
        with self._lock:
            self._canceled_alone.add(hostname)

    def handle(self, event: dict[str, Any]) -> None:
        data = event.get("event_data") or {}
        host = data.get("host")
        kind = event.get("event")
        if kind in ("playbook_on_task_start", "playbook_on_stats"):
            check = cancel_check_stage(data.get("task")) if kind == "playbook_on_task_start" else None
            if check is None or self._check is None or self._check[0] != check:  # a meta task starts per host
                self._settle_check()
                self._check = (check, set()) if check else None
            return
        if kind == "runner_on_skipped" and self._check and cancel_check_stage(data.get("task")) == self._check[0]:
            self._check[1].add(str(host))
            return
        stage = stage_of_task_path(data.get("task_path"))
        if host not in self.hosts or stage is None or self.hosts[host].finished:
            return
        progress = self.hosts[host]
        if kind == "runner_on_start" and progress.stage != stage:
            self._close(host, "ok")
            progress.stage = stage
            self.store.start_stage(self.deployment_id, host, stage)
            self._tell(host, stage, "running")
        elif kind in RESULT_EVENTS:
            result = data.get("res") or {}
            if kind in FAILURE_EVENTS and not data.get("ignore_errors"):
                self._fail(host, stage, _reason(result, kind, self.redact))
                return
            progress.changed |= bool(result.get("changed"))
            progress.ran |= kind == "runner_on_ok"
            if result.get("changed"):  # a look with changed_when: false (production_check's) did nothing
                progress.actions += [self.redact(str(action)) for action in result.get("actions") or []]
            if data.get("task_action") in ("debug", "ansible.builtin.debug") and result.get("msg"):
                progress.note = self.redact(str(result["msg"]))  # a stage that explains itself
            facts = findings_of(stage, data.get("resolved_action") or data.get("task_action") or "", result)
            if facts:
                self.store.merge_facts(self.deployment_id, host, facts)
            if stage == self.last_stage and kind == "runner_on_ok":
                progress.reached_end = True

    def finish(self, runner_status: str) -> None:
        """Close every host once the playbook has ended with the runner's final status."""
        for host, progress in self.hosts.items():
            if progress.finished:
                continue
            if runner_status == "canceled":
                stage = progress.stage or "validate"
                self._close(host, "canceled")
                self.store.finish_host(self.deployment_id, host, "canceled", "canceled by request", stage)
                self._tell(host, stage, "canceled", "canceled by request")
            elif progress.reached_end:
                self._close(host, "ok")
                self.store.finish_host(self.deployment_id, host, self.end_state)
                self._tell(host, self.last_stage, self.end_state)
            elif self.plan:
                stage = progress.stage or "validate"
                self._close(host, "ok")
                self.store.finish_host(self.deployment_id, host, "planned", None, stage)
                self._tell(host, stage, "planned")
            else:
                stage = progress.stage or "validate"
                reason = f"the playbook ended ({runner_status}) during stage {stage}"
                self._fail(host, stage, reason)

    def _settle_check(self) -> None:
        """End, as canceled at the check's stage, each host asked to stop that did not pass the check."""
        if self._check is None:
            return
        stage, passed = self._check
        self._check = None
        with self._lock:
            stopped = sorted(self._canceled_alone - passed)
        for host in stopped:
            progress = self.hosts.get(host)
            if progress is None or progress.finished:
                continue
            self._close(host, "ok")
            progress.finished = True
            progress.stage = None
            self.store.finish_host(self.deployment_id, host, "canceled", "canceled alone by request", stage)
            self._tell(host, stage, "canceled", "canceled alone by request")

    def abort(self, reason: str) -> None:
        """Fail every host still going: the executor could not run (or follow) the playbook."""
        for host, progress in self.hosts.items():
            if not progress.finished:
                self._fail(host, progress.stage or "validate", reason)

    def _close(self, host: str, outcome: str) -> None:
        """End the host's current stage; 'ok' becomes 'changed' when a task changed something."""
        progress = self.hosts[host]
        if progress.stage is None:
            return
        state = "changed" if outcome == "ok" and progress.changed else outcome
        if state == "ok" and not progress.ran:
            state = "skipped"  # every task's condition said the design does not ask for this stage
        if state == "canceled":
            state = "not_run"
        self.store.end_stage(self.deployment_id, host, progress.stage, state, progress.note, progress.actions)
        if state in ("ok", "changed", "skipped") and progress.stage != self.last_stage:  # told once, by finish()
            self._tell(host, progress.stage, state, "; ".join(progress.actions) or None)
        progress.changed, progress.ran, progress.note, progress.actions = False, False, None, []

    def _fail(self, host: str, stage: str, reason: str) -> None:
        progress = self.hosts[host]
        self.store.end_stage(self.deployment_id, host, stage, "failed", reason, progress.actions)
        self.store.finish_host(self.deployment_id, host, "failed", reason, stage)
        progress.finished = True
        progress.stage = None
        self._tell(host, stage, "failed", reason)

    def _tell(self, host: str, stage: str, state: str, detail: str | None = None) -> None:
        if state in ("running", "failed", "ready", "destroyed", "canceled"):
            self.store.add_event(self.deployment_id, state, detail or BY_ID[stage].title, host, stage)
        if self.listener is not None:
            self.listener(Transition(self.deployment_id, host, stage, state, detail))


def _reason(result: dict[str, Any], kind: str, redact: Redactor) -> str:
    """A short, one-line, secret-free reason for a failed task."""
    if kind == "runner_on_unreachable":
        text = f"unreachable: {result.get('msg', '')}"
    else:
        text = str(result.get("msg") or result.get("stderr") or result.get("stdout") or "failed")
    text = " ".join(BANNER.sub(" ", redact(text)).split())  # ssh frames its warnings in @@@@ lines
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
