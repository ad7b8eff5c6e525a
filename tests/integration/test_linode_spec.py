"""Every answer of the sandbox's Linode API emulator checked against Linode's official OpenAPI spec.

The emulator records each answer it gives (method, path, status, JSON body) when the session's
``linode_sandbox`` starts. This test drives every operation ``jarvis.deploy.linode_instance`` uses,
error answers included, through linode_api4 and plain requests, then validates every recorded answer
of the session - its own and those the module's tests caused before it - against the response schema
the spec gives for that operation and status (``default`` for errors), with jsonschema.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests
import yaml
from jsonschema.exceptions import ValidationError, best_match
from linode_api4 import ApiError, Instance, LinodeClient

from sandbox import hosts, linode

pytestmark = pytest.mark.integration

SPEC = Path(__file__).parents[3] / "shared" / "linode-openapi.yaml"
API = "/{apiVersion}"
INSTANCES = f"{API}/linode/instances"
INSTANCE = f"{INSTANCES}/{{linodeId}}"
CONFIG = f"{INSTANCE}/configs/{{configId}}"
# What jarvis.deploy.linode_instance (and linode_api4 underneath) calls, with the answers it must understand.
REQUIRED = {
    ("GET", INSTANCES, "200"),
    ("GET", INSTANCES, "401"),
    ("POST", INSTANCES, "200"),
    ("POST", INSTANCES, "400"),
    ("GET", INSTANCE, "200"),
    ("GET", INSTANCE, "404"),
    ("PUT", INSTANCE, "200"),
    ("DELETE", INSTANCE, "200"),
    ("POST", f"{INSTANCE}/boot", "200"),
    ("POST", f"{INSTANCE}/boot", "400"),
    ("POST", f"{INSTANCE}/shutdown", "200"),
    ("POST", f"{INSTANCE}/reboot", "200"),
    ("POST", f"{INSTANCE}/rebuild", "200"),
    ("POST", f"{INSTANCE}/rebuild", "400"),
    ("GET", f"{INSTANCE}/ips", "200"),
    ("GET", f"{INSTANCE}/configs", "200"),
    ("GET", CONFIG, "200"),
    ("PUT", CONFIG, "200"),
    ("PUT", CONFIG, "400"),
    ("GET", f"{INSTANCE}/disks", "200"),
    ("GET", f"{API}/linode/kernels", "200"),
    ("GET", f"{API}/linode/types", "200"),
    ("GET", f"{API}/regions", "200"),
    ("GET", f"{API}/images", "200"),
    ("GET", f"{API}/account/events", "200"),
}
# OpenAPI keywords that JSON Schema does not know (nullable is translated, the rest only describe).
_OPENAPI_ONLY = {"nullable", "example", "examples", "discriminator", "readOnly", "writeOnly", "deprecated", "xml"}
# Where the spec's schema says other than the spec's own text (property, keyword, value → what it means;
# None drops the keyword).
SPEC_DEFECTS: dict[tuple[str, str, Any], Any] = {
    # Config profiles: the pattern is prose listing the allowed characters, not a regex ("/dev/sda"
    # cannot match it).
    ("root_device", "pattern", "a-z, A-Z, 0-9, /, _, -"): "^[a-zA-Z0-9/_-]+$",
    # Config profiles: "An empty `interfaces` array results in a default `public` type Interface
    # configuration only", says the spec; the minimum is for requests that define interfaces.
    ("interfaces", "minItems", 1): None,
}


def _linode_datetime(value: object) -> bool:
    """Linode's timestamps: UTC without a zone suffix, as linode_api4 parses them."""
    if not isinstance(value, str):
        return True
    datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
    return True


def _address(version: int | None, prefix_len: int | None = None) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True
        address, _, length = value.partition("/")
        parsed = ipaddress.ip_address(address)
        if version is not None and parsed.version != version:
            raise ValueError(f"not an IPv{version} address")
        if prefix_len is not None and length != str(prefix_len):
            raise ValueError(f"not followed by /{prefix_len}")
        return True

    return check


def _uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


FORMATS = jsonschema.FormatChecker(formats=())
for _name, _check in {
    "date-time": _linode_datetime,
    "ipv4": _address(4),
    "ipv6": _address(6),
    "ip": _address(None),
    "ipv6/128": _address(6, 128),
    "uuid": _uuid,
}.items():
    FORMATS.checks(_name, raises=(ValueError,))(_check)


