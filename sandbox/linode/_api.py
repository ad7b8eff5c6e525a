"""Private to sandbox.linode: the emulator's state and the operations of Linode's API v4 on it."""

from __future__ import annotations

import copy
import ipaddress
import itertools
import logging
import random
import threading
from dataclasses import dataclass

from sandbox.linode import _checks as checks
from sandbox.linode._answers import Failure, FieldErrors, Json
from sandbox.linode._catalogue import BY_ID
from sandbox.linode._events import EventLog
from sandbox.linode._lifecycle import DEFAULT_DELAY, PROVISIONING, TRANSIENT_STATUSES, Lifecycles
from sandbox.linode._model import Linode, Worker, now
from sandbox.linode._query import filtered, page
from sandbox.linode._shapes import deployment, ips_json, linode_json, slaac

_FIRST_HOST = 4  # .1 is podman's gateway; .2 and .3 stay free, like the addresses a cloud reserves
# What X-Filter may name in each list.
_FILTERABLE: dict[str, frozenset[str]] = {
    "instances": frozenset({"id", "label", "tags", "region", "type", "image", "status", "group", "created"}),
    "events": frozenset({"id", "action", "created", "status", "seen", "read", "entity.id", "entity.type"}),
    "regions": frozenset({"id", "country", "status"}),
    "types": frozenset({"id", "class", "label", "disk", "memory", "vcpus", "transfer"}),
    "kernels": frozenset({"id", "label", "version", "kvm", "architecture", "pvops", "deprecated"}),
    "images": frozenset({"id", "label", "vendor", "is_public", "deprecated", "size", "status", "type", "created_by"}),
}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiRequest:
    """What an operation reads of a request: its path's parameters, query, X-Filter header and JSON body."""

    params: dict[str, str]
    query: dict[str, list[str]]
    filter: str | None
    body: Json


