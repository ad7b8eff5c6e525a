"""A stand-in for AWX's API v2, for the parts jarvis's AWX executor uses.

AWX itself cannot run here (it needs Kubernetes or a container engine, PostgreSQL, Redis and
receptor), so this double answers its HTTP API instead. What is real: a launched job runs the job
template's playbook from this repository with ansible-runner (``run_async``, a private data dir per
job that is removed afterwards, like AWX's), with the launch's extra vars, skip tags, limit and check
or diff mode, and with the environment the job's credentials inject; the job's events are the
runner's events, stored and served as AWX job events. The job templates, their surveys and the
credential types (with their injectors) are read from ``awx/assets.yml``, so the double serves the
real ones. What is imitated: authentication (one bearer token), the HTTP shapes, AWX's launch
validation and variable merging, and its callback receiver, which makes events visible a little
after ansible-runner emits them (optionally late and out of order, as AWX's can be).

Shapes and rules follow AWX's source (github.com/ansible/awx):

- ``awx/api/serializers.py``: ``JobEventSerializer`` (id, counter, event, event_data, event_level,
  failed, changed, uuid, parent_uuid, host, host_name, playbook, play, task, role, stdout,
  start_line, end_line, verbosity), ``JobLaunchSerializer`` (extra_vars, job_type, skip_tags,
  limit, job_tags, diff_mode, verbosity; refusals as ``{"field": [messages]}``; fields a template
  does not prompt for land in ``ignored_fields``), the launch answer ``{"job", "ignored_fields",
  ...job}``, the job's ``status``, ``failed``, ``elapsed``, ``result_traceback`` and
  ``event_processing_finished``;
- ``awx/main/models/mixins.py`` ``SurveyJobTemplateMixin``: survey answer validation
  (``variables_needed_to_start``), "JT extra_vars -> survey defaults -> runtime extra_vars";
- ``awx/api/views`` ``JobTemplateSurveySpec._validate_spec_data`` (survey spec rules), job
  cancel (POST 202, GET ``{"can_cancel"}``), ``JobTemplateLaunch.post`` (201 with a Location);
- ``awx/main/models/credential`` ``CredentialType.inject_credential``: env injectors rendered with
  Jinja's ``ImmutableSandboxedEnvironment``, empty fields left out of the namespace;
- ``awx/main/tasks/jobs.py``: extra vars written to a file where only the template's own variables
  may hold Jinja (the others are ``!unsafe``), ``ANSIBLE_HOST_KEY_CHECKING``/``RETRY_FILES``
  set to False, ``JOB_ID``;
- DRF's page format ``{"count", "next", "previous", "results"}`` with ``page``/``page_size``
  (at most 200), ``order_by`` and ``<field>__gt`` filters; 401 ``{"detail": ...}``.
"""

from __future__ import annotations

import datetime
import json
import math
import random
import shlex
import shutil
import threading
import time
import traceback
from copy import deepcopy
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import ansible_runner
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from orchestrator.config import CREDENTIAL_ENV
from orchestrator.executors import write_runner_settings

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "awx" / "assets.yml"
VERSION = "24.6.1"  # the AWX release whose API this follows
MAX_PAGE_SIZE = 200
FINAL = ("successful", "failed", "error", "canceled")
SURVEY_TYPES = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": float,
}
# Launch fields a template may prompt for, and the flag that allows each.
PROMPTS = {
    "job_type": "ask_job_type_on_launch",
    "skip_tags": "ask_skip_tags_on_launch",
    "job_tags": "ask_tags_on_launch",
    "limit": "ask_limit_on_launch",
    "diff_mode": "ask_diff_mode_on_launch",
    "verbosity": "ask_verbosity_on_launch",
}
PROMPT_DEFAULTS: dict[str, Any] = {
    "job_type": "run",
    "skip_tags": "",
    "job_tags": "",
    "limit": "",
    "diff_mode": False,
    "verbosity": 0,
}
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
UNAUTHORIZED = "Authentication credentials were not provided. To establish a login session, visit /api/login/."


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
    variables (orchestrator.config.CREDENTIAL_ENV); a group without such a type is an error.
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