class LinodeSpec:
    """Linode's OpenAPI document as JSON Schema validators, one per operation and response status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.definitions: dict[str, Any] = {}
        self._validators: dict[tuple[str, str, str], jsonschema.Draft4Validator] = {}
        base = urlsplit(document.get("servers", [{}])[0].get("url", "")).path.rstrip("/")
        self._paths = []
        for template in document["paths"]:
            literal = len([s for s in template.split("/") if s and not s.startswith("{")])
            regex = re.escape(base + template)
            strict = re.sub(r"\\\{(\w+)\\\}", "[^/]+", regex)
            # IDs such as linode/grub2 or linode/debian12 hold a slash: let a final parameter take it.
            relaxed = re.sub(r"\\\{(\w+)\\\}$", ".+", regex)
            relaxed = re.sub(r"\\\{(\w+)\\\}", "[^/]+", relaxed)
            self._paths.append((re.compile(strict), re.compile(relaxed), literal, template))

    def template(self, path: str) -> str | None:
        """The spec's path template for PATH (/v4/linode/instances/123 → /{apiVersion}/linode/instances/{linodeId})."""
        for index in (0, 1):
            found = [(entry[2], entry[3]) for entry in self._paths if entry[index].fullmatch(path)]
            if found:
                return max(found)[1]
        return None

    def problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """What is wrong with answering BODY with STATUS to METHOD PATH, by the spec; [] if nothing."""
        where = f"{method} {path} → {status}"
        template = self.template(path)
        operation = self.document["paths"].get(template or "", {}).get(method.lower())
        if operation is None:
            if status < 400:
                return [f"{where}: the spec has no operation {method} {template or path}"]
            # A 404 for an unknown path, a 405 for an unknown method: Linode's generic error answer.
            generic = self._deref(self.document["components"]["responses"]["error-response"])
            return self._validate(("*", "*", "error"), generic, body, where)
        responses = operation.get("responses", {})
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            return [f"{where}: the spec gives {method} {template} no {status} or default response"]
        return self._validate((method, str(template), key), self._deref(responses[key]), body, where)

    def _validate(self, cache_key: tuple[str, str, str], response: dict[str, Any], body: Any, where: str) -> list[str]:
        validator = self._validators.get(cache_key)
        if validator is None:
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                return [] if body in (None, {}) else [f"{where}: the spec gives this answer no JSON body"]
            root = {"definitions": self.definitions, "allOf": [self.to_json_schema(schema)]}
            validator = jsonschema.Draft4Validator(root, format_checker=FORMATS)
            self._validators[cache_key] = validator
        return [f"{where}: {_describe(error)}" for error in validator.iter_errors(body)]

    def _deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self._pointer(node["$ref"])
        return node

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {ref}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def to_json_schema(self, node: Any, name: str = "") -> Any:
        """An OpenAPI 3.0 schema object (of property NAME) as Draft 4 JSON Schema.

        ``nullable: true`` becomes "or null", ``$ref`` a definition, ``x-linode-*`` and the other
        OpenAPI-only keywords go, and the known SPEC_DEFECTS are mended.
        """
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"][2:].replace("/", ".")
            if ref not in self.definitions:
                self.definitions[ref] = {}  # a placeholder, so a recursive schema ends
                self.definitions[ref] = self.to_json_schema(self._pointer(node["$ref"]), name)
            return {"$ref": f"#/definitions/{ref}"}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key.startswith("x-") or key in _OPENAPI_ONLY:
                continue
            if key in ("properties", "patternProperties"):
                out[key] = {prop: self.to_json_schema(sub, prop) for prop, sub in value.items()}
            elif key in ("items", "not", "additionalProperties") and isinstance(value, dict):
                out[key] = self.to_json_schema(value)
            elif key in ("allOf", "anyOf", "oneOf"):
                out[key] = [self.to_json_schema(sub, name) for sub in value]
            elif isinstance(value, (str, int)) and (name, key, value) in SPEC_DEFECTS:
                if SPEC_DEFECTS[(name, key, value)] is not None:
                    out[key] = SPEC_DEFECTS[(name, key, value)]
            else:
                out[key] = value
        if node.get("nullable") is True:
            return {"anyOf": [{"type": "null"}, out]}
        return out


