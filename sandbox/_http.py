"""Private to the sandbox: serve a WSGI application with werkzeug on 127.0.0.1, in a thread of this process.

The Linode emulator, the design server and the tests' AWX double answer HTTP this way: werkzeug reads
requests and writes answers, each application only routes and answers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from wsgiref.types import WSGIApplication

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["json_response", "query", "serve"]

log = logging.getLogger("sandbox.http")


class _Handler(WSGIRequestHandler):
    disable_nagle_algorithm = True  # else every answer waits ~40 ms for the client's delayed ACK

    def log(self, kind: str, message: str, *args: Any) -> None:
        """The handler's lines (one a request, bad requests, TLS errors) at debug level, not to drown the logs."""
        log.debug(message.rstrip(), *args)


def serve(app: WSGIApplication, port: int = 0, *, name: str, tls: tuple[Path, Path] | None = None) -> BaseWSGIServer:
    """Serve APP on 127.0.0.1:PORT (0: a free one) from a daemon thread NAME, over TLS with (certificate, key).

    Stop it with ``shutdown()`` then ``server_close()``; ``server_address[1]`` is its port.
    """
    certificate = None if tls is None else (str(tls[0]), str(tls[1]))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_Handler, ssl_context=certificate)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """BODY as a JSON answer (None: an empty one), as the sandbox's APIs give them."""
    data = b"" if body is None else json.dumps(body).encode()
    return Response(data, status, headers=dict(headers or {}), content_type="application/json")


def query(request: Request) -> dict[str, list[str]]:
    """The query's values by name, blank ones left out, as ``urllib.parse.parse_qs`` gives them."""
    return {name: kept for name, values in request.args.lists() if (kept := [value for value in values if value])}
