"""A stand-in for AWX's API v2, for the parts jarvis's AWX executor uses.

AWX itself cannot run here (it needs Kubernetes or a container engine, PostgreSQL, Redis and
receptor), so this double answers its HTTP API instead. What is real: a launched job runs the job
template's playbook from this repository with ansible-runner (``run_async``, a private data dir per
job that is removed afterwards, like AWX's), with the launch's extra vars, skip tags, limit and check
or diff mode, and with the environment the job's credentials inject; the job's events are the
runner's events, stored and served as AWX job events. The job templates, their surveys and the
credential types (with their injectors) are read from ``awx/assets.yml``, so the double serves the
real ones. What is imitated: authentication (one bearer token), the HTTP shapes (tests/support/awx_api.py),
AWX's launch validation and variable merging (tests/support/awx_rules.py), and its callback receiver,
which makes events visible a little after ansible-runner emits them (optionally late and out of order,
as AWX's can be).

Shapes and rules follow AWX's source (github.com/ansible/awx); the modules that imitate them name the
parts. From ``awx/main/tasks/jobs.py`` here: ``ANSIBLE_HOST_KEY_CHECKING``/``RETRY_FILES`` set to
False, ``JOB_ID``, the extra vars file in the job's private data dir.
"""

from __future__ import annotations

import datetime
import random
import shlex
import shutil
import threading
import time
import traceback
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import yaml
from werkzeug.serving import BaseWSGIServer

from orchestrator.credentials import CREDENTIAL_ENV
from orchestrator.executors import write_runner_settings
from sandbox import _http
from tests.support.awx_api import AwxApi
from tests.support.awx_rules import (
    FINAL,
    LaunchRefused,
    extra_vars_text,
    inject,
    merged_extra_vars,
    survey_spec_errors,
    validate_launch,
)

__all__ = [
    "ASSETS",
    "REPO",
    "AwxDouble",
    "Credential",
    "LaunchRefused",
    "credentials_from_config",
    "extra_vars_text",
    "inject",
    "load_assets",
    "merged_extra_vars",
    "survey_spec_errors",
]

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "awx" / "assets.yml"
FAILED_EVENTS = {"runner_on_failed", "runner_on_async_failed", "runner_item_on_failed", "runner_on_unreachable"}
EVENT_DISPLAY = {
    "playbook_on_start": "Playbook Started",
    "playbook_on_play_start": "Play Started",
    "playbook_on_task_start": "Task Started",
    "playbook_on_stats": "Playbook Complete",
    "runner_on_start": "Host Started",
    "runner_on_ok": "Host OK",
    "runner_on_failed": "Host Failed",
    "runner_on_skipped": "Host Skipped",
    "runner_on_unreachable": "Host Unreachable",
    "runner_item_on_ok": "Item OK",
    "runner_item_on_failed": "Item Failed",
    "runner_item_on_skipped": "Item Skipped",
    "verbose": "Verbose",
}


def load_assets(path: Path = ASSETS) -> dict[str, Any]:
    """The ``awx import`` document of jarvis's AWX objects."""
    assets: dict[str, Any] = yaml.safe_load(path.read_text())
    return assets


@dataclass
class Credential:
    """An AWX credential: a credential type (by name) and its inputs."""

    name: str
    credential_type: str
    inputs: dict[str, str]


def credentials_from_config(credentials: dict[str, dict[str, str]], assets: dict[str, Any]) -> list[Credential]:
    """The credentials an AWX admin would attach, made from a jarvis config's ``credentials:``.

    Each group goes to the credential type whose injectors set exactly that group's environment
    variables (orchestrator.credentials.CREDENTIAL_ENV); a group without such a type is an error.
    """
    made = []
    for group, values in credentials.items():
        if not values:
            continue
        wanted = set(CREDENTIAL_ENV[group].values())
        matches = [ct for ct in assets["credential_types"] if set(ct["injectors"].get("env", {})) == wanted]
        if len(matches) != 1:
            raise ValueError(f"no single credential type in the assets injects the {group} credentials")
        made.append(Credential(f"jarvis {group}", matches[0]["name"], dict(values)))
    return made


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Job:
    """An AWX job: what it runs, how it went, and its events."""

    id: int
    template: dict[str, Any]
    extra_vars: dict[str, Any]
    safe_vars: dict[str, Any]
    options: dict[str, Any]
    status: str = "pending"
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    job_explanation: str = ""
    result_traceback: str = ""
    cancel_requested: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)  # AWX job events, each with _visible_at
    runner_done: threading.Event = field(default_factory=threading.Event)