def _describe(error: ValidationError) -> str:
    """Field and problem of a validation error, digging into anyOf/oneOf for the real one."""
    deepest = best_match([error])
    field = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in deepest.absolute_path)
    return f"field {field}: {deepest.message[:300]}"


@pytest.fixture(scope="module")
def spec(request: pytest.FixtureRequest) -> LinodeSpec:
    """The parsed spec; the parse (a second or more for 75k lines) is cached by the file's hash."""
    if not SPEC.exists():
        pytest.skip(f"Linode's OpenAPI spec is not at {SPEC} (it comes with the shared files beside the repo)")
    raw = SPEC.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    if hasattr(request.config, "cache"):
        cache_dir = Path(request.config.cache.mkdir("linode-openapi"))
    else:  # pytest's cache provider is off
        cache_dir = hosts.DEFAULT_CACHE_DIR / "linode-openapi"
        cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"{digest}.json"
    try:
        document = json.loads(cache.read_text())
    except (OSError, ValueError):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(raw, Loader=loader)  # noqa: S506 - a safe loader
        cache.write_text(json.dumps(document, default=str))
    return LinodeSpec(document)


def test_the_spec_parses_into_what_the_checks_need(spec: LinodeSpec) -> None:
    assert spec.document["info"]["version"].startswith("4.")
    assert spec.template("/v4/linode/instances/123/configs/456") == CONFIG
    assert spec.template("/v4/linode/kernels/linode/grub2") == f"{API}/linode/kernels/{{kernelId}}"
    assert spec.template("/v4/images/linode/debian12") == f"{API}/images/{{imageId}}"
    assert spec.template("/v4/linode/instances/123/boot") == f"{INSTANCE}/boot"
    broken = {"id": "one", "label": "web1", "status": "sleeping", "ipv6": "10.0.0.1/128", "surprise": True}
    problems = spec.problems("GET", "/v4/linode/instances/1", 200, broken)
    assert any("surprise" in p for p in problems), problems
    assert any("$.id" in p for p in problems), problems
    assert any("$.status" in p and "sleeping" in p for p in problems), problems
    assert any("$.ipv6" in p for p in problems), problems
    assert spec.problems("GET", "/v4/linode/instances/1", 404, {"errors": [{"reason": "Not found"}]}) == []
    assert spec.problems("GET", "/v4/linode/instances/1", 404, {"errors": [{"why": "?"}]})


# --- driving the emulator ---------------------------------------------------------------------------


