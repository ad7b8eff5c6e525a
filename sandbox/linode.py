"""Linode for the sandbox: a stateful Linode API v4 emulator whose Linodes become real podman hosts.

No public Linode simulator exists, so this is one. ``start()`` runs ``python -m sandbox.linode`` as a
daemon: an HTTP server on 127.0.0.1 answering the part of API v4 that jarvis uses (instances and their
boot, shutdown, reboot and rebuild actions, configs, disks, IPs, events, and the regions, types, kernels
and images catalogues) in the shapes of Linode's official OpenAPI spec, which
``tests/integration/test_linode_spec.py`` checks every answer against.

Lifecycles take time like the real thing (``provisioning`` → ``booting`` → ``running`` and so on). A
booted Linode is a container PREFIX-<id> at the Linode's IPv4, taken from the sandbox's own /24 and
reported as its public address; shutting it down stops the container, deleting it removes it, and a
rebuild replaces it (fresh disk, new host keys). Every image plays the sandbox's Debian 12 host image.
The IPv6 SLAAC addresses are made up and routed nowhere: never send traffic to them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hmac
import ipaddress
import itertools
import json
import logging
import math
import queue
import random
import re
import secrets
import signal
import string
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox import _provider, hosts
from sandbox._process import (
    SandboxError,
    free_port,
    start_python_daemon,
    wait_for_port,
    write_private,
)

__all__ = [
    "DEFAULT_KERNEL",
    "DEFAULT_DELAY",
    "IMAGES",
    "KERNELS",
    "REGIONS",
    "TRANSIENT_STATUSES",
    "TYPES",
    "LinodeInfo",
    "main",
    "start",
    "stop",
]

Json = dict[str, Any]

DEFAULT_DELAY = 0.5  # seconds each lifecycle phase (provisioning, booting, shutting_down…) lasts
DEFAULT_KERNEL = "linode/latest-64bit"
TRANSIENT_STATUSES = frozenset(
    {"provisioning", "booting", "rebooting", "shutting_down", "rebuilding", "migrating", "cloning", "restoring"}
)
_DAEMON = "linode"
_INFO_FILE = "linode.json"
_TOKEN_FILE = "linode-token"
_API_PREFIX = "/v4"
_FIRST_HOST = 4  # .1 is podman's gateway; .2 and .3 stay free, like the addresses a cloud reserves
_SWAP_MB = 512
_DATE = "%Y-%m-%dT%H:%M:%S"  # Linode's timestamps: UTC, no zone suffix
_LABEL = re.compile(r"^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9-_.])+$")  # the spec's pattern for Linode labels
_KEY_TYPES = ("ssh-rsa ", "ssh-ed25519 ", "ssh-dss ", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com ", "sk-ecdsa-")
_MIN_PASSWORD_BITS = 50.0

log = logging.getLogger("sandbox.linode")

# --- the catalogues ---------------------------------------------------------------------------------

REGIONS: tuple[Json, ...] = tuple(
    {
        "id": region_id,
        "label": label,
        "country": country,
        "capabilities": ["Linodes", "Block Storage", "Cloud Firewall", "Vlans", "Metadata"],
        "status": "ok",
        # Documentation addresses: the sandbox's Linodes resolve nothing through them.
        "resolvers": {"ipv4": "192.0.2.53,192.0.2.54", "ipv6": "2001:db8::53,2001:db8::54"},
        "placement_group_limits": {"maximum_pgs_per_customer": None, "maximum_linodes_per_pg": 5},
    }
    for region_id, label, country in (
        ("ap-northeast", "Tokyo, JP", "jp"),
        ("ap-south", "Singapore, SG", "sg"),
        ("eu-central", "Frankfurt, DE", "de"),
        ("eu-west", "London, UK", "gb"),
        ("us-central", "Dallas, TX", "us"),
        ("us-east", "Newark, NJ", "us"),
        ("us-southeast", "Atlanta, GA", "us"),
        ("us-west", "Fremont, CA", "us"),
    )
)


def _linode_type(type_id: str, label: str, klass: str, memory: int, vcpus: int, transfer: int, monthly: float) -> Json:
    return {
        "id": type_id,
        "label": label,
        "class": klass,
        "disk": memory * 25,
        "memory": memory,
        "vcpus": vcpus,
        "gpus": 0,
        "transfer": transfer,
        "network_out": min(transfer, 12000),
        "price": {"hourly": round(monthly / 730, 4), "monthly": monthly},
        "region_prices": [],
        "addons": {"backups": {"price": {"hourly": round(monthly / 5 / 730, 4), "monthly": monthly / 5}}},
        "successor": None,
    }


TYPES: tuple[Json, ...] = (
    _linode_type("g6-nanode-1", "Nanode 1GB", "nanode", 1024, 1, 1000, 5.0),
    _linode_type("g6-standard-1", "Linode 2GB", "standard", 2048, 1, 2000, 12.0),
    _linode_type("g6-standard-2", "Linode 4GB", "standard", 4096, 2, 4000, 24.0),
    _linode_type("g6-standard-4", "Linode 8GB", "standard", 8192, 4, 5000, 48.0),
    _linode_type("g6-standard-6", "Linode 16GB", "standard", 16384, 6, 8000, 96.0),
    _linode_type("g6-dedicated-2", "Dedicated 4GB", "dedicated", 4096, 2, 4000, 36.0),
    _linode_type("g6-dedicated-4", "Dedicated 8GB", "dedicated", 8192, 4, 5000, 72.0),
)


def _kernel(kernel_id: str, label: str, version: str, pvops: bool, architecture: str = "x86_64") -> Json:
    return {
        "id": kernel_id,
        "label": label,
        "version": version,
        "kvm": True,
        "architecture": architecture,
        "pvops": pvops,
        "deprecated": False,
        "built": "2023-04-05T19:48:25",
    }


KERNELS: tuple[Json, ...] = (
    _kernel("linode/latest-64bit", "Latest 64 bit (6.2.9-x86_64-linode160)", "6.2.9", True),
    _kernel("linode/latest-32bit", "Latest 32 bit (6.2.9-x86-linode160)", "6.2.9", True, "i386"),
    _kernel("linode/grub2", "GRUB 2", "2.06", False),
    _kernel("linode/grub-legacy", "GRUB (Legacy)", "2.0.0", False),
    _kernel("linode/direct-disk", "Direct Disk", "", False),
    _kernel("linode/6.2.9-x86_64-linode160", "6.2.9-x86_64-linode160", "6.2.9", True),
)


def _image(image_id: str, label: str, vendor: str, size: int) -> Json:
    return {
        "id": image_id,
        "label": label,
        "description": None,
        "created": "2023-06-12T12:00:00",
        "updated": "2023-06-12T12:00:00",
        "created_by": "linode",
        "deprecated": False,
        "is_public": True,
        "size": size,
        "total_size": size,
        "status": "available",
        "type": "manual",
        "vendor": vendor,
        "eol": None,
        "expiry": None,
        "capabilities": ["cloud-init"],
        "regions": [],
        "tags": [],
    }


# All of them boot the sandbox's one Debian 12 host image; the others are there for designs that name them.
IMAGES: tuple[Json, ...] = (
    _image("linode/debian12", "Debian 12", "Debian", 1300),
    _image("linode/debian11", "Debian 11", "Debian", 1100),
    _image("linode/ubuntu22.04", "Ubuntu 22.04 LTS", "Ubuntu", 2500),
    _image("linode/ubuntu24.04", "Ubuntu 24.04 LTS", "Ubuntu", 2700),
)

_BY_ID: dict[str, dict[str, Json]] = {
    "regions": {r["id"]: r for r in REGIONS},
    "types": {t["id"]: t for t in TYPES},
    "kernels": {k["id"]: k for k in KERNELS},
    "images": {i["id"]: i for i in IMAGES},
}

# --- starting and stopping the daemon ---------------------------------------------------------------


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
        return _container_name(self.prefix, linode_id)


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
        base_url=f"http://127.0.0.1:{port}{_API_PREFIX}",
        token=token,
        network=network,
        subnet=str(subnet),
        gateway=str(subnet.network_address + 1),
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


def _container_name(prefix: str, linode_id: int) -> str:
    return f"{prefix}-{linode_id}"


# --- the API's state --------------------------------------------------------------------------------


class _Failure(Exception):
    """An answer in Linode's error format: {"errors": [{"field": ..., "reason": ...}]}."""

    def __init__(self, status: int, errors: list[tuple[str | None, str]]) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors

    @classmethod
    def of(cls, status: int, reason: str, field_name: str | None = None) -> _Failure:
        return cls(status, [(field_name, reason)])

    def body(self) -> Json:
        return {"errors": [{"reason": r, **({"field": f} if f else {})} for f, r in self.errors]}


