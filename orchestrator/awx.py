"""Run a deployment's playbook as an AWX (or Automation Controller) job, through AWX's API v2.

AWX runs the static playbook of the job's kind (``playbooks/deploy.yml``, ``redeploy.yml``,
``destroy.yml``) from its project, in its execution environment, with the credentials attached to the
job template: jarvis sends no credentials, only the design's hosts, the site settings, per-host
variables, skip tags (a resume) and job type ``check`` (a plan). Its job events are ansible-runner's
events, so they go to the same stage tracker as a local run's, in counter order.

Configured by the config's ``executor`` section::

    executor:
      type: awx
      url: https://awx.example.com
      token: …                       # or $JARVIS_AWX_TOKEN; an OAuth2 token of a user who may launch
      job_templates: {deploy: jarvis deploy, redeploy: jarvis redeploy, destroy: jarvis destroy}
      verify: true                   # false, or a CA bundle file
      poll_interval: 1.0             # seconds between polls of the job and its events
      timeout: null                  # seconds a job may run before jarvis cancels it (status timeout)
      site_vars:                     # what differs on AWX's side: its own paths; null drops a setting
        jarvis_secrets_dir: /runner/jarvis/secrets
        ansible_ssh_private_key_file: null   # the job template's Machine credential logs in instead
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from pydantic import AfterValidator, Field

from orchestrator._collection import design_rules
from orchestrator.config import Config
from orchestrator.config_models import NullIsDefault, Section, otherwise, parse_section, required
from orchestrator.errors import DeploymentError
from orchestrator.job import CancelCheck, EventHandler, Job

__all__ = ["DEFAULT_JOB_TEMPLATES", "AwxExecutor"]

POLL_INTERVAL = 1.0  # seconds between polls of a job and its events, unless the config says otherwise
# AWX's job statuses once a job has ended, and what they mean to jarvis.
FINAL_STATUSES = {"successful": "successful", "failed": "failed", "error": "failed", "canceled": "canceled"}
PAGE_SIZE = 200  # AWX's largest page
GAP_WAIT = 10.0  # seconds an event waits for a missing earlier one before it is handed on anyway
REQUEST_TIMEOUT = 30.0
OUTAGE_LIMIT = 120.0  # seconds AWX may be out of reach (or answer 5xx) while jarvis follows a job
# What a launch sends besides extra_vars, and the job template flag that lets it through.
PROMPT_FLAGS = {
    "job_type": "ask_job_type_on_launch",
    "skip_tags": "ask_skip_tags_on_launch",
    "diff_mode": "ask_diff_mode_on_launch",
}
TEMPLATE_DEFAULTS: dict[str, Any] = {"job_type": "run", "skip_tags": "", "diff_mode": False}


def _http_url(url: str) -> str:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError("not an http(s) URL")
    return url


def _a_template(template: str | int) -> str | int:
    if template in ("", 0):
        raise ValueError("empty")
    return template


def _ca_bundle(verify: bool | str) -> bool | str:
    if isinstance(verify, str) and not Path(verify).is_file():
        raise ValueError(f"no CA bundle at {verify}")
    return verify


_VERIFY = "expected true, false or a CA bundle file"
JobTemplate = Annotated[str | int, AfterValidator(_a_template), otherwise("expected a job template's name or id")]
Seconds = Annotated[
    float, Field(gt=0, allow_inf_nan=False), otherwise("expected a positive number of seconds, got {value!r}")
]


class JobTemplates(Section):
    """``executor.job_templates``: the job template (name or id) AWX runs for each kind of job."""

    deploy: JobTemplate = "jarvis deploy"  # a plan too, in check mode
    redeploy: JobTemplate = "jarvis redeploy"
    destroy: JobTemplate = "jarvis destroy"


DEFAULT_JOB_TEMPLATES: dict[str, str | int] = JobTemplates().model_dump()


class AwxSection(Section):
    """The config's ``executor: {type: awx, …}`` section (see the module doc)."""

    type: Literal["awx"] = "awx"
    url: Annotated[str, AfterValidator(_http_url), otherwise("expected AWX's http(s) address, got {value!r}")] = (
        required()
    )
    token: Annotated[str, Field(min_length=1), otherwise("AWX needs an OAuth2 token (or set $JARVIS_AWX_TOKEN)")] = (
        required()
    )
    job_templates: NullIsDefault[JobTemplates] = JobTemplates()
    verify: Annotated[bool | str, otherwise(_VERIFY), AfterValidator(_ca_bundle)] = True
    poll_interval: Seconds = POLL_INTERVAL
    timeout: Seconds | None = None
    site_vars: NullIsDefault[
        Annotated[dict[str, Any], otherwise("expected a mapping of variable names to values (null drops one)")]
    ] = {}


