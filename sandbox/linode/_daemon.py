"""Private to sandbox.linode: the emulator's daemon, started and stopped from the sandbox, and its main()."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import secrets
import signal
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sandbox import _http, _provider, hosts
from sandbox._process import SandboxError, free_port, start_python_daemon, wait_for_port, write_private
from sandbox.linode._api import Api
from sandbox.linode._app import LinodeApp
from sandbox.linode._lifecycle import DEFAULT_DELAY, container_name
from sandbox.linode._shapes import API_PREFIX, gateway

_DAEMON = "linode"
_INFO_FILE = "linode.json"
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
    running = _running_info(state_dir)
    if running is not None and running.prefix == prefix:
        return running
    stop(state_dir)

    state_dir.mkdir(parents=True, exist_ok=True)
    hosts.configure(state_dir)
    hosts.ensure_image(hosts.DEFAULT_CACHE_DIR)
    network = f"{prefix}-net"
    subnet = hosts.allocate_network(network)
    # Recorded before anything can fail, so stop() knows what to clean up.
    write_private(state_dir / _INFO_FILE, json.dumps({"prefix": prefix, "network": network}))
    token = secrets.token_hex(32)  # Linode's personal access tokens are 64 hex digits
    write_private(state_dir / _TOKEN_FILE, token)

    port = free_port()
    args = ["--port", str(port), "--state-dir", str(state_dir), "--network", network, "--subnet", str(subnet)]
    args += ["--prefix", prefix, "--token-file", str(state_dir / _TOKEN_FILE), "--delay", str(delay)]
    if record is not None:
        args += ["--record", str(record.resolve())]
    start_python_daemon(_DAEMON, "sandbox.linode", args, state_dir)
    try:
        wait_for_port(port, timeout, log=state_dir / f"{_DAEMON}.log")
    except SandboxError as exc:
        stop(state_dir)
        raise SandboxError(f"the sandbox Linode API did not come up: {exc}") from exc
    info = LinodeInfo(
        base_url=f"http://127.0.0.1:{port}{API_PREFIX}",
        token=token,
        network=network,
        subnet=str(subnet),
        gateway=gateway(subnet),
        prefix=prefix,
    )
    write_private(state_dir / _INFO_FILE, json.dumps(asdict(info)))
    return info


def stop(state_dir: Path) -> None:
    """Stop the daemon in STATE_DIR, then remove every host container it made and its network."""
    _provider.tear_down(state_dir, _DAEMON, _INFO_FILE)
    (state_dir.resolve() / _TOKEN_FILE).unlink(missing_ok=True)


def _running_info(state_dir: Path) -> LinodeInfo | None:
    """The LinodeInfo of an emulator already running in STATE_DIR, if it still answers."""
    return _provider.running_info(
        state_dir, _DAEMON, _INFO_FILE, LinodeInfo, lambda info: int(urlsplit(info.base_url).port or 0)
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the Linode API v4 emulator on 127.0.0.1:PORT until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.linode", description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--network", required=True, help="the podman network of the Linodes' hosts")
    parser.add_argument("--subnet", required=True, help="its IPv4 subnet, where the Linodes get their addresses")
    parser.add_argument("--prefix", required=True, help="containers are named PREFIX-<Linode id>")
    parser.add_argument("--token-file", type=Path, required=True, help="a file holding the one valid API token")
    parser.add_argument("--delay", type=float, default=DEFAULT_DELAY, help="seconds each lifecycle phase lasts")
    parser.add_argument("--record", type=Path, help="append every answer to this JSONL file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    token = args.token_file.read_text().strip()
    if not token:
        parser.error(f"{args.token_file} holds no token")
    hosts.configure(args.state_dir)
    if args.record is not None:
        args.record.touch(mode=0o600, exist_ok=True)
    api = Api(token, args.network, args.subnet, args.prefix, args.delay)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server = _http.serve(LinodeApp(api, args.record), args.port, name="http")
    log.info("Linode API on 127.0.0.1:%d%s; hosts %s-<id> on %s", args.port, API_PREFIX, args.prefix, args.network)
    stopping.wait()
    with contextlib.suppress(Exception):
        server.shutdown()
    server.server_close()
