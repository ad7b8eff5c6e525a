"""A small HTTPS server of design documents, standing in for a gist host in the sandbox.

Serves the files of one directory over TLS with a self-signed certificate for 127.0.0.1 (the
bot trusts it through ``ca_file``), plus ``/redirect?to=URL``, which answers 302 to URL, so
tests can check that the bot re-checks every redirect.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from wsgiref.types import WSGIApplication

from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer
from werkzeug.utils import redirect, send_from_directory
from werkzeug.wrappers import Request, Response

from sandbox import _http
from sandbox._process import (
    SandboxError,
    daemon_running,
    free_port,
    start_python_daemon,
    stop_daemon,
    wait_for_port,
    write_private,
)

_DAEMON = "designs"
_INFO_FILE = "designs.json"


@dataclass(frozen=True)
class DesignServerInfo:
    url: str  # https://127.0.0.1:PORT/
    port: int
    ca_file: str
    directory: str


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for 127.0.0.1 and localhost, made once."""
    cert, key = directory / "designs.crt", directory / "designs.key"
    if not cert.exists():
        subprocess.run(  # noqa: S603 - fixed argv
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            + ["-days", "365", "-subj", "/CN=jarvis sandbox designs", "-keyout", str(key), "-out", str(cert)]
            + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True,
            capture_output=True,
        )
    return cert, key


_ROUTES = Map(
    [Rule("/redirect", methods=["GET"], endpoint="redirect"), Rule("/<path:name>", methods=["GET"], endpoint="file")]
)


def _app(directory: Path) -> WSGIApplication:
    """The design server: DIRECTORY's files, and ``/redirect?to=URL`` answering 302 to URL."""

    @Request.application
    def answer(request: Request) -> Response:
        endpoint, values = _ROUTES.bind_to_environ(request.environ).match()
        if endpoint == "redirect":
            return redirect(request.args.get("to") or "/")
        return send_from_directory(directory, values["name"], request.environ)

    return answer


def serve(directory: Path, port: int, cert: Path, key: Path) -> BaseWSGIServer:
    """Serve DIRECTORY on 127.0.0.1:PORT over TLS, in a thread of this process; return the server."""
    return _http.serve(_app(directory), port, name="designs", tls=(cert, key))


def start(state_dir: Path, directory: Path) -> DesignServerInfo:
    """Run the server as a daemon (reused if it runs already) serving DIRECTORY."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.mkdir(parents=True, exist_ok=True)
    info_file = state_dir / _INFO_FILE
    if info_file.exists() and daemon_running(_DAEMON, state_dir):
        return DesignServerInfo(**json.loads(info_file.read_text()))
    cert, key = make_certificate(state_dir)
    port = free_port()
    args = ["--port", str(port), "--directory", str(directory), "--cert", str(cert), "--key", str(key)]
    start_python_daemon(_DAEMON, "sandbox.designs", args, state_dir)
    try:
        wait_for_port(port, 10, log=state_dir / f"{_DAEMON}.log")
    except SandboxError:
        stop(state_dir)
        raise
    info = DesignServerInfo(f"https://127.0.0.1:{port}/", port, str(cert), str(directory))
    write_private(info_file, json.dumps(asdict(info)))
    return info


def stop(state_dir: Path) -> None:
    stop_daemon(_DAEMON, state_dir)
    (state_dir / _INFO_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.designs")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.directory, args.port, args.cert, args.key)
    threading.Event().wait()  # the server thread does the work until the daemon is stopped


if __name__ == "__main__":
    main()