class Api:
    """The emulator's state and logic; thread-safe, each operation answering a JSON body or raising a Failure."""

    def __init__(self, token: str, network: str, subnet: str, prefix: str, delay: float = DEFAULT_DELAY) -> None:
        self.token = token
        self._subnet = ipaddress.IPv4Network(subnet)
        self._lock = threading.RLock()
        self._linodes: dict[int, Linode] = {}
        self._ips_in_use: set[str] = set()
        self._linode_ids = itertools.count(random.randint(40_000_000, 60_000_000))
        self._config_ids = itertools.count(random.randint(40_000_000, 60_000_000))
        self._disk_ids = itertools.count(random.randint(80_000_000, 99_000_000))
        self._events = EventLog(self._lock)
        self._lifecycles = Lifecycles(self._lock, self._events, network, prefix, delay)

    # --- catalogues (the route names the kind)

    def list_catalogue(self, request: ApiRequest) -> Json:
        kind = request.params["kind"]
        return page(filtered(list(BY_ID[kind].values()), request.filter, _FILTERABLE[kind]), request.query)

    def get_catalogue(self, request: ApiRequest) -> Json:
        found = BY_ID[request.params["kind"]].get(request.params["id"])
        if found is None:
            raise Failure.not_found()
        return found

    # --- instances

    def list_instances(self, request: ApiRequest) -> Json:
        with self._lock:
            linodes = [linode_json(linode) for linode in sorted(self._linodes.values(), key=lambda x: x.id)]
        return page(filtered(linodes, request.filter, _FILTERABLE["instances"]), request.query)

    def get_instance(self, request: ApiRequest) -> Json:
        with self._lock:
            return linode_json(self._find(request))

    def create_instance(self, request: ApiRequest) -> Json:
        body = request.body
        errors: FieldErrors = []
        region = checks.string_field(body, "region", errors, required=True)
        linode_type = checks.string_field(body, "type", errors, required=True)
        image = checks.string_field(body, "image", errors)
        label = checks.string_field(body, "label", errors)
        root_pass = checks.string_field(body, "root_pass", errors)
        keys = checks.string_list(body, "authorized_keys", errors)
        tags = checks.string_list(body, "tags", errors)
        booted = body.get("booted", image is not None)
        errors += checks.boolean_errors(booted, "booted")
        if region is not None and region not in BY_ID["regions"]:
            errors.append(("region", "Region does not exist"))
        if linode_type is not None and linode_type not in BY_ID["types"]:
            errors.append(("type", "A valid plan type by that ID was not found"))
        if image is not None:
            errors += checks.deploy_errors(image, root_pass, keys)
        errors += checks.tag_errors(tags)
        with self._lock:
            if label is not None:
                errors += checks.label_errors(label, self._labels())
            if errors:
                raise Failure(400, errors)
            assert region is not None and linode_type is not None  # noqa: S101 - checked above
            linode_id = next(self._linode_ids)
            linode = Linode(
                id=linode_id,
                label=label or f"linode{linode_id}",
                region=region,
                type=linode_type,
                image=image,
                status="provisioning",
                ipv4=self._allocate_ip(),
                ipv6=slaac(linode_id),
                tags=sorted(set(tags)),
                authorized_keys=keys,
                worker=Worker(f"linode-{linode_id}"),
            )
            if image is not None:
                linode.disks, linode.configs = deployment(linode_type, image, self._disk_ids, self._config_ids)
            self._linodes[linode_id] = linode
            phases = [PROVISIONING]
            if image is not None and booted:
                phases.append(self._lifecycles.booting(linode))
            self._lifecycles.run(linode, phases, "running" if len(phases) > 1 else "offline")
            log.info("created Linode %d (%s) at %s", linode_id, linode.label, linode.ipv4)
            return linode_json(linode)

    def update_instance(self, request: ApiRequest) -> Json:
        body = request.body
        errors: FieldErrors = []
        with self._lock:
            linode = self._find(request)
            label = checks.string_field(body, "label", errors)
            if "label" in body and not label:
                errors.append(("label", "Label is required."))
            elif label is not None and label != linode.label:
                errors += checks.label_errors(label, self._labels())
            tags = checks.string_list(body, "tags", errors) if "tags" in body else None
            errors += checks.tag_errors(tags or [])
            group = checks.string_field(body, "group", errors)
            watchdog = body.get("watchdog_enabled", linode.watchdog_enabled)
            errors += checks.boolean_errors(watchdog, "watchdog_enabled")
            if errors:
                raise Failure(400, errors)
            if label:
                linode.label = label
            if tags is not None:
                linode.tags = sorted(set(tags))
            if group is not None:
                linode.group = group
            linode.watchdog_enabled = bool(watchdog)
            linode.updated = now()
            self._events.record("linode_update", linode, "notification")
            return linode_json(linode)

    def delete_instance(self, request: ApiRequest) -> Json:
        with self._lock:
            linode = self._find(request)
            del self._linodes[linode.id]
            linode.deleted = True
            event = self._events.record("linode_delete", linode, "started")
            self._lifecycles.remove(linode, event, then=lambda: self._release_ip(linode.ipv4))
            log.info("deleted Linode %d (%s)", linode.id, linode.label)
        return {}

    def boot(self, request: ApiRequest) -> Json:
        with self._lock:
            linode = self._idle(request)
            config_id = request.body.get("config_id")
            if config_id is not None and config_id not in [c["id"] for c in linode.configs]:
                raise Failure.of(400, "Config not found", "config_id")
            self._bootable(linode)
            if linode.status != "running":
                self._lifecycles.run(linode, [self._lifecycles.booting(linode)], "running")
        return {}

    def shutdown(self, request: ApiRequest) -> Json:
        with self._lock:
            linode = self._idle(request)
            if linode.status == "running":
                self._lifecycles.run(linode, [self._lifecycles.shutting_down(linode)], "offline")
        return {}

    def reboot(self, request: ApiRequest) -> Json:
        with self._lock:
            linode = self._idle(request)
            self._bootable(linode)
            if linode.status == "running":
                phase = self._lifecycles.rebooting(linode)
            else:  # Linode boots an offline Linode it is asked to reboot
                phase = self._lifecycles.booting(linode)
            self._lifecycles.run(linode, [phase], "running")
        return {}

    def rebuild(self, request: ApiRequest) -> Json:
        body = request.body
        errors: FieldErrors = []
        image = checks.string_field(body, "image", errors)
        root_pass = checks.string_field(body, "root_pass", errors)
        keys = checks.string_list(body, "authorized_keys", errors)
        booted = body.get("booted", True)
        errors += checks.boolean_errors(booted, "booted")
        if image is None:
            errors.append(("image", "Image is required."))
        else:
            errors += checks.deploy_errors(image, root_pass, keys)
        with self._lock:
            linode = self._idle(request)
            if errors:
                raise Failure(400, errors)
            assert image is not None  # noqa: S101 - checked above
            linode.image = image
            linode.authorized_keys = keys
            linode.disks, linode.configs = deployment(linode.type, image, self._disk_ids, self._config_ids)
            phases = [self._lifecycles.rebuilding(linode)]
            if booted:
                phases.append(self._lifecycles.booting(linode))
            self._lifecycles.run(linode, phases, "running" if booted else "offline")
            log.info("rebuilding Linode %d (%s) from %s", linode.id, linode.label, image)
            return linode_json(linode)

    def ips(self, request: ApiRequest) -> Json:
        with self._lock:
            return ips_json(self._find(request), self._subnet)

    def list_configs(self, request: ApiRequest) -> Json:
        with self._lock:
            configs = copy.deepcopy(self._find(request).configs)
        return page(configs, request.query)

    def get_config(self, request: ApiRequest) -> Json:
        with self._lock:
            return copy.deepcopy(self._config(request))

    def update_config(self, request: ApiRequest) -> Json:
        body = request.body
        errors = checks.config_errors(body)
        with self._lock:
            config = self._config(request)
            linode = self._find(request)
            if errors:
                raise Failure(400, errors)
            for key in ("kernel", "label", "comments", "run_level", "virt_mode", "root_device", "memory_limit"):
                if key in body and body[key] is not None:
                    config[key] = body[key]
            helpers = body.get("helpers", {})
            config["helpers"].update({k: v for k, v in helpers.items() if k in config["helpers"]})
            self._events.record("linode_config_update", linode, "notification")
            return copy.deepcopy(config)

    def list_disks(self, request: ApiRequest) -> Json:
        with self._lock:
            disks = copy.deepcopy(self._find(request).disks)
        return page(disks, request.query)

    def get_disk(self, request: ApiRequest) -> Json:
        with self._lock:
            return copy.deepcopy(_by_id(self._find(request).disks, request.params["diskId"]))

    # --- events

    def list_events(self, request: ApiRequest) -> Json:
        return page(filtered(self._events.newest_first(), request.filter, _FILTERABLE["events"]), request.query)

    def get_event(self, request: ApiRequest) -> Json:
        event = self._events.find(request.params["eventId"])
        if event is None:
            raise Failure.not_found()
        return event

    # --- helpers (call with the lock held)

    def _find(self, request: ApiRequest) -> Linode:
        try:
            return self._linodes[int(request.params["linodeId"])]
        except (KeyError, ValueError):
            raise Failure.not_found() from None

    def _idle(self, request: ApiRequest) -> Linode:
        """The Linode of REQUEST, which must not be in the middle of another lifecycle step."""
        linode = self._find(request)
        if linode.status in TRANSIENT_STATUSES:
            raise Failure.of(400, "Linode busy.")
        return linode

    @staticmethod
    def _bootable(linode: Linode) -> None:
        if not linode.configs:
            raise Failure.of(400, "Linode has no configuration profile to boot", "config_id")

    def _config(self, request: ApiRequest) -> Json:
        return _by_id(self._find(request).configs, request.params["configId"])

    def _labels(self) -> list[str]:
        return [linode.label for linode in self._linodes.values()]

    def _allocate_ip(self) -> str:
        for number in range(_FIRST_HOST, self._subnet.num_addresses - 1):
            address = str(self._subnet.network_address + number)
            if address not in self._ips_in_use:
                self._ips_in_use.add(address)
                return address
        raise Failure.of(400, f"No IPv4 addresses left in the sandbox's {self._subnet}")

    def _release_ip(self, address: str) -> None:
        with self._lock:
            self._ips_in_use.discard(address)


def _by_id(entries: list[Json], wanted: str) -> Json:
    """The entry of ENTRIES (a Linode's configs or disks) whose id is WANTED, as the path gives it."""
    for entry in entries:
        if str(entry["id"]) == wanted:
            return entry
    raise Failure.not_found()