_NOT_FOUND = (404, "Not found")


def _now() -> str:
    return datetime.now(UTC).strftime(_DATE)


@dataclass
class _Linode:
    """One Linode as the API knows it, plus what its container needs (keys, IP)."""

    id: int
    label: str
    region: str
    type: str
    image: str | None
    status: str
    ipv4: str
    ipv6: str
    tags: list[str]
    authorized_keys: list[str]
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    group: str = ""
    watchdog_enabled: bool = True
    host_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    disks: list[Json] = field(default_factory=list)
    configs: list[Json] = field(default_factory=list)
    deleted: bool = False
    worker: _Worker | None = None


class _Worker:
    """Runs one Linode's jobs one after the other, so its container never sees two podman steps at once."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Finish the jobs already submitted, then end the thread."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a job's failure must not end the Linode's worker
                log.exception("a job of %s failed", self._thread.name)


@dataclass(frozen=True)
class _Phase:
    """One step of a lifecycle: the status meanwhile, its event, and the podman work it takes."""

    status: str
    action: str | None
    work: Callable[[], None] | None = None


class Api:
    """The emulator's state and logic; thread-safe, answering (status, JSON body) for each request."""

    def __init__(
        self,
        token: str,
        network: str,
        subnet: str,
        prefix: str,
        delay: float = DEFAULT_DELAY,
        record: Path | None = None,
    ) -> None:
        self._token = token
        self._network = network
        self._subnet = ipaddress.IPv4Network(subnet)
        self._gateway = str(self._subnet.network_address + 1)
        self._prefix = prefix
        self._delay = delay
        self._record = record
        self._lock = threading.RLock()
        self._record_lock = threading.Lock()
        self._linodes: dict[int, _Linode] = {}
        self._ips_in_use: set[str] = set()
        self._events: list[Json] = []
        self._linode_ids = itertools.count(random.randint(40_000_000, 60_000_000))
        self._config_ids = itertools.count(random.randint(40_000_000, 60_000_000))
        self._disk_ids = itertools.count(random.randint(80_000_000, 99_000_000))
        self._event_ids = itertools.count(random.randint(700_000_000, 900_000_000))
        self._routes = _routes(self)

    # --- HTTP entry point

    def handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Json]:
        """Answer one request: METHOD on TARGET (path and query), with HEADERS (lower-case names) and body."""
        url = urlsplit(target)
        path = unquote(url.path)
        try:
            status, body = 200, self._dispatch(method, path, parse_qs(url.query), headers, raw_body)
        except _Failure as failure:
            status, body = failure.status, failure.body()
        except Exception:  # a bug of the emulator: answer as Linode would, keep the connection usable
            log.exception("%s %s failed", method, path)
            status, body = 500, _Failure.of(500, "Internal Server Error").body()
        self._write_record(method, path, status, body)
        return status, body

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw_body: bytes
    ) -> Json:
        allowed = []
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            allowed.append(route.method)
            if route.method != method:
                continue
            self._authorise(headers.get("authorization"), route.public)
            request = _Request(match.groupdict(), query, headers.get("x-filter"), _parse_body(method, raw_body))
            return route.handler(request)
        if allowed:
            raise _Failure.of(405, "Method Not Allowed")
        raise _Failure.of(*_NOT_FOUND)

    def _authorise(self, authorization: str | None, public: bool) -> None:
        """Linode's catalogues answer without a token; anything else needs this one, as a Bearer token."""
        if authorization is None and public:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._token.encode()):
            raise _Failure.of(401, "Invalid Token")

    def _write_record(self, method: str, path: str, status: int, body: Json) -> None:
        if self._record is None:
            return
        line = json.dumps({"method": method, "path": path, "status": status, "body": body}) + "\n"
        with self._record_lock, self._record.open("a") as out:
            out.write(line)

    # --- catalogues

    def list_catalogue(self, kind: str, request: _Request) -> Json:
        return _page(_filtered(list(_BY_ID[kind].values()), request.filter, _FILTERABLE[kind]), request.query)

    def get_catalogue(self, kind: str, request: _Request) -> Json:
        found = _BY_ID[kind].get(request.params["id"])
        if found is None:
            raise _Failure.of(*_NOT_FOUND)
        return found

    # --- instances

    def list_instances(self, request: _Request) -> Json:
        with self._lock:
            linodes = [self._linode_json(linode) for linode in sorted(self._linodes.values(), key=lambda x: x.id)]
        return _page(_filtered(linodes, request.filter, _FILTERABLE["instances"]), request.query)

    def get_instance(self, request: _Request) -> Json:
        with self._lock:
            return self._linode_json(self._find(request))

    def create_instance(self, request: _Request) -> Json:
        body = request.body
        errors: list[tuple[str | None, str]] = []
        region = _string(body, "region", errors, required=True)
        linode_type = _string(body, "type", errors, required=True)
        image = _string(body, "image", errors)
        label = _string(body, "label", errors)
        root_pass = _string(body, "root_pass", errors)
        keys = _string_list(body, "authorized_keys", errors)
        tags = _string_list(body, "tags", errors)
        booted = body.get("booted", image is not None)
        if not isinstance(booted, bool):
            errors.append(("booted", "Must be a boolean"))
        if region is not None and region not in _BY_ID["regions"]:
            errors.append(("region", "Region does not exist"))
        if linode_type is not None and linode_type not in _BY_ID["types"]:
            errors.append(("type", "A valid plan type by that ID was not found"))
        if image is not None:
            errors += _deploy_errors(image, root_pass, keys)
        errors += _tag_errors(tags)
        with self._lock:
            if label is not None:
                errors += self._label_errors(label)
            if errors:
                raise _Failure(400, errors)
            assert region is not None and linode_type is not None  # noqa: S101 - checked above
            linode_id = next(self._linode_ids)
            linode = _Linode(
                id=linode_id,
                label=label or f"linode{linode_id}",
                region=region,
                type=linode_type,
                image=image,
                status="provisioning",
                ipv4=self._allocate_ip(),
                ipv6=_slaac(linode_id),
                tags=sorted(set(tags)),
                authorized_keys=keys,
            )
            if image is not None:
                self._deploy(linode, image)
            linode.worker = _Worker(f"linode-{linode_id}")
            self._linodes[linode_id] = linode
            phases = [_Phase("provisioning", "linode_create")]
            if image is not None and booted:
                phases.append(_Phase("booting", "linode_boot", lambda: self._start_container(linode)))
            self._run(linode, phases, "running" if len(phases) > 1 else "offline")
            log.info("created Linode %d (%s) at %s", linode_id, linode.label, linode.ipv4)
            return self._linode_json(linode)

    def update_instance(self, request: _Request) -> Json:
        body = request.body
        errors: list[tuple[str | None, str]] = []
        with self._lock:
            linode = self._find(request)
            label = _string(body, "label", errors)
            if "label" in body and not label:
                errors.append(("label", "Label is required."))
            elif label is not None and label != linode.label:
                errors += self._label_errors(label)
            tags = _string_list(body, "tags", errors) if "tags" in body else None
            errors += _tag_errors(tags or [])
            group = _string(body, "group", errors)
            watchdog = body.get("watchdog_enabled", linode.watchdog_enabled)
            if not isinstance(watchdog, bool):
                errors.append(("watchdog_enabled", "Must be a boolean"))
            if errors:
                raise _Failure(400, errors)
            if label:
                linode.label = label
            if tags is not None:
                linode.tags = sorted(set(tags))
            if group is not None:
                linode.group = group
            linode.watchdog_enabled = bool(watchdog)
            linode.updated = _now()
            self._event("linode_update", linode, "notification")
            return self._linode_json(linode)

    def delete_instance(self, request: _Request) -> Json:
        with self._lock:
            linode = self._find(request)
            del self._linodes[linode.id]
            linode.deleted = True
            event = self._event("linode_delete", linode, "started")
            assert linode.worker is not None  # noqa: S101 - every Linode gets one when created
            linode.worker.submit(lambda: self._remove(linode, event))
            linode.worker.close()
            log.info("deleted Linode %d (%s)", linode.id, linode.label)
        return {}

    def boot(self, request: _Request) -> Json:
        with self._lock:
            linode = self._idle(request)
            config_id = request.body.get("config_id")
            if config_id is not None and config_id not in [c["id"] for c in linode.configs]:
                raise _Failure.of(400, "Config not found", "config_id")
            if not linode.configs:
                raise _Failure.of(400, "Linode has no configuration profile to boot", "config_id")
            if linode.status != "running":
                self._run(linode, [_Phase("booting", "linode_boot", lambda: self._start_container(linode))], "running")
        return {}

    def shutdown(self, request: _Request) -> Json:
        with self._lock:
            linode = self._idle(request)
            if linode.status == "running":
                phase = _Phase("shutting_down", "linode_shutdown", lambda: self._stop_container(linode))
                self._run(linode, [phase], "offline")
        return {}

    def reboot(self, request: _Request) -> Json:
        with self._lock:
            linode = self._idle(request)
            if not linode.configs:
                raise _Failure.of(400, "Linode has no configuration profile to boot", "config_id")
            if linode.status == "running":
                phases = [_Phase("rebooting", "linode_reboot", lambda: self._restart_container(linode))]
            else:  # Linode boots an offline Linode it is asked to reboot
                phases = [_Phase("booting", "linode_boot", lambda: self._start_container(linode))]
            self._run(linode, phases, "running")
        return {}

    def rebuild(self, request: _Request) -> Json:
        body = request.body
        errors: list[tuple[str | None, str]] = []
        image = _string(body, "image", errors)
        root_pass = _string(body, "root_pass", errors)
        keys = _string_list(body, "authorized_keys", errors)
        booted = body.get("booted", True)
        if not isinstance(booted, bool):
            errors.append(("booted", "Must be a boolean"))
        if image is None:
            errors.append(("image", "Image is required."))
        else:
            errors += _deploy_errors(image, root_pass, keys)
        with self._lock:
            linode = self._idle(request)
            if errors:
                raise _Failure(400, errors)
            assert image is not None  # noqa: S101 - checked above
            linode.image = image
            linode.authorized_keys = keys
            self._deploy(linode, image)
            phases = [_Phase("rebuilding", "linode_rebuild", lambda: self._remove_container(linode))]
            if booted:
                phases.append(_Phase("booting", "linode_boot", lambda: self._start_container(linode)))
            self._run(linode, phases, "running" if booted else "offline")
            log.info("rebuilding Linode %d (%s) from %s", linode.id, linode.label, image)
            return self._linode_json(linode)

    def ips(self, request: _Request) -> Json:
        with self._lock:
            linode = self._find(request)
            dashes = linode.ipv4.replace(".", "-")
            public = {
                "address": linode.ipv4,
                "gateway": self._gateway,
                "subnet_mask": str(self._subnet.netmask),
                "prefix": self._subnet.prefixlen,
                "type": "ipv4",
                "public": True,
                "rdns": f"{dashes}.ip.linodeusercontent.com",
                "linode_id": linode.id,
                "region": linode.region,
            }
            link_local = "fe80::" + linode.ipv6.split("::", 1)[1]

            def ipv6(address: str, public: bool) -> Json:
                return {
                    "address": address,
                    "gateway": "fe80::1",
                    "subnet_mask": "ffff:ffff:ffff:ffff::",
                    "prefix": 64,
                    "type": "ipv6",
                    "public": public,
                    "linode_id": linode.id,
                    "region": linode.region,
                }

            return {
                "ipv4": {"public": [public], "private": [], "shared": [], "reserved": [], "vpc": []},
                "ipv6": {"slaac": ipv6(linode.ipv6, True), "link_local": ipv6(link_local, False), "global": []},
            }

    def list_configs(self, request: _Request) -> Json:
        with self._lock:
            configs = copy.deepcopy(self._find(request).configs)
        return _page(configs, request.query)

    def get_config(self, request: _Request) -> Json:
        with self._lock:
            return copy.deepcopy(self._config(request))

    def update_config(self, request: _Request) -> Json:
        body = request.body
        errors: list[tuple[str | None, str]] = []
        kernel = _string(body, "kernel", errors)
        if kernel is not None and kernel not in _BY_ID["kernels"]:
            errors.append(("kernel", "Kernel does not exist"))
        label = _string(body, "label", errors)
        if label is not None and not 1 <= len(label) <= 48:
            errors.append(("label", "Length must be 1-48 characters"))
        comments = body.get("comments")
        if comments is not None and not isinstance(comments, str):
            errors.append(("comments", "Must be a string"))
        for key, choices in (("run_level", ("default", "single", "binbash")), ("virt_mode", ("paravirt", "fullvirt"))):
            if key in body and body[key] not in choices:
                errors.append((key, f"Must be one of {', '.join(choices)}"))
        root_device = _string(body, "root_device", errors)
        if root_device is not None and not re.fullmatch(r"[a-zA-Z0-9/_-]+", root_device):
            errors.append(("root_device", "Invalid root device"))
        memory_limit = body.get("memory_limit", 0)
        if not isinstance(memory_limit, int) or isinstance(memory_limit, bool) or memory_limit < 0:
            errors.append(("memory_limit", "Must be a non-negative integer"))
        helpers = body.get("helpers", {})
        if not isinstance(helpers, dict) or not all(isinstance(v, bool) for v in helpers.values()):
            errors.append(("helpers", "Must be an object of booleans"))
        interfaces = body.get("interfaces", [])
        if interfaces and not isinstance(interfaces, list):
            errors.append(("interfaces", "Must be a list"))
        with self._lock:
            config = self._config(request)
            linode = self._find(request)
            if errors:
                raise _Failure(400, errors)
            for key in ("kernel", "label", "comments", "run_level", "virt_mode", "root_device", "memory_limit"):
                if key in body and body[key] is not None:
                    config[key] = body[key]
            config["helpers"].update({k: v for k, v in helpers.items() if k in config["helpers"]})
            self._event("linode_config_update", linode, "notification")
            return copy.deepcopy(config)

    def list_disks(self, request: _Request) -> Json:
        with self._lock:
            disks = copy.deepcopy(self._find(request).disks)
        return _page(disks, request.query)

    def get_disk(self, request: _Request) -> Json:
        with self._lock:
            for disk in self._find(request).disks:
                if str(disk["id"]) == request.params["diskId"]:
                    return copy.deepcopy(disk)
        raise _Failure.of(*_NOT_FOUND)

    # --- events

    def list_events(self, request: _Request) -> Json:
        with self._lock:
            events = copy.deepcopy(self._events[::-1])  # newest first, as Linode lists them
        return _page(_filtered(events, request.filter, _FILTERABLE["events"]), request.query)

    def get_event(self, request: _Request) -> Json:
        with self._lock:
            for event in self._events:
                if str(event["id"]) == request.params["eventId"]:
                    return copy.deepcopy(event)
        raise _Failure.of(*_NOT_FOUND)

    # --- helpers (call with the lock held)

    def _find(self, request: _Request) -> _Linode:
        try:
            return self._linodes[int(request.params["linodeId"])]
        except (KeyError, ValueError):
            raise _Failure.of(*_NOT_FOUND) from None

    def _idle(self, request: _Request) -> _Linode:
        """The Linode of REQUEST, which must not be in the middle of another lifecycle step."""
        linode = self._find(request)
        if linode.status in TRANSIENT_STATUSES:
            raise _Failure.of(400, "Linode busy.")
        return linode

    def _config(self, request: _Request) -> Json:
        for config in self._find(request).configs:
            if str(config["id"]) == request.params["configId"]:
                return config
        raise _Failure.of(*_NOT_FOUND)

    def _label_errors(self, label: str) -> list[tuple[str | None, str]]:
        if not 3 <= len(label) <= 64:
            return [("label", "Length must be 3-64 characters")]
        if not _LABEL.match(label) or not label[-1].isalnum():
            return [
                (
                    "label",
                    "Label must begin and end with a letter or number, contain only letters, numbers, '-', '_' "
                    "or '.', and not repeat '-', '_' or '.'",
                )
            ]
        if any(other.label.lower() == label.lower() for other in self._linodes.values()):
            return [("label", "Label must be unique among your linodes")]
        return []

    def _allocate_ip(self) -> str:
        for number in range(_FIRST_HOST, self._subnet.num_addresses - 1):
            address = str(self._subnet.network_address + number)
            if address not in self._ips_in_use:
                self._ips_in_use.add(address)
                return address
        raise _Failure.of(400, f"No IPv4 addresses left in the sandbox's {self._subnet}")

    def _deploy(self, linode: _Linode, image: str) -> None:
        """Give LINODE a fresh disk of IMAGE, a swap disk and the config profile that boots them."""
        plan, label = _BY_ID["types"][linode.type], _BY_ID["images"][image]["label"]
        now = _now()
        disks = [
            {"label": f"{label} Disk", "size": plan["disk"] - _SWAP_MB, "filesystem": "ext4"},
            {"label": f"{_SWAP_MB} MB Swap Image", "size": _SWAP_MB, "filesystem": "swap"},
        ]
        linode.disks = [
            {"id": next(self._disk_ids), "status": "ready", "created": now, "updated": now, **d} for d in disks
        ]
        linode.configs = [
            {
                "id": next(self._config_ids),
                "label": f"My {label} Disk Profile",
                "comments": "",
                "kernel": DEFAULT_KERNEL,
                "memory_limit": 0,
                "root_device": "/dev/sda",
                "run_level": "default",
                "virt_mode": "paravirt",
                "helpers": {
                    "updatedb_disabled": True,
                    "distro": True,
                    "modules_dep": True,
                    "network": True,
                    "devtmpfs_automount": True,
                },
                "devices": {"sda": {"disk_id": linode.disks[0]["id"]}, "sdb": {"disk_id": linode.disks[1]["id"]}},
                "interfaces": [],
            }
        ]

    def _event(self, action: str, linode: _Linode, status: str) -> Json:
        event = {
            "id": next(self._event_ids),
            "action": action,
            "created": _now(),
            "duration": 0.0,
            "entity": {
                "id": linode.id,
                "label": linode.label,
                "type": "linode",
                "url": f"{_API_PREFIX}/linode/instances/{linode.id}",
            },
            "message": None,
            "percent_complete": 100 if status in ("finished", "notification") else 0,
            "read": False,
            "seen": False,
            "status": status,
            "time_remaining": None,
            "username": "jarvis-sandbox",
        }
        self._events.append(event)
        return event

    def _finish(self, event: Json, ok: bool, started: float) -> None:
        with self._lock:
            event.update(
                status="finished" if ok else "failed",
                percent_complete=100 if ok else event["percent_complete"],
                duration=round(time.monotonic() - started, 3),
            )

    # --- lifecycles

    def _run(self, linode: _Linode, phases: list[_Phase], final: str) -> None:
        """Enter the first phase now (so the answer and the next GET show it), the rest on the worker."""
        linode.status = phases[0].status
        linode.updated = _now()
        assert linode.worker is not None  # noqa: S101 - every Linode gets one when created
        linode.worker.submit(lambda: self._lifecycle(linode, phases, final))

    def _lifecycle(self, linode: _Linode, phases: list[_Phase], final: str) -> None:
        for phase in phases:
            with self._lock:
                if linode.deleted:
                    return
                linode.status = phase.status
                event = self._event(phase.action, linode, "started") if phase.action else None
            started = time.monotonic()
            ok = True
            if phase.work is not None:
                try:
                    phase.work()
                except SandboxError as exc:
                    log.error("%s of Linode %d failed: %s", phase.status, linode.id, exc)
                    ok = False
            time.sleep(self._delay)
            if event is not None:
                self._finish(event, ok, started)
            if not ok:
                final = "offline"
                break
        with self._lock:
            if not linode.deleted:
                linode.status = final
                linode.updated = _now()

    def _remove(self, linode: _Linode, event: Json) -> None:
        started = time.monotonic()
        ok = True
        try:
            hosts.remove_host(self._container(linode))
        except SandboxError as exc:
            log.error("removing the container of Linode %d failed: %s", linode.id, exc)
            ok = False
        self._finish(event, ok, started)
        with self._lock:
            self._ips_in_use.discard(linode.ipv4)

    def _container(self, linode: _Linode) -> str:
        return _container_name(self._prefix, linode.id)

    def _start_container(self, linode: _Linode) -> None:
        """Power the host on: start its stopped container, or create it on the first boot after a deploy."""
        name = self._container(linode)
        state = hosts.list_hosts(name).get(name)
        if state == "running":
            return
        if state is not None:
            hosts.start_stopped_host(name)
            return
        hostname = re.sub(r"[^A-Za-z0-9.-]", "-", linode.label).strip(".-") or f"linode{linode.id}"
        hosts.start_host(name, self._network, linode.ipv4, list(linode.authorized_keys), hostname)
        log.info("started %s: %s at %s, %d key(s)", name, hostname, linode.ipv4, len(linode.authorized_keys))

    def _stop_container(self, linode: _Linode) -> None:
        name = self._container(linode)
        if hosts.list_hosts(name).get(name) == "running":
            hosts.stop_host(name)

    def _restart_container(self, linode: _Linode) -> None:
        self._stop_container(linode)
        self._start_container(linode)

    def _remove_container(self, linode: _Linode) -> None:
        """The disk is rebuilt: the next boot makes a new host (new host keys, the rebuild's keys)."""
        hosts.remove_host(self._container(linode))

    # --- the JSON of a Linode

    def _linode_json(self, linode: _Linode) -> Json:
        plan = _BY_ID["types"][linode.type]
        return {
            "id": linode.id,
            "label": linode.label,
            "group": linode.group,
            "status": linode.status,
            "created": linode.created,
            "updated": linode.updated,
            "type": linode.type,
            "region": linode.region,
            "image": linode.image,
            "ipv4": [linode.ipv4],
            "ipv6": f"{linode.ipv6}/128",
            "hypervisor": "kvm",
            "specs": {
                "disk": plan["disk"],
                "memory": plan["memory"],
                "vcpus": plan["vcpus"],
                "gpus": plan["gpus"],
                "transfer": plan["transfer"],
            },
            "alerts": {
                "cpu": 90 * plan["vcpus"],
                "io": 10000,
                "network_in": 10,
                "network_out": 10,
                "transfer_quota": 80,
            },
            "backups": {"enabled": False, "available": False, "schedule": {"day": None, "window": None}},
            "tags": list(linode.tags),
            "host_uuid": linode.host_uuid,
            "watchdog_enabled": linode.watchdog_enabled,
            "has_user_data": False,
            "lke_cluster_id": None,
            "placement_group": None,
            "capabilities": [],
        }


