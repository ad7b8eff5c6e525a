"""Private to sandbox.linode: Linode's paths routed to the Api's operations, as a WSGI application."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from sandbox import _http
from sandbox.linode._answers import Failure, Json
from sandbox.linode._api import Api, ApiRequest
from sandbox.linode._checks import parse_body
from sandbox.linode._shapes import API_PREFIX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Operation:
    """What answers a route, and whether it answers without a token (Linode's catalogues do)."""

    answer: Callable[[Api, ApiRequest], Json]
    public: bool = False


def _routes() -> Map:
    """Linode's paths, each to the operation that answers it."""
    instance = "/linode/instances/<linodeId>"
    rules = [
        ("GET", "/linode/instances", Api.list_instances),
        ("POST", "/linode/instances", Api.create_instance),
        ("GET", instance, Api.get_instance),
        ("PUT", instance, Api.update_instance),
        ("DELETE", instance, Api.delete_instance),
        ("POST", instance + "/boot", Api.boot),
        ("POST", instance + "/shutdown", Api.shutdown),
        ("POST", instance + "/reboot", Api.reboot),
        ("POST", instance + "/rebuild", Api.rebuild),
        ("GET", instance + "/ips", Api.ips),
        ("GET", instance + "/configs", Api.list_configs),
        ("GET", instance + "/configs/<configId>", Api.get_config),
        ("PUT", instance + "/configs/<configId>", Api.update_config),
        ("GET", instance + "/disks", Api.list_disks),
        ("GET", instance + "/disks/<diskId>", Api.get_disk),
        ("GET", "/account/events", Api.list_events),
        ("GET", "/account/events/<eventId>", Api.get_event),
    ]
    routes = [Rule(API_PREFIX + path, methods=[method], endpoint=_Operation(answer)) for method, path, answer in rules]
    catalogues = {"regions": "/regions", "types": "/linode/types", "kernels": "/linode/kernels", "images": "/images"}
    for kind, path in catalogues.items():
        # A catalogue entry's id may hold slashes (linode/grub2).
        routes += [
            Rule(API_PREFIX + template, methods=["GET"], endpoint=_Operation(answer, True), defaults={"kind": kind})
            for template, answer in ((path, Api.list_catalogue), (path + "/<path:id>", Api.get_catalogue))
        ]
    return Map(routes, merge_slashes=False, redirect_defaults=False)


_ROUTES = _routes()


class LinodeApp:
    """The Linode API v4 emulator over HTTP: JSON answers, errors in Linode's format.

    With RECORD, every answer is appended to that JSONL file (method, path, status, body; never a
    header, so never the token).
    """

    def __init__(self, api: Api, record: Path | None = None) -> None:
        self._api = api
        self._record = record
        self._record_lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            status, body = 200, self._dispatch(request)
        except Failure as failure:
            status, body = failure.status, failure.body()
        except Exception:  # a bug of the emulator: answer as Linode would, keep the connection usable
            log.exception("%s %s failed", request.method, request.path)
            status, body = 500, Failure.of(500, "Internal Server Error").body()
        self._write_record(request.method, request.path, status, body)
        return _http.json_response(status, body)(environ, start_response)

    def _dispatch(self, request: Request) -> Json:
        try:
            endpoint, params = _ROUTES.bind_to_environ(request.environ).match()
        except MethodNotAllowed:
            raise Failure.of(405, "Method Not Allowed") from None
        except NotFound:
            raise Failure.not_found() from None
        operation: _Operation = endpoint
        self._authorise(request.headers.get("Authorization"), operation.public)
        body = parse_body(request.method, request.get_data())
        call = ApiRequest(
            {k: str(v) for k, v in params.items()}, _http.query(request), request.headers.get("X-Filter"), body
        )
        return operation.answer(self._api, call)

    def _authorise(self, authorization: str | None, public: bool) -> None:
        """Linode's catalogues answer without a token; anything else needs the Api's, as a Bearer token."""
        if authorization is None and public:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._api.token.encode()):
            raise Failure.of(401, "Invalid Token")

    def _write_record(self, method: str, path: str, status: int, body: Json) -> None:
        if self._record is None:
            return
        line = json.dumps({"method": method, "path": path, "status": status, "body": body}) + "\n"
        with self._record_lock, self._record.open("a") as out:
            out.write(line)