class Raw:
    """Plain HTTP to the emulator, for the answers linode_api4 never asks for (errors, pages, filters)."""

    def __init__(self, info: linode.LinodeInfo) -> None:
        self.base = info.base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {info.token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = self.session.request(method, self.base + path, timeout=30, **kwargs)
        return response.status_code, response.json()

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def raw(linode_sandbox: linode.LinodeInfo) -> Iterator[Raw]:
    session = Raw(linode_sandbox)
    yield session
    session.close()


def wait_status(client: LinodeClient, linode_id: int, status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (now := client.load(Instance, linode_id).status) != status:
        if time.monotonic() > deadline:
            pytest.fail(f"Linode {linode_id} still {now}, not {status}, after {timeout:.0f}s")
        time.sleep(0.1)


def drive_every_operation(info: linode.LinodeInfo, raw: Raw) -> None:
    """Each operation the module uses, with its success and its typical errors, plus the catalogues."""
    client = LinodeClient(info.token, base_url=info.base_url, retry=False)
    anonymous = requests.Session()
    try:
        assert {r.id for r in client.regions()} >= {"us-east", "us-southeast", "eu-central", "ap-northeast"}
        assert "g6-nanode-1" in {t.id for t in client.linode.types()}
        assert {"linode/grub2", "linode/direct-disk", "linode/latest-64bit"} <= {k.id for k in client.linode.kernels()}
        assert "linode/debian12" in {i.id for i in client.images()}
        for path in ("/regions/us-east", "/linode/types/g6-nanode-1", "/linode/kernels/linode/grub2"):
            assert raw("GET", path)[0] == 200
        assert anonymous.get(f"{info.base_url}/images/linode/debian12", timeout=30).status_code == 200
        assert anonymous.get(f"{info.base_url}/linode/instances", timeout=30).status_code == 401
        assert raw("GET", "/linode/instances", headers={"Authorization": "Bearer nope"})[0] == 401

        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2aWxsIG5ldmVyIGxvZyBpbiB3aXRoIHRoaXM= spec"
        label = f"spec-{uuid.uuid4().hex[:6]}"
        created = client.linode.instance_create(
            "g6-nanode-1", "us-east", image="linode/debian12", label=label, root_pass=uuid.uuid4().hex + "X!",
            authorized_keys=[key], tags=["spec-test"],
        )  # fmt: skip
        for bad in ({"region": "mars"}, {"type": "g9-huge"}, {"image": "linode/nope", "label": label}):
            body = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": "x", **bad}
            assert raw("POST", "/linode/instances", json=body)[0] == 400
        assert raw("POST", f"/linode/instances/{created.id}/shutdown")[0] == 400  # busy provisioning
        wait_status(client, created.id, "running")

        assert [i.id for i in client.linode.instances(Instance.label == label)] == [created.id]
        assert created.id in [i.id for i in client.linode.instances(Instance.tags == "spec-test")]
        assert raw("GET", "/linode/instances?page=1&page_size=25")[0] == 200
        assert raw("GET", "/linode/instances?page_size=5")[0] == 400
        assert raw("GET", "/linode/instances", headers={"X-Filter": '{"root_pass": "x"}'})[0] == 400

        instance = client.load(Instance, created.id)
        assert instance.ips.ipv4.public[0].address == instance.ipv4[0]
        config = instance.configs[0]
        assert raw("GET", f"/linode/instances/{created.id}/configs/{config.id}")[0] == 200
        assert (
            raw("PUT", f"/linode/instances/{created.id}/configs/{config.id}", json={"kernel": "linode/nope"})[0] == 400
        )
        config.kernel = "linode/grub2"
        config.save()
        disks = instance.disks
        assert raw("GET", f"/linode/instances/{created.id}/disks/{disks[0].id}")[0] == 200
        instance.tags = ["spec-test", "more-tags"]
        instance.save()

        instance.shutdown()
        wait_status(client, created.id, "offline")
        instance.boot()
        assert raw("POST", f"/linode/instances/{created.id}/boot")[0] == 400  # busy booting
        wait_status(client, created.id, "running")
        instance.reboot()
        wait_status(client, created.id, "running")
        assert raw("POST", f"/linode/instances/{created.id}/rebuild", json={"image": "linode/debian12"})[0] == 400
        instance.rebuild("linode/debian12", root_pass=uuid.uuid4().hex + "X!", authorized_keys=[key])
        wait_status(client, created.id, "running")

        events = client.account.events()
        assert {"linode_create", "linode_boot", "linode_shutdown", "linode_reboot", "linode_rebuild"} <= {
            e.action for e in events if e.entity and e.entity.id == created.id
        }
        assert raw("GET", f"/account/events/{events[0].id}")[0] == 200
        assert raw("GET", "/account/events", headers={"X-Filter": json.dumps({"entity.id": created.id})})[0] == 200

        instance.delete()
        with pytest.raises(ApiError) as gone:
            client.load(Instance, created.id)
        assert gone.value.status == 404
        assert raw("DELETE", f"/linode/instances/{created.id}")[0] == 404
        assert raw("GET", "/linode/nothing-here")[0] == 404
        assert raw("PATCH", "/linode/instances")[0] == 405
    finally:
        client.session.close()
        anonymous.close()


def test_every_answer_of_the_emulator_matches_linodes_openapi_spec(
    spec: LinodeSpec, linode_sandbox: linode.LinodeInfo, linode_record: Path, raw: Raw
) -> None:
    drive_every_operation(linode_sandbox, raw)

    answers = [json.loads(line) for line in linode_record.read_text().splitlines()]
    problems, seen = [], set()
    for answer in answers:
        method, path, status, body = answer["method"], answer["path"], answer["status"], answer["body"]
        seen.add((method, spec.template(path), str(status)))
        problems += spec.problems(method, path, status, body)
    assert not problems, f"{len(problems)} answer(s) of {len(answers)} break the spec:\n" + "\n".join(problems[:40])
    missing = sorted(REQUIRED - seen)
    assert not missing, f"operations never exercised: {missing}"
