"""Private to sandbox.linode: the checks Linode makes of a request's body, with its reasons."""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Iterable

from sandbox.linode._answers import Failure, FieldErrors, Json
from sandbox.linode._catalogue import BY_ID

_LABEL = re.compile(r"^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9-_.])+$")  # the spec's pattern for Linode labels
_KEY_TYPES = ("ssh-rsa ", "ssh-ed25519 ", "ssh-dss ", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com ", "sk-ecdsa-")
_MIN_PASSWORD_BITS = 50.0
_RUN_LEVELS = ("default", "single", "binbash")
_VIRT_MODES = ("paravirt", "fullvirt")


def parse_body(method: str, raw: bytes) -> Json:
    """The JSON object a POST or PUT sends (empty for other methods and empty bodies)."""
    if method not in ("POST", "PUT") or not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise Failure.of(400, "Malformed JSON") from None
    if not isinstance(body, dict):
        raise Failure.of(400, "Malformed JSON: expected an object")
    return body


def string_field(body: Json, key: str, errors: FieldErrors, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            errors.append((key, f"{key} is required"))
        return None
    if not isinstance(value, str):
        errors.append((key, "Must be a string"))
        return None
    return value


def string_list(body: Json, key: str, errors: FieldErrors) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append((key, "Must be a list of strings"))
        return []
    return list(value)


def boolean_errors(value: object, key: str) -> FieldErrors:
    return [] if isinstance(value, bool) else [(key, "Must be a boolean")]


def tag_errors(tags: Iterable[str]) -> FieldErrors:
    return [("tags", "Length must be 3-50 characters")] if any(not 3 <= len(tag) <= 50 for tag in tags) else []


def label_errors(label: str, taken: Iterable[str]) -> FieldErrors:
    """What is wrong with LABEL for a Linode, TAKEN being the labels of the others."""
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
    if any(other.lower() == label.lower() for other in taken):
        return [("label", "Label must be unique among your linodes")]
    return []


def deploy_errors(image: str, root_pass: str | None, keys: list[str]) -> FieldErrors:
    """What is wrong with deploying IMAGE with ROOT_PASS and KEYS, as Linode checks it."""
    errors: FieldErrors = []
    if image not in BY_ID["images"]:
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


def config_errors(body: Json) -> FieldErrors:
    """What is wrong with BODY as an update of a config profile."""
    errors: FieldErrors = []
    kernel = string_field(body, "kernel", errors)
    if kernel is not None and kernel not in BY_ID["kernels"]:
        errors.append(("kernel", "Kernel does not exist"))
    label = string_field(body, "label", errors)
    if label is not None and not 1 <= len(label) <= 48:
        errors.append(("label", "Length must be 1-48 characters"))
    comments = body.get("comments")
    if comments is not None and not isinstance(comments, str):
        errors.append(("comments", "Must be a string"))
    for key, choices in (("run_level", _RUN_LEVELS), ("virt_mode", _VIRT_MODES)):
        if key in body and body[key] not in choices:
            errors.append((key, f"Must be one of {', '.join(choices)}"))
    root_device = string_field(body, "root_device", errors)
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
    return errors
