"""Private to sandbox.linode: the emulator's daemon, started and stopped from the sandbox, and its main()."""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sandbox import _http
from sandbox._process import write_private
from sandbox._provider import HostNetwork, Provider, become_daemon, container_name
from sandbox.linode._api import Api
from sandbox.linode._app import LinodeApp
from sandbox.linode._lifecycle import DEFAULT_DELAY
from sandbox.linode._shapes import API_PREFIX, gateway

_TOKEN_FILE = "linode-token"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinodeInfo:
    """Where the sandbox's Linode API answers, its token, and the podman network its Linodes live on."""

    base_url: str
    token: str = field(repr=False)
    network: str
    subnet: str
    gateway: str
    prefix: str

    def env(self) -> dict[str, str]:
        """The environment variables ``jarvis.deploy.linode_instance`` falls back to."""
        return {"LINODE_API_TOKEN": self.token, "LINODE_API_URL": self.base_url}

    def container_name(self, linode_id: int) -> str:
        """The podman container that plays Linode LINODE_ID."""
        return container_name(self.prefix, linode_id)


_PROVIDER = Provider(
    daemon="linode",
    module="sandbox.linode",
    info_file="linode.json",
    info_type=LinodeInfo,
    port_of=lambda info: int(urlsplit(info.base_url).port or 0),
    title="the sandbox Linode API",
    secret_files=(_TOKEN_FILE,),
)


def start(
    state_dir: Path,
    prefix: str,
    timeout: float = 60.0,
    delay: float = DEFAULT_DELAY,
    record: Path | None = None,
) -> LinodeInfo:
    """Start the emulator with state under STATE_DIR, containers named PREFIX-<Linode id>.

    Each lifecycle phase lasts DELAY seconds. With RECORD, every answer is appended to that JSONL
    file (method, path, status, body; never a header, so never the token). Reuses an emulator already
    running there with the same prefix, whatever its delay and recording.
    """
    state_dir = state_dir.resolve()
    running = _PROVIDER.reuse(state_dir, prefix)
    if running is not None:
        return running
    network = _PROVIDER.new_hosts(state_dir, prefix)
    token = secrets.token_hex(32)  # Linode's personal access tokens are 64 hex digits
    write_private(state_dir / _TOKEN_FILE, token)

    args = ["--token-file", str(state_dir / _TOKEN_FILE), "--delay", str(delay)]
    if record is not None:
        args += ["--record", str(record.resolve())]
    return _PROVIDER.launch(state_dir, network, lambda port: _linode_info(network, token, port), timeout, args=args)


def stop(state_dir: Path) -> None:
    """Stop the daemon in STATE_DIR, then remove every host container it made, its network and its token."""
    _PROVIDER.stop(state_dir)


def _linode_info(network: HostNetwork, token: str, port: int) -> LinodeInfo:
    """Where the emulator answers on PORT: unlike the other providers, it has nothing to create at start."""
    return LinodeInfo(
        base_url=f"http://127.0.0.1:{port}{API_PREFIX}",
        token=token,
        network=network.name,
        subnet=str(network.subnet),
        gateway=gateway(network.subnet),
        prefix=network.prefix,
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the Linode API v4 emulator on 127.0.0.1:PORT until SIGTERM."""
    parser = _PROVIDER.arguments(main.__doc__)
    parser.add_argument("--token-file", type=Path, required=True, help="a file holding the one valid API token")
    parser.add_argument("--delay", type=float, default=DEFAULT_DELAY, help="seconds each lifecycle phase lasts")
    parser.add_argument("--record", type=Path, help="append every answer to this JSONL file")
    args = parser.parse_args(argv)
    stopping = become_daemon(args.state_dir)

    token = args.token_file.read_text().strip()
    if not token:
        parser.error(f"{args.token_file} holds no token")
    if args.record is not None:
        args.record.touch(mode=0o600, exist_ok=True)
    api = Api(token, args.network, args.subnet, args.prefix, args.delay)
    server = _http.serve(LinodeApp(api, args.record), args.port, name="http")
    log.info("Linode API on 127.0.0.1:%d%s; hosts %s-<id> on %s", args.port, API_PREFIX, args.prefix, args.network)
    stopping.wait()
    with contextlib.suppress(Exception):
        server.shutdown()
    server.server_close()
