"""A real HTTPS server of design documents (a gist host stand-in) for the bot's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import designs
from sandbox._process import free_port

__all__ = ["design_server", "publish"]

LOKI = (Path(__file__).resolve().parents[2] / "examples" / "loki.yml").read_text()


@pytest.fixture(scope="session")
def design_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[designs.DesignServerInfo]:
    directory = tmp_path_factory.mktemp("designs")
    cert, key = designs.make_certificate(directory.parent)
    port = free_port()
    server = designs.serve(directory, port, cert, key)
    try:
        yield designs.DesignServerInfo(f"https://127.0.0.1:{port}/", port, str(cert), str(directory))
    finally:
        server.shutdown()
        server.server_close()


def publish(server: designs.DesignServerInfo, name: str, text: str | None = None) -> str:
    """Serve TEXT (default: examples/loki.yml for host NAME) as NAME.yml; return its URL."""
    (Path(server.directory) / f"{name}.yml").write_text(text if text is not None else LOKI.replace("loki", name))
    return f"{server.url}{name}.yml"