def inject(credential_type: dict[str, Any], inputs: dict[str, Any]) -> dict[str, str]:
    """The environment a credential of CREDENTIAL_TYPE adds to a job, rendered as AWX does."""
    namespace: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, bool) or len(str(value)):
            namespace[name] = value
    for spec in credential_type["inputs"].get("fields", []):
        if spec.get("type") == "boolean" and spec["id"] not in inputs:
            namespace[spec["id"]] = False
    sandbox = ImmutableSandboxedEnvironment()
    return {
        variable: sandbox.from_string(template).render(**namespace)
        for variable, template in credential_type.get("injectors", {}).get("env", {}).items()
    }


class LaunchRefused(Exception):
    """A launch AWX answers with 400 and these field errors."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


def parse_extra_vars(value: Any) -> dict[str, Any]:
    """Extra vars as AWX accepts them: a mapping, or JSON or YAML text of one."""
    if isinstance(value, dict):
        return value
    if value in (None, ""):
        return {}
    if not isinstance(value, str):
        raise LaunchRefused({"extra_vars": [f"Input type `{type(value).__name__}` is not a dictionary"]})
    try:
        parsed = json.loads(value)
    except ValueError as json_error:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as yaml_error:
            message = f"Cannot parse as JSON (error: {json_error}) or YAML (error: {yaml_error})."
            raise LaunchRefused({"extra_vars": [message]}) from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise LaunchRefused({"extra_vars": [f"Input type `{type(parsed).__name__}` is not a dictionary"]})
    return parsed


def _choices(question: dict[str, Any]) -> list[str]:
    choices = question.get("choices") or []
    if isinstance(choices, str):
        return [choice for choice in choices.splitlines() if choice.strip()]
    return list(choices)


def survey_answer_errors(question: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """AWX's ``_survey_element_validation`` of one question against the launch's variables."""
    variable, kind = question["variable"], question["type"]
    if variable not in data:
        return [f"'{variable}' value missing"] if question["required"] else []
    value = data[variable]
    low, high = question.get("min"), question.get("max")
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"Value {value} for '{variable}' expected to be a string."]
        errors = []
        if low not in ("", None) and len(value) < int(low):
            errors.append(f"'{variable}' value {value} is too small (length is {len(value)} must be at least {low}).")
        if high not in ("", None) and len(value) > int(high):
            errors.append(f"'{variable}' value {value} is too large (must be no more than {high}).")
        return errors
    if kind in ("integer", "float"):
        numeric = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            expected = "an integer" if kind == "integer" else "a numeric type"
            return [f"Value {value} for '{variable}' expected to be {expected}."]
        errors = []
        if low not in ("", None) and value < low:
            errors.append(f"'{variable}' value {value} is too small (must be at least {low}).")
        if high not in ("", None) and value > high:
            errors.append(f"'{variable}' value {value} is too large (must be no more than {high}).")
        return errors
    if kind == "multiselect":
        if not isinstance(value, list):
            return [f"'{variable}' value is expected to be a list."]
        choices = _choices(question)
        return [
            f"Value {item} for '{variable}' expected to be one of {choices}." for item in value if item not in choices
        ]
    if kind == "multiplechoice" and value not in _choices(question):
        return [f"Value {value} for '{variable}' expected to be one of {_choices(question)}."]
    return []


def survey_spec_errors(spec: Any) -> list[str]:
    """What AWX's survey_spec endpoint would refuse in SPEC (empty: it would be accepted)."""
    if not isinstance(spec, dict):
        return ["the survey spec is not a mapping"]
    errors = []
    for key, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(key), kind):
            errors.append(f"Field '{key}' is missing from survey spec or is not a {kind.__name__}.")
    questions = spec.get("spec") if isinstance(spec.get("spec"), list) else []
    if not questions:
        errors.append("'spec' doesn't contain any items.")
    seen: set[str] = set()
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            errors.append(f"Survey question {index} is not a json object.")
            continue
        for key, kind in (("type", str), ("question_name", str), ("variable", str), ("required", bool)):
            if not isinstance(question.get(key), kind):
                errors.append(f"'{key}' missing from survey question {index} or not a {kind.__name__}")
        variable = question.get("variable")
        if variable in seen:
            errors.append(f"'variable' '{variable}' duplicated in survey question {index}.")
        seen.add(str(variable))
        kind_name = question.get("type")
        if kind_name not in SURVEY_TYPES:
            errors.append(f"'{kind_name}' in survey question {index} is not one of the allowed question types.")
            continue
        default = question.get("default", "")
        if default != "" and not isinstance(default, SURVEY_TYPES[kind_name]):
            errors.append(f"Default value {default} in survey question {index} expected to be {kind_name}.")
        for key in ("min", "max"):
            if question.get(key) is not None and not isinstance(question[key], int):
                errors.append(f"The {key} limit in survey question {index} expected to be integer.")
        if kind_name in ("multiplechoice", "multiselect"):
            if "choices" not in question:
                errors.append(f"Survey question {index} of type {kind_name} must specify choices.")
            elif default != "":
                defaults = default.splitlines() if isinstance(default, str) else list(default)
                if kind_name == "multiplechoice" and len(defaults) > 1:
                    errors.append("Multiple Choice (Single Select) can only have one default value.")
                if any(item not in _choices(question) for item in defaults):
                    errors.append("Default choice must be answered from the choices listed.")
        if default != "" and kind_name != "multiselect" and survey_answer_errors(question, {str(variable): default}):
            errors.append(f"Default value of survey question {index} does not satisfy its own rules.")
    return errors


