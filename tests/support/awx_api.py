"""The AWX double's HTTP API v2 (the part jarvis's AWX executor uses), routed with werkzeug.

Shapes follow AWX's source (github.com/ansible/awx): ``awx/api/serializers.py`` for job templates,
jobs and ``JobEventSerializer`` events, the launch answer ``{"job", "ignored_fields", ...job}``;
``awx/api/views`` for job cancel (POST 202, GET ``{"can_cancel"}``) and ``JobTemplateLaunch.post``
(201 with a Location); DRF's page format ``{"count", "next", "previous", "results"}`` with
``page``/``page_size`` (at most 200), ``order_by`` and ``<field>__gt`` filters; 401 ``{"detail": ...}``.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlencode
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, abort
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox import _http
from tests.support.awx_rules import FINAL, PROMPT_DEFAULTS, PROMPTS, LaunchRefused, survey_questions

if TYPE_CHECKING:
    from tests.support.awx_double import AwxDouble, Job

VERSION = "24.6.1"  # the AWX release whose API this follows
MAX_PAGE_SIZE = 200
API = "/api/v2/"
PING = API + "ping/"
NOT_FOUND = {"detail": "Not found."}
UNAUTHORIZED = "Authentication credentials were not provided. To establish a login session, visit /api/login/."


def _refuse(status: int, body: Any, headers: dict[str, str] | None = None) -> NoReturn:
    abort(_http.json_response(status, body, headers))


class AwxApi:
    """The WSGI application answering for DOUBLE, as AWX's API v2 would."""

    def __init__(self, double: AwxDouble) -> None:
        self._double = double

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self._double.requests.append((request.method, request.path))
        try:
            response = self._answer(request)
        except HTTPException as refusal:
            response = refusal.get_response(environ)
        except Exception:  # noqa: BLE001 - a bug here must still answer, as AWX's 500 does
            traceback.print_exc()
            response = _http.json_response(500, {"detail": "A server error has occurred."})
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        # AWX's paths end with a slash; the double takes them with or without, and with doubled ones.
        path = "/" + "/".join(part for part in request.path.split("/") if part) + "/"
        if not path.startswith(API):
            _refuse(404, NOT_FOUND)
        if path != PING and request.headers.get("Authorization", "") != f"Bearer {self._double.token}":
            _refuse(401, {"detail": UNAUTHORIZED}, {"WWW-Authenticate": 'Bearer realm="api"'})
        try:
            endpoint, values = _ROUTES.bind("awx").match(path, request.method)
        except MethodNotAllowed:
            _refuse(405, {"detail": f'Method "{request.method}" not allowed.'})
        except NotFound:
            _refuse(404, NOT_FOUND)
        answer: Callable[..., Response] = endpoint
        return answer(self, request, **values)

    # ---- the routes' answers ---------------------------------------------------------------------

    def ping(self, request: Request) -> Response:
        return _http.json_response(200, {"ha": False, "version": VERSION, "active_node": "awx-double"})

    def me(self, request: Request) -> Response:
        user = {"id": 1, "type": "user", "username": "jarvis", "is_superuser": False}
        return _http.json_response(200, _page([user], request))

    def job_templates(self, request: Request) -> Response:
        templates = [self._template_json(index) for index in self._double.templates]
        return _http.json_response(200, _page(_filtered(templates, _query(request)), request))

    def job_template(self, request: Request, template_id: int) -> Response:
        return _http.json_response(200, self._template_json(self._template_id(template_id)))

    def launch_info(self, request: Request, template_id: int) -> Response:
        template = self._double.templates[self._template_id(template_id)]
        questions = survey_questions(template)
        info = {
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
        return _http.json_response(200, info)

    def launch(self, request: Request, template_id: int) -> Response:
        self._template_id(template_id)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError as exc:
            _refuse(400, {"detail": f"JSON parse error - {exc}"})
        if not isinstance(body, dict):
            _refuse(400, {"detail": "Invalid data. Expected a dictionary."})
        self._double.launches.append(body)
        try:
            job, ignored = self._double.launch(template_id, body)
        except LaunchRefused as refused:
            _refuse(400, refused.errors)
        answer = {"job": job.id, "ignored_fields": ignored, **self._job_json(job)}
        return _http.json_response(201, answer, {"Location": f"/api/v2/jobs/{job.id}/"})

    def job(self, request: Request, job_id: int) -> Response:
        return _http.json_response(200, self._job_json(self._job(job_id)))

    def job_events(self, request: Request, job_id: int) -> Response:
        job = self._job(job_id)
        now = time.monotonic()
        visible = [
            {key: value for key, value in event.items() if key != "_visible_at"}
            for event in list(job.events)
            if event["_visible_at"] <= now
        ]
        events = _filtered(visible, {"order_by": "counter", **_query(request)})
        return _http.json_response(200, _page(events, request))

    def can_cancel(self, request: Request, job_id: int) -> Response:
        return _http.json_response(200, {"can_cancel": self._job(job_id).status not in FINAL})

    def cancel(self, request: Request, job_id: int) -> Response:
        self._job(job_id)
        if not self._double.cancel(job_id):
            _refuse(405, {"detail": 'Method "POST" not allowed.'})
        return _http.json_response(202, None)

    # ---- representations ------------------------------------------------------------------------

    def _template_id(self, template_id: int) -> int:
        if template_id not in self._double.templates:
            _refuse(404, NOT_FOUND)
        return template_id

    def _job(self, job_id: int) -> Job:
        if job_id not in self._double.jobs:
            _refuse(404, NOT_FOUND)
        return self._double.jobs[job_id]

    def _template_json(self, template_id: int) -> dict[str, Any]:
        template = self._double.templates[template_id]
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
                    for index, credential in enumerate(self._double.credentials, start=1)
                ],
            },
            **{flag: bool(template.get(flag)) for flag in (*PROMPTS.values(), "ask_variables_on_launch")},
            **PROMPT_DEFAULTS,
            **fields,
            "inventory": 1,
            "project": 1,
            "organization": 1,
        }

    def _job_json(self, job: Job) -> dict[str, Any]:
        now = time.monotonic()
        started = job.started_at or now
        elapsed = (job.finished_at or now) - started if job.started_at else 0.0
        done = job.status in FINAL and all(event["_visible_at"] <= now for event in job.events)
        template_id = next(index for index, template in self._double.templates.items() if template is job.template)
        return {
            "id": job.id,
            "type": "job",
            "url": f"/api/v2/jobs/{job.id}/",
            "related": {
                "job_events": f"/api/v2/jobs/{job.id}/job_events/",
                "cancel": f"/api/v2/jobs/{job.id}/cancel/",
                "job_template": f"/api/v2/job_templates/{template_id}/",
            },
            "summary_fields": {"job_template": {"id": template_id, "name": job.template["name"]}},
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
            "job_template": template_id,
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


_ROUTES = Map(
    [
        Rule(API + "ping/", methods=["GET"], endpoint=AwxApi.ping),
        Rule(API + "me/", methods=["GET"], endpoint=AwxApi.me),
        Rule(API + "job_templates/", methods=["GET"], endpoint=AwxApi.job_templates),
        Rule(API + "job_templates/<int:template_id>/", methods=["GET"], endpoint=AwxApi.job_template),
        Rule(API + "job_templates/<int:template_id>/launch/", methods=["GET"], endpoint=AwxApi.launch_info),
        Rule(API + "job_templates/<int:template_id>/launch/", methods=["POST"], endpoint=AwxApi.launch),
        Rule(API + "jobs/<int:job_id>/", methods=["GET"], endpoint=AwxApi.job),
        Rule(API + "jobs/<int:job_id>/job_events/", methods=["GET"], endpoint=AwxApi.job_events),
        Rule(API + "jobs/<int:job_id>/cancel/", methods=["GET"], endpoint=AwxApi.can_cancel),
        Rule(API + "jobs/<int:job_id>/cancel/", methods=["POST"], endpoint=AwxApi.cancel),
    ]
)


def _query(request: Request) -> dict[str, str]:
    """The query's last value of each name, as DRF reads it."""
    return {name: values[-1] for name, values in _http.query(request).items()}


def _page(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """DRF's page of ITEMS for the ``page`` and ``page_size`` of REQUEST's query."""
    query = _query(request)
    size = min(max(int(query.get("page_size", "25")), 1), MAX_PAGE_SIZE)
    number = max(int(query.get("page", "1")), 1)
    pages = max(math.ceil(len(items) / size), 1)

    def link(page: int) -> str | None:
        if page < 1 or page > pages:
            return None
        return f"{request.path}?{urlencode({**query, 'page': str(page), 'page_size': str(size)})}"

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