@dataclass
class AwxExecutor:
    """Launches the job template of a job's kind, follows its events, cancels it when asked."""

    url: str
    token: str = field(repr=False)
    job_templates: dict[str, str | int] = field(default_factory=lambda: dict(DEFAULT_JOB_TEMPLATES))
    verify: bool | str = True
    poll_interval: float = POLL_INTERVAL
    timeout: float | None = None
    # Replaces jarvis's site settings where AWX's execution nodes differ (paths); None drops one.
    site_vars: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict[str, Any], config: Config) -> AwxExecutor:
        """The executor of the config's ``executor: {type: awx, …}`` section; ConfigError if it is wrong."""
        read = parse_section(AwxSection, section, config.path, "executor")
        return cls(
            url=read.url.rstrip("/"),
            token=read.token,
            job_templates=read.job_templates.model_dump(),
            verify=read.verify,
            poll_interval=read.poll_interval,
            timeout=read.timeout,
            site_vars=dict(read.site_vars),
        )

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        api = _Api(self.url, self.token, self.verify)
        kind = "deploy" if job.kind == "plan" else job.kind
        if kind not in self.job_templates:
            raise DeploymentError(f"AWX has no job template configured for a {job.kind} (executor.job_templates)")
        template = self._template(api, self.job_templates[kind])
        launch = self._launch_request(job, self.site_vars)
        _check_prompts(template, launch)
        answer = api.request("POST", f"/api/v2/job_templates/{template['id']}/launch/", launch)
        job_id = answer.get("job") or answer.get("id")
        if not isinstance(job_id, int):
            raise DeploymentError(f"AWX at {self.url} launched {_name(template)} but named no job")
        ignored = answer.get("ignored_fields") or {}
        if ignored:
            _cancel(api, job_id)
            raise DeploymentError(
                f"AWX ignored {', '.join(sorted(ignored))} when launching {_name(template)} (job {job_id}, "
                "canceled): let the job template prompt for them on launch"
            )
        return self._follow(api, job_id, on_event, canceled)

    @staticmethod
    def _launch_request(job: Job, site_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """What jarvis hands AWX: the hosts, site settings and per-host variables, never credentials."""
        site = {key: value for key, value in {**job.site_vars, **(site_overrides or {})}.items() if value is not None}
        launch: dict[str, Any] = {
            "extra_vars": {**design_rules.as_design(job.hosts), "jarvis_host_vars": job.host_vars, **site},
            "job_type": "check" if job.check else "run",
            "skip_tags": ",".join(job.skipped_stages()),
        }
        if job.check:
            launch["diff_mode"] = True
        return launch

    def _template(self, api: _Api, wanted: str | int) -> dict[str, Any]:
        """The job template named (or numbered) WANTED."""
        if isinstance(wanted, int) or str(wanted).isdigit():
            try:
                return api.request("GET", f"/api/v2/job_templates/{int(wanted)}/")
            except _NotFound:
                raise DeploymentError(f"AWX at {self.url} has no job template with id {wanted}") from None
        page = api.request("GET", "/api/v2/job_templates/?" + urlencode({"name": wanted}))
        results = page.get("results") or []
        if not results:
            raise DeploymentError(
                f"AWX at {self.url} has no job template named {wanted!r} (or this token may not see it)"
            )
        if len(results) > 1:
            ids = ", ".join(str(result.get("id")) for result in results)
            raise DeploymentError(
                f"AWX at {self.url} has several job templates named {wanted!r} (ids {ids}): give its id"
            )
        template: dict[str, Any] = results[0]
        return template

    def _follow(self, api: _Api, job_id: int, on_event: EventHandler, canceled: CancelCheck) -> str:
        """Hand on JOB_ID's events in counter order until it has ended and AWX has stored them all."""
        events = _EventStream(api, job_id, on_event)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        cancel_sent = timed_out = False
        out_since: float | None = None
        while True:
            try:
                fresh = events.read()
                if not cancel_sent:
                    timed_out = deadline is not None and time.monotonic() >= deadline
                    if timed_out or canceled():
                        _cancel(api, job_id)
                        cancel_sent = True
                state = api.request("GET", f"/api/v2/jobs/{job_id}/")
            except _Unavailable as exc:  # a restart or a network blip must not orphan a running job
                out_since = out_since or time.monotonic()
                if time.monotonic() - out_since >= OUTAGE_LIMIT:
                    raise DeploymentError(
                        f"{exc}; gave up following AWX job {job_id}, which may still be running"
                    ) from None
                time.sleep(self.poll_interval)
                continue
            out_since = None
            status = str(state.get("status"))
            if status in FINAL_STATUSES and state.get("event_processing_finished", True):
                events.read()  # what was stored between the last read and the status
                events.flush()
                if status == "error":  # AWX could not run the playbook: its reason, not a stage's
                    raise DeploymentError(f"AWX job {job_id} ended in error: {_explanation(state)}")
                return "timeout" if timed_out else FINAL_STATUSES[status]
            if not fresh:
                time.sleep(self.poll_interval)


class _EventStream:
    """A job's events, read page by page (``counter__gt``) and handed on in counter order.

    AWX stores events as its callback receiver gets them, not strictly in order: an event waits for
    the ones before it (at most GAP_WAIT seconds), and everything left is handed on at the end.
    """

    def __init__(self, api: _Api, job_id: int, on_event: EventHandler) -> None:
        self.api = api
        self.job_id = job_id
        self.on_event = on_event
        self.done = 0  # every counter up to this one has been handed on (or given up)
        self.waiting: dict[int, tuple[dict[str, Any], float]] = {}  # counter -> (event, when read)

    def read(self) -> int:
        """Read the events AWX has stored since the last handed-on one; hand on what can go. How many were new."""
        fresh = 0
        query = {"counter__gt": self.done, "order_by": "counter", "page_size": PAGE_SIZE}
        path: str | None = f"/api/v2/jobs/{self.job_id}/job_events/?{urlencode(query)}"
        while path:
            page = self.api.request("GET", path)
            for event in page.get("results") or []:
                counter = event.get("counter")
                if isinstance(counter, int) and counter > self.done and counter not in self.waiting:
                    self.waiting[counter] = (event, time.monotonic())
                    fresh += 1
            path = page.get("next")
        self._hand_on(give_up_after=GAP_WAIT)
        return fresh

    def flush(self) -> None:
        self._hand_on(give_up_after=0.0)

    def _hand_on(self, give_up_after: float) -> None:
        now = time.monotonic()
        for counter in sorted(self.waiting):
            event, read_at = self.waiting[counter]
            if counter != self.done + 1 and now - read_at < give_up_after:
                break
            del self.waiting[counter]
            self.done = counter
            self.on_event(_runner_event(event))


def _runner_event(event: dict[str, Any]) -> dict[str, Any]:
    """An AWX job event in ansible-runner's shape (AWX's event_data is the runner's event_data)."""
    data = dict(event.get("event_data") or {})
    if not data.get("host") and event.get("host_name"):
        data["host"] = event["host_name"]
    return {
        "event": event.get("event"),
        "event_data": data,
        "counter": event.get("counter"),
        "uuid": event.get("uuid"),
        "parent_uuid": event.get("parent_uuid"),
        "stdout": event.get("stdout") or "",
        "created": event.get("created"),
    }


def _check_prompts(template: dict[str, Any], launch: dict[str, Any]) -> None:
    """Refuse before launching when the template would silently drop what jarvis sends."""
    if not template.get("ask_variables_on_launch"):
        raise DeploymentError(
            f"{_name(template)} does not prompt for variables on launch (ask_variables_on_launch): "
            "jarvis could not hand it the design"
        )
    for field_name, flag in PROMPT_FLAGS.items():
        differs = field_name in launch and launch[field_name] != template.get(field_name, TEMPLATE_DEFAULTS[field_name])
        if differs and not template.get(flag):
            raise DeploymentError(
                f"{_name(template)} does not prompt for {field_name} on launch ({flag}), "
                f"which this run needs ({field_name}={launch[field_name]!r})"
            )


def _cancel(api: _Api, job_id: int) -> None:
    """Ask AWX to cancel JOB_ID; a job that has ended already cannot be canceled (405), which is fine."""
    try:
        api.request("POST", f"/api/v2/jobs/{job_id}/cancel/", {})
    except DeploymentError:
        state = api.request("GET", f"/api/v2/jobs/{job_id}/cancel/")
        if state.get("can_cancel"):
            raise


def _explanation(state: dict[str, Any]) -> str:
    """Why AWX says a job ended in error: its explanation and the last line of its traceback."""
    lines = [line.strip() for line in str(state.get("result_traceback") or "").splitlines() if line.strip()]
    reasons = [str(state.get("job_explanation") or "").strip(), lines[-1] if lines else ""]
    return " - ".join(reason for reason in reasons if reason) or "no reason given"


def _name(template: dict[str, Any]) -> str:
    return f"job template {template.get('name')!r} (id {template.get('id')})"


class _NotFound(DeploymentError):
    pass


class _Unavailable(DeploymentError):
    """AWX out of reach or failing (5xx): worth asking again while a job runs."""


class _Api:
    """AWX's API over one requests session with a bearer token; every failure becomes a DeploymentError
    without the token. The session keeps its connection to AWX across a job's many polls."""

    def __init__(self, url: str, token: str, verify: bool | str) -> None:
        self.url = url
        self.token = token
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.session.verify = verify  # True, False (asked for), or a CA bundle's path

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        target = urljoin(self.url + "/", path.lstrip("/")) if not path.startswith("http") else path
        what = f"{method} {urlsplit(target).path}"
        try:
            response = self.session.request(method, target, json=body, timeout=REQUEST_TIMEOUT, allow_redirects=False)
        except requests.Timeout:
            raise _Unavailable(f"AWX at {self.url} did not answer {what} within {REQUEST_TIMEOUT:.0f}s") from None
        except requests.ConnectionError as exc:
            raise _Unavailable(self._safe(f"cannot reach AWX at {self.url}: {_reason(exc)}")) from None
        except requests.RequestException as exc:
            raise _Unavailable(self._safe(f"lost AWX at {self.url} during {what}: {_reason(exc)}")) from None
        if response.status_code >= 400:
            code, detail = response.status_code, self._detail(response.content)
            error = _NotFound if code == 404 else _Unavailable if code >= 500 else DeploymentError
            hint = ": check executor.token (or $JARVIS_AWX_TOKEN)" if code == 401 else ""
            raise error(self._safe(f"AWX at {self.url} answered {what} with HTTP {code}: {detail}{hint}")) from None
        raw = response.content
        if not raw.strip():
            return {}
        try:
            answer = json.loads(raw)
        except ValueError:
            raise DeploymentError(f"AWX at {self.url} answered {what} with something that is not JSON") from None
        if not isinstance(answer, dict):
            raise DeploymentError(f"AWX at {self.url} answered {what} with JSON that is not an object")
        return answer

    def _detail(self, raw: bytes) -> str:
        """AWX's reason: ``detail``, or field errors as ``field: message; …``, or the start of the text."""
        try:
            body = json.loads(raw)
        except ValueError:
            text = " ".join(raw.decode("utf-8", "replace").split())
            return text[:200] or "no reason given"
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return str(body["detail"])
        if isinstance(body, dict):
            parts = []
            for key, value in body.items():
                messages = value if isinstance(value, list) else [value]
                parts.append(f"{key}: {' '.join(str(message) for message in messages)}")
            return "; ".join(parts) or "no reason given"
        return str(body)[:200]

    def _safe(self, text: str) -> str:
        return text.replace(self.token, "********") if self.token else text


def _reason(error: requests.RequestException) -> str:
    """The innermost reason of a requests failure (the socket's or TLS's, which urllib3 wraps), without the
    URL and pool details the wrappers add."""
    cause: BaseException = error
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner
    return str(cause)