class AwxDouble:
    """The double: ``start()`` it (or use it as a context manager), point jarvis at ``url``.

    CREDENTIALS are attached to every job, as an admin attaches them to the job templates. EVENT_DELAY
    is how long after ansible-runner emits an event it becomes visible (AWX's callback receiver);
    SHUFFLE_EVENTS makes events of the same moment visible in a random order.
    """

    def __init__(
        self,
        *,
        token: str,
        credentials: list[Credential],
        work_dir: Path,
        assets: dict[str, Any] | None = None,
        envvars: dict[str, str] | None = None,
        event_delay: float = 0.0,
        shuffle_events: bool = False,
    ) -> None:
        self.token = token
        self.assets = assets if assets is not None else load_assets()
        self.credential_types = {ct["name"]: ct for ct in self.assets["credential_types"]}
        for credential in credentials:
            if credential.credential_type not in self.credential_types:
                raise ValueError(f"unknown credential type {credential.credential_type!r}")
        self.credentials = credentials
        self.work_dir = work_dir
        self.envvars = dict(envvars or {})
        self.event_delay = event_delay
        self.random = random.Random(6) if shuffle_events else None
        self.templates = {index: deepcopy(jt) for index, jt in enumerate(self.assets["job_templates"], start=1)}
        self.jobs: dict[int, Job] = {}
        self.launches: list[dict[str, Any]] = []  # every launch request body, for tests to look at
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._lock = threading.Lock()
        self._event_ids = 0
        self._server: BaseWSGIServer | None = None

    # ---- life cycle ------------------------------------------------------------------------------

    def start(self) -> AwxDouble:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._server = _http.serve(AwxApi(self), name="awx-double")
        return self

    def stop(self) -> None:
        with self._lock:
            for job in self.jobs.values():
                job.cancel_requested = True
        for job in list(self.jobs.values()):
            job.runner_done.wait(timeout=60)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AwxDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the double first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- launching and running jobs ----------------------------------------------------------------

    def launch(self, template_id: int, body: dict[str, Any]) -> tuple[Job, dict[str, Any]]:
        """Validate a launch like AWX's JobLaunchSerializer (LaunchRefused); create and start the job."""
        template = self.templates[template_id]
        launch = validate_launch(template, body)
        with self._lock:
            job = Job(len(self.jobs) + 1, template, launch.extra_vars, launch.safe_vars, launch.options)
            self.jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), name=f"awx-job-{job.id}", daemon=True).start()
        return job, launch.ignored

    def _run(self, job: Job) -> None:
        template = job.template
        try:
            while not template.get("allow_simultaneous") and self._another_running(job):
                time.sleep(0.1)
            if job.cancel_requested:
                self._finish(job, "canceled", "Job was canceled before it started.")
                return
            job.status = "waiting"
            private_dir = self.work_dir / f"job_{job.id}"
            private_dir.mkdir(mode=0o700)
            (private_dir / "env").mkdir(mode=0o700)
            extra_vars_file = private_dir / "env" / "extravars"  # where AWX puts them (/runner/env/extravars)
            extra_vars_file.touch(mode=0o600)
            extra_vars_file.write_text(extra_vars_text(job.extra_vars, job.safe_vars))
            try:
                status = self._run_playbook(job, private_dir, extra_vars_file)
            finally:
                shutil.rmtree(private_dir, ignore_errors=True)  # AWX removes a job's private data dir
            explanation = {"canceled": "Job was canceled.", "timeout": "Job terminated due to timeout"}.get(status, "")
            self._finish(job, {"timeout": "failed"}.get(status, status), explanation)
        except Exception:  # noqa: BLE001 - AWX records any failure to run as status error
            job.result_traceback = traceback.format_exc()
            self._finish(job, "error", "The job could not run.")

    def _another_running(self, job: Job) -> bool:
        with self._lock:
            return any(
                other.template is job.template and other.id < job.id and other.status not in FINAL
                for other in self.jobs.values()
            )

    def _run_playbook(self, job: Job, private_dir: Path, extra_vars_file: Path) -> str:
        options = job.options
        cmdline = ["-e", f"@{extra_vars_file}"]
        for name, flag in (("skip_tags", "--skip-tags"), ("job_tags", "--tags"), ("limit", "--limit")):
            if options[name]:
                cmdline += [flag, str(options[name])]
        if options["job_type"] == "check":
            cmdline.append("--check")
        if options["diff_mode"]:
            cmdline.append("--diff")
        if options["verbosity"]:
            cmdline.append("-" + "v" * int(options["verbosity"]))
        env = {
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "JOB_ID": str(job.id),
            "AWX_HOST": self.url if self._server else "",
            **self.envvars,
        }
        for credential in self.credentials:
            env.update(inject(self.credential_types[credential.credential_type], credential.inputs))

        write_runner_settings(private_dir)  # cancel within a second, as AWX does

        def running(data: dict[str, Any], runner_config: Any = None) -> None:
            if data.get("status") == "running" and job.status == "waiting":
                job.status, job.started, job.started_at = "running", _now(), time.monotonic()

        thread, runner = ansible_runner.run_async(
            private_data_dir=str(private_dir),
            ident=f"job_{job.id}",
            playbook=str(REPO / job.template["playbook"]),
            inventory={"all": {"hosts": {}}},
            cmdline=" ".join(shlex.quote(arg) for arg in cmdline),
            envvars=env,
            forks=int(job.template.get("forks") or 5),
            event_handler=lambda event: self._receive(job, event),
            status_handler=running,
            cancel_callback=lambda: job.cancel_requested,
            quiet=True,
            suppress_env_files=True,
        )
        thread.join()
        return str(runner.status)

    def _finish(self, job: Job, status: str, explanation: str) -> None:
        job.finished, job.finished_at = _now(), time.monotonic()
        job.job_explanation = job.job_explanation or explanation
        job.status = status
        job.runner_done.set()

    def _receive(self, job: Job, event: dict[str, Any]) -> bool:
        """AWX's callback receiver: store the runner's event as a job event, visible a little later."""
        data = dict(event.get("event_data") or {})
        kind = str(event.get("event", ""))
        result = data.get("res") if isinstance(data.get("res"), dict) else {}
        with self._lock:
            self._event_ids += 1
            event_id = self._event_ids
        delay = self.event_delay * (1 + self.random.random()) if self.random else self.event_delay
        job.events.append(
            {
                "id": event_id,
                "type": "job_event",
                "url": f"/api/v2/job_events/{event_id}/",
                "related": {
                    "job": f"/api/v2/jobs/{job.id}/",
                    "children": f"/api/v2/job_events/{event_id}/children/",
                },
                "summary_fields": {
                    "job": {"id": job.id, "name": job.template["name"], "status": job.status},
                    "role": {},
                },
                "created": event.get("created") or _now(),
                "modified": _now(),
                "job": job.id,
                "event": kind,
                "counter": event.get("counter"),
                "event_display": EVENT_DISPLAY.get(kind, kind),
                "event_data": data,
                "event_level": 0 if kind == "playbook_on_start" else 1 if kind.endswith("play_start") else 2,
                "failed": kind in FAILED_EVENTS and not data.get("ignore_errors"),
                "changed": bool(result.get("changed")) if kind.startswith("runner_on") else False,
                "uuid": event.get("uuid", ""),
                "parent_uuid": event.get("parent_uuid", data.get("parent_uuid", "")),
                "host": None,  # the design's hosts are added by add_host, not in AWX's inventory
                "host_name": data.get("host", ""),
                "playbook": data.get("playbook", ""),
                "play": data.get("play", ""),
                "task": data.get("task", ""),
                "role": data.get("role", ""),
                "stdout": event.get("stdout", ""),
                "start_line": event.get("start_line", 0),
                "end_line": event.get("end_line", 0),
                "verbosity": event.get("verbosity", 0),
                "_visible_at": time.monotonic() + delay,
            }
        )
        return True

    def cancel(self, job_id: int) -> bool:
        job = self.jobs[job_id]
        if job.status in FINAL:
            return False
        job.cancel_requested = True
        return True