def merged_extra_vars(template: dict[str, Any], runtime: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A job's extra vars ("JT extra_vars -> survey defaults -> runtime") and those that may hold Jinja.

    Only the template's own variables may be templated (AWX's ALLOW_JINJA_IN_EXTRA_VARS = template).
    """
    own = parse_extra_vars(template.get("extra_vars") or "")
    merged = dict(own)
    if template.get("survey_enabled"):
        for question in template.get("related", {}).get("survey_spec", {}).get("spec", []):
            default = question.get("default")
            if default is not None and not survey_answer_errors(question, {question["variable"]: default}):
                merged[question["variable"]] = default
    merged.update(runtime)
    safe = {key: value for key, value in own.items() if merged.get(key) == value}
    return merged, safe


class _UnsafeText(str):
    """A string AWX marks ``!unsafe`` so that Ansible never renders Jinja in it."""


def _unsafe_representer(dumper: yaml.SafeDumper, data: _UnsafeText) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", str(data))


class _ExtraVarsDumper(yaml.SafeDumper):
    pass


_ExtraVarsDumper.add_representer(_UnsafeText, _unsafe_representer)


def _mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return _UnsafeText(value)
    if isinstance(value, list):
        return [_mark_unsafe(item) for item in value]
    if isinstance(value, dict):
        return {key: _mark_unsafe(item) for key, item in value.items()}
    return value


def extra_vars_text(extra_vars: dict[str, Any], safe: dict[str, Any]) -> str:
    """The extra vars file AWX hands ansible-playbook: values not from SAFE tagged ``!unsafe``."""
    marked = {key: value if key in safe else _mark_unsafe(value) for key, value in extra_vars.items()}
    return str(yaml.dump(marked, Dumper=_ExtraVarsDumper, default_flow_style=False, sort_keys=False))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Job:
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
        self.jobs: dict[int, _Job] = {}
        self.launches: list[dict[str, Any]] = []  # every launch request body, for tests to look at
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._lock = threading.Lock()
        self._event_ids = 0
        self._server: ThreadingHTTPServer | None = None

    # ---- life cycle ------------------------------------------------------------------------------

    def start(self) -> AwxDouble:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        handler = type("_BoundHandler", (_Handler,), {"double": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="awx-double", daemon=True).start()
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

    def launch(self, template_id: int, body: dict[str, Any]) -> tuple[_Job, dict[str, Any]]:
        """Validate a launch like AWX's JobLaunchSerializer; create and start the job."""
        template = self.templates[template_id]
        errors: dict[str, list[str]] = {}
        ignored: dict[str, Any] = {}
        options = {name: template.get(name, default) for name, default in PROMPT_DEFAULTS.items()}
        for name, flag in PROMPTS.items():
            if name not in body:
                continue
            value = body[name]
            if name == "job_type" and value not in ("run", "check"):
                errors[name] = [f'"{value}" is not a valid choice.']
            elif name == "diff_mode" and not isinstance(value, bool):
                errors[name] = ["Must be a valid boolean."]
            elif template.get(flag):
                options[name] = value
            elif value != options[name]:
                ignored[name] = value
        try:
            runtime = parse_extra_vars(body.get("extra_vars"))
        except LaunchRefused as refused:
            errors.update(refused.errors)
            runtime = {}
        accepted: dict[str, Any] = {}
        if template.get("survey_enabled"):
            survey_errors = []
            for question in template.get("related", {}).get("survey_spec", {}).get("spec", []):
                problems = survey_answer_errors(question, runtime)
                survey_errors += problems
                if question["variable"] in runtime and not problems:
                    accepted[question["variable"]] = runtime.pop(question["variable"])
            if survey_errors:
                errors["variables_needed_to_start"] = survey_errors
        if template.get("ask_variables_on_launch"):
            accepted.update(runtime)
        elif runtime:
            ignored["extra_vars"] = runtime
        if errors:
            raise LaunchRefused(errors)
        extra_vars, safe = merged_extra_vars(template, accepted)
        with self._lock:
            job = _Job(len(self.jobs) + 1, template, extra_vars, safe, options)
            self.jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), name=f"awx-job-{job.id}", daemon=True).start()
        return job, ignored

    def _run(self, job: _Job) -> None:
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

    def _another_running(self, job: _Job) -> bool:
        with self._lock:
            return any(
                other.template is job.template and other.id < job.id and other.status not in FINAL
                for other in self.jobs.values()
            )

    def _run_playbook(self, job: _Job, private_dir: Path, extra_vars_file: Path) -> str:
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

    def _finish(self, job: _Job, status: str, explanation: str) -> None:
        job.finished, job.finished_at = _now(), time.monotonic()
        job.job_explanation = job.job_explanation or explanation
        job.status = status
        job.runner_done.set()

    def _receive(self, job: _Job, event: dict[str, Any]) -> bool:
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

    # ---- representations ------------------------------------------------------------------------

    def template_json(self, template_id: int) -> dict[str, Any]:
        template = self.templates[template_id]
        fields = {
            key: value
            for key, value in template.items()
            if key not in ("natural_key", "related", "inventory", "project", "execution_environment")
        }
        return {
            "id": template_id,
            "type": "job_template",
            "url": f"/api/v2/job_templates/{template_id}/",
            "related": {
                "launch": f"/api/v2/job_templates/{template_id}/launch/",
                "survey_spec": f"/api/v2/job_templates/{template_id}/survey_spec/",
                "jobs": f"/api/v2/job_templates/{template_id}/jobs/",
            },
            "summary_fields": {
                "organization": {"id": 1, "name": template["natural_key"]["organization"]["name"]},
                "credentials": [
                    {"id": index, "name": credential.name, "kind": "cloud"}
                    for index, credential in enumerate(self.credentials, start=1)
                ],
            },
            **{flag: bool(template.get(flag)) for flag in (*PROMPTS.values(), "ask_variables_on_launch")},
            **PROMPT_DEFAULTS,
            **fields,
            "inventory": 1,
            "project": 1,
            "organization": 1,
        }

    def job_json(self, job: _Job) -> dict[str, Any]:
        now = time.monotonic()
        started = job.started_at or now
        elapsed = (job.finished_at or now) - started if job.started_at else 0.0
        done = job.status in FINAL and all(event["_visible_at"] <= now for event in job.events)
        return {
            "id": job.id,
            "type": "job",
            "url": f"/api/v2/jobs/{job.id}/",
            "related": {
                "job_events": f"/api/v2/jobs/{job.id}/job_events/",
                "cancel": f"/api/v2/jobs/{job.id}/cancel/",
                "job_template": f"/api/v2/job_templates/{self._template_id(job)}/",
            },
            "summary_fields": {"job_template": {"id": self._template_id(job), "name": job.template["name"]}},
            "created": job.created,
            "modified": job.finished or job.started or job.created,
            "name": job.template["name"],
            "description": job.template.get("description", ""),
            "job_type": job.options["job_type"],
            "launch_type": "manual",
            "status": job.status,
            "failed": job.status in ("failed", "error", "canceled"),
            "started": job.started,
            "finished": job.finished,
            "canceled_on": job.finished if job.status == "canceled" else None,
            "elapsed": round(elapsed, 3),
            "job_explanation": job.job_explanation,
            "execution_node": "awx-double",
            "result_traceback": job.result_traceback,
            "event_processing_finished": done,
            "job_template": self._template_id(job),
            "playbook": job.template["playbook"],
            "extra_vars": json.dumps(job.extra_vars),
            "skip_tags": job.options["skip_tags"],
            "job_tags": job.options["job_tags"],
            "limit": job.options["limit"],
            "diff_mode": job.options["diff_mode"],
            "verbosity": job.options["verbosity"],
            "forks": job.template.get("forks", 0),
            "allow_simultaneous": bool(job.template.get("allow_simultaneous")),
            "inventory": 1,
            "project": 1,
            "artifacts": {},
        }

    def _template_id(self, job: _Job) -> int:
        return next(index for index, template in self.templates.items() if template is job.template)

    def visible_events(self, job: _Job) -> list[dict[str, Any]]:
        now = time.monotonic()
        visible = [event for event in list(job.events) if event["_visible_at"] <= now]
        return [{key: value for key, value in event.items() if key != "_visible_at"} for event in visible]