def _slaac(linode_id: int) -> str:
    """A made-up SLAAC address from a made-up MAC f2:3c:95:xx:yy:zz (EUI-64), as Linode's look."""
    low = linode_id & 0xFFFFFF
    eui = f"f03c:95ff:fe{low >> 16:02x}:{low & 0xFFFF:04x}"
    return str(ipaddress.IPv6Address(f"2600:3c02::{eui}"))


# --- request parsing and validation -----------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    params: dict[str, str]
    query: dict[str, list[str]]
    filter: str | None
    body: Json


def _parse_body(method: str, raw: bytes) -> Json:
    if method not in ("POST", "PUT") or not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Failure.of(400, "Malformed JSON") from None
    if not isinstance(body, dict):
        raise _Failure.of(400, "Malformed JSON: expected an object")
    return body


def _string(body: Json, key: str, errors: list[tuple[str | None, str]], required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            errors.append((key, f"{key} is required"))
        return None
    if not isinstance(value, str):
        errors.append((key, "Must be a string"))
        return None
    return value


def _string_list(body: Json, key: str, errors: list[tuple[str | None, str]]) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append((key, "Must be a list of strings"))
        return []
    return list(value)


def _tag_errors(tags: Iterable[str]) -> list[tuple[str | None, str]]:
    errors: list[tuple[str | None, str]] = []
    if any(not 3 <= len(tag) <= 50 for tag in tags):
        errors.append(("tags", "Length must be 3-50 characters"))
    return errors


def _deploy_errors(image: str, root_pass: str | None, keys: list[str]) -> list[tuple[str | None, str]]:
    """What is wrong with deploying IMAGE with ROOT_PASS and KEYS, as Linode checks it."""
    errors: list[tuple[str | None, str]] = []
    if image not in _BY_ID["images"]:
        errors.append(("image", "Image does not exist"))
    if root_pass is None:
        errors.append(("root_pass", "root_pass is required"))
    elif not 7 <= len(root_pass) <= 128:
        errors.append(("root_pass", "Length must be 7-128 characters"))
    elif _password_bits(root_pass) < _MIN_PASSWORD_BITS:
        errors.append(("root_pass", "Password does not meet strength requirement."))
    for key in keys:
        if not key.startswith(_KEY_TYPES) or "\n" in key.strip() or len(key.split()) < 2:
            errors.append(("authorized_keys", "Invalid SSH key"))
            break
    return errors


def _password_bits(password: str) -> float:
    """A rough strength estimate (distinct characters × log2 of the classes' size), enough to refuse 'password'."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    alphabet = sum(len(c) for c in classes if any(ch in c for ch in password))
    if any(not any(ch in c for c in classes) for ch in password):
        alphabet += 33
    return len(set(password)) * math.log2(max(alphabet, 2))


# --- X-Filter and pagination ------------------------------------------------------------------------

_FILTERABLE: dict[str, frozenset[str]] = {
    "instances": frozenset({"id", "label", "tags", "region", "type", "image", "status", "group", "created"}),
    "events": frozenset({"id", "action", "created", "status", "seen", "read", "entity.id", "entity.type"}),
    "regions": frozenset({"id", "country", "status"}),
    "types": frozenset({"id", "class", "label", "disk", "memory", "vcpus", "transfer"}),
    "kernels": frozenset({"id", "label", "version", "kvm", "architecture", "pvops", "deprecated"}),
    "images": frozenset({"id", "label", "vendor", "is_public", "deprecated", "size", "status", "type", "created_by"}),
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "+gt": lambda a, b: bool(a > b),
    "+gte": lambda a, b: bool(a >= b),
    "+lt": lambda a, b: bool(a < b),
    "+lte": lambda a, b: bool(a <= b),
}


def _filter_error(reason: str) -> _Failure:
    return _Failure.of(400, reason, "X-Filter")


def _filtered(items: list[Json], header: str | None, filterable: frozenset[str]) -> list[Json]:
    """ITEMS that match Linode's X-Filter HEADER (+and, +or, equality, +contains, +neq, +gt…), in its order."""
    if not header:
        return items
    try:
        spec = json.loads(header)
    except ValueError:
        raise _filter_error("Invalid JSON") from None
    if not isinstance(spec, dict):
        raise _filter_error("Filter must be a JSON object")
    order_by, order = spec.pop("+order_by", None), spec.pop("+order", "asc")
    limit = spec.pop("+limit", None)
    matched = [item for item in items if _matches(item, spec, filterable)]
    if order_by is not None:
        if order_by not in filterable or order not in ("asc", "desc"):
            raise _filter_error(f"Cannot order by {order_by} {order}")
        try:
            matched.sort(key=lambda item: _lookup(item, order_by), reverse=order == "desc")
        except TypeError:
            raise _filter_error(f"Cannot order by {order_by}") from None
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise _filter_error("+limit must be a positive integer")
        matched = matched[:limit]
    return matched


def _matches(item: Json, spec: Json, filterable: frozenset[str]) -> bool:
    results = []
    for key, condition in spec.items():
        if key in ("+and", "+or"):
            if not isinstance(condition, list) or not all(isinstance(c, dict) for c in condition):
                raise _filter_error(f"{key} takes a list of filters")
            parts = [_matches(item, c, filterable) for c in condition]
            results.append(all(parts) if key == "+and" else any(parts))
        elif key.startswith("+"):
            raise _filter_error(f"Unknown operator {key}")
        elif key not in filterable:
            raise _filter_error(f"Cannot filter on {key}")
        else:
            results.append(_holds(_lookup(item, key), condition))
    return all(results)


def _holds(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return condition in value if isinstance(value, list) else bool(value == condition)
    results = []
    for operator, operand in condition.items():
        if operator == "+contains":
            results.append(str(operand) in value if isinstance(value, str) else operand in (value or []))
        elif operator == "+neq":
            results.append(operand not in value if isinstance(value, list) else value != operand)
        elif operator == "+or":
            if not isinstance(operand, list):
                raise _filter_error("+or takes a list of values")
            results.append(any(_holds(value, alternative) for alternative in operand))
        elif operator in _COMPARISONS:
            try:
                results.append(_COMPARISONS[operator](value, operand))
            except TypeError:
                raise _filter_error(f"Cannot compare with {operator}") from None
        else:
            raise _filter_error(f"Unknown operator {operator}")
    return all(results)


def _lookup(item: Json, dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _page(items: list[Json], query: dict[str, list[str]]) -> Json:
    """One page of ITEMS, as Linode pages its lists (page from 1, page_size 25–500, default 100)."""
    page, page_size = _query_int(query, "page", 1), _query_int(query, "page_size", 100)
    if page < 1:
        raise _Failure.of(400, "Must be a positive integer", "page")
    if not 25 <= page_size <= 500:
        raise _Failure.of(400, "Must be 25-500", "page_size")
    return {
        "data": items[(page - 1) * page_size : page * page_size],
        "page": page,
        "pages": max(1, math.ceil(len(items) / page_size)),
        "results": len(items),
    }


def _query_int(query: dict[str, list[str]], key: str, default: int) -> int:
    values = query.get(key)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise _Failure.of(400, "Must be an integer", key) from None


# --- routing and HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Request], Json]
    public: bool = False


def _route(method: str, template: str, handler: Callable[[_Request], Json], public: bool = False) -> _Route:
    """A route for TEMPLATE like ``/linode/instances/{linodeId}``; a final ``{id}`` may hold slashes (linode/grub2)."""
    pattern = re.escape(_API_PREFIX + template)
    pattern = pattern.replace(r"\{id\}", "(?P<id>.+)")
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return _Route(method, re.compile(pattern), handler, public)


def _routes(api: Api) -> list[_Route]:
    def catalogue(kind: str) -> tuple[Callable[[_Request], Json], Callable[[_Request], Json]]:
        return (lambda r: api.list_catalogue(kind, r)), (lambda r: api.get_catalogue(kind, r))

    instance = "/linode/instances/{linodeId}"
    routes = [
        _route("GET", "/linode/instances", api.list_instances),
        _route("POST", "/linode/instances", api.create_instance),
        _route("GET", instance, api.get_instance),
        _route("PUT", instance, api.update_instance),
        _route("DELETE", instance, api.delete_instance),
        _route("POST", instance + "/boot", api.boot),
        _route("POST", instance + "/shutdown", api.shutdown),
        _route("POST", instance + "/reboot", api.reboot),
        _route("POST", instance + "/rebuild", api.rebuild),
        _route("GET", instance + "/ips", api.ips),
        _route("GET", instance + "/configs", api.list_configs),
        _route("GET", instance + "/configs/{configId}", api.get_config),
        _route("PUT", instance + "/configs/{configId}", api.update_config),
        _route("GET", instance + "/disks", api.list_disks),
        _route("GET", instance + "/disks/{diskId}", api.get_disk),
        _route("GET", "/account/events", api.list_events),
        _route("GET", "/account/events/{eventId}", api.get_event),
    ]
    for kind, template in (
        ("regions", "/regions"),
        ("types", "/linode/types"),
        ("kernels", "/linode/kernels"),
        ("images", "/images"),
    ):
        list_all, get_one = catalogue(kind)
        routes += [_route("GET", template, list_all, public=True), _route("GET", template + "/{id}", get_one, True)]
    return routes


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        super().__init__(address, _Handler)
        self.api = api


class _Handler(BaseHTTPRequestHandler):
    server_version = "jarvis-sandbox-linode/0.1"
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions expect
    disable_nagle_algorithm = True  # else every answer waits ~40 ms for the client's delayed ACK

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._answer("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802 - no such operation: answered 405 in Linode's format
        self._answer("PATCH")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        assert isinstance(self.server, _Server)  # noqa: S101 - the only server this handler serves
        status, body = self.server.api.handle(method, self.path, headers, raw)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.address_string(), format % args)


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
    api = Api(token, args.network, args.subnet, args.prefix, args.delay, args.record)
    server = _Server(("127.0.0.1", args.port), api)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    log.info("Linode API on 127.0.0.1:%d%s; hosts %s-<id> on %s", args.port, _API_PREFIX, args.prefix, args.network)
    stopping.wait()
    with contextlib.suppress(Exception):
        server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