def _page(items: list[dict[str, Any]], path: str, query: dict[str, str]) -> dict[str, Any]:
    """DRF's page of ITEMS for ``page`` and ``page_size`` in QUERY."""
    size = min(max(int(query.get("page_size", "25")), 1), MAX_PAGE_SIZE)
    number = max(int(query.get("page", "1")), 1)
    pages = max(math.ceil(len(items) / size), 1)

    def link(page: int) -> str | None:
        if page < 1 or page > pages:
            return None
        return f"{path}?{urlencode({**query, 'page': str(page), 'page_size': str(size)})}"

    return {
        "count": len(items),
        "next": link(number + 1),
        "previous": link(number - 1) if number > 1 else None,
        "results": items[(number - 1) * size : number * size],
    }


def _filtered(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """Items kept by QUERY's ``field`` and ``field__gt`` filters, sorted by ``order_by``."""
    for key, value in query.items():
        if key in ("page", "page_size", "order_by"):
            continue
        name, _, lookup = key.partition("__")
        if lookup == "gt":
            items = [item for item in items if item.get(name) is not None and item[name] > int(value)]
        elif not lookup:
            items = [item for item in items if str(item.get(name)) == value]
    if order := query.get("order_by"):
        items = sorted(items, key=lambda item: item.get(order.lstrip("-")) or 0, reverse=order.startswith("-"))
    return items


class _Handler(BaseHTTPRequestHandler):
    double: AwxDouble
    disable_nagle_algorithm = True  # else every answer waits ~40 ms for the client's delayed ACK
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        parts = [part for part in url.path.split("/") if part]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.double.requests.append((method, url.path))
        try:
            if parts[:2] != ["api", "v2"]:
                raise _Answer(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
            if parts[2:] == ["ping"]:
                self._only(method, "GET")
                raise _Answer(HTTPStatus.OK, {"ha": False, "version": VERSION, "active_node": "awx-double"})
            if self.headers.get("Authorization", "") != f"Bearer {self.double.token}":
                raise _Answer(HTTPStatus.UNAUTHORIZED, {"detail": UNAUTHORIZED})
            raise _Answer(*self._route(method, parts[2:], url.path, query, raw))
        except _Answer as answer:
            self._send(answer.status, answer.body, answer.headers)
        except Exception:  # noqa: BLE001 - a bug here must still answer, as AWX's 500 does
            traceback.print_exc()
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "A server error has occurred."}, {})

    def _route(
        self, method: str, parts: list[str], path: str, query: dict[str, str], raw: bytes
    ) -> tuple[HTTPStatus, Any, dict[str, str]]:
        double = self.double
        if parts == ["me"]:
            self._only(method, "GET")
            user = {"id": 1, "type": "user", "username": "jarvis", "is_superuser": False}
            return HTTPStatus.OK, _page([user], path, query), {}
        if parts == ["job_templates"]:
            self._only(method, "GET")
            templates = [double.template_json(index) for index in double.templates]
            return HTTPStatus.OK, _page(_filtered(templates, query), path, query), {}
        if len(parts) >= 2 and parts[0] == "job_templates":
            template_id = self._id(parts[1], double.templates)
            if parts[2:] == []:
                self._only(method, "GET")
                return HTTPStatus.OK, double.template_json(template_id), {}
            if parts[2:] == ["launch"]:
                if method == "GET":
                    return HTTPStatus.OK, self._launch_info(template_id), {}
                self._only(method, "POST")
                return self._launch(template_id, raw)
        if len(parts) >= 2 and parts[0] == "jobs":
            job_id = self._id(parts[1], double.jobs)
            job = double.jobs[job_id]
            if parts[2:] == []:
                self._only(method, "GET")
                return HTTPStatus.OK, double.job_json(job), {}
            if parts[2:] == ["job_events"]:
                self._only(method, "GET")
                events = _filtered(double.visible_events(job), {"order_by": "counter", **query})
                return HTTPStatus.OK, _page(events, path, query), {}
            if parts[2:] == ["cancel"]:
                if method == "GET":
                    return HTTPStatus.OK, {"can_cancel": job.status not in FINAL}, {}
                self._only(method, "POST")
                if not double.cancel(job_id):
                    raise _Answer(HTTPStatus.METHOD_NOT_ALLOWED, {"detail": 'Method "POST" not allowed.'})
                return HTTPStatus.ACCEPTED, None, {}
        raise _Answer(HTTPStatus.NOT_FOUND, {"detail": "Not found."})

    def _launch_info(self, template_id: int) -> dict[str, Any]:
        template = self.double.templates[template_id]
        questions = template.get("related", {}).get("survey_spec", {}).get("spec", [])
        return {
            "can_start_without_user_input": not any(q["required"] for q in questions),
            "passwords_needed_to_start": [],
            "ask_variables_on_launch": bool(template.get("ask_variables_on_launch")),
            **{flag: bool(template.get(flag)) for flag in PROMPTS.values()},
            "survey_enabled": bool(template.get("survey_enabled")),
            "variables_needed_to_start": [q["variable"] for q in questions if q["required"]],
            "credential_needed_to_start": False,
            "inventory_needed_to_start": False,
            "job_template_data": {
                "name": template["name"],
                "id": template_id,
                "description": template.get("description", ""),
            },
        }

    def _launch(self, template_id: int, raw: bytes) -> tuple[HTTPStatus, Any, dict[str, str]]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise _Answer(HTTPStatus.BAD_REQUEST, {"detail": f"JSON parse error - {exc}"}) from None
        if not isinstance(body, dict):
            raise _Answer(HTTPStatus.BAD_REQUEST, {"detail": "Invalid data. Expected a dictionary."})
        self.double.launches.append(body)
        try:
            job, ignored = self.double.launch(template_id, body)
        except LaunchRefused as refused:
            raise _Answer(HTTPStatus.BAD_REQUEST, refused.errors) from None
        answer = {"job": job.id, "ignored_fields": ignored, **self.double.job_json(job)}
        return HTTPStatus.CREATED, answer, {"Location": f"/api/v2/jobs/{job.id}/"}

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise _Answer(HTTPStatus.METHOD_NOT_ALLOWED, {"detail": f'Method "{method}" not allowed.'})

    @staticmethod
    def _id(text: str, known: dict[int, Any]) -> int:
        if not text.isdigit() or int(text) not in known:
            raise _Answer(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
        return int(text)

    def _send(self, status: HTTPStatus, body: Any, headers: dict[str, str]) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="api"')
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Answer(Exception):
    def __init__(self, status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
