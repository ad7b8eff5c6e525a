"""Pinned designs: a deployment keeps the design it ran, and a redeploy or destroy acts on that.

As Atlantis applies the plan it stored and never a fresh read of the source, ``redeploy X`` and
``destroy X`` take X's canonical host from the deployment that last built X, whatever the source
(a gist anyone with access can edit) says by now. The source is read again only to tell the person
what changed there; ``redeploy X from-source`` takes the new host on purpose. The cluster forms
(``destroy cluster <deployment | source>``) act on the stored hosts of one deployment.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from orchestrator.design import Design, _load, text_digest
from orchestrator.errors import DeploymentError, JarvisError
from orchestrator.store import DeploymentStore, StoredDesign

__all__ = [
    "DEPLOYMENT_ID",
    "SOURCE_CHECK_TIMEOUT",
    "cluster_design",
    "drift_lines",
    "host_design",
    "host_diff",
    "pinned_design",
    "read_source",
]

DEPLOYMENT_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
SOURCE_CHECK_TIMEOUT = 10.0  # seconds the comparison with the source may take; the run does not wait for it
MAX_DIFF_LINES = 6  # per host: chat is rate-limited, and a few lines say enough
MAX_VALUE = 60


def pinned_design(stored: StoredDesign, hostnames: Collection[str] | None = None) -> Design:
    """The design STORED ran, acting on HOSTNAMES (default: every host that deployment acted on).

    The canonical hosts are the stored ones, not the text parsed anew: what ran is what gets torn down.
    """
    if stored.text is not None and stored.digest and text_digest(stored.text) != stored.digest:
        raise DeploymentError(
            f"the design stored with deployment {stored.deployment_id} does not match its sha256 {stored.digest[:12]}"
        )
    document = _load(stored.text) if stored.text else {}
    design = Design(
        source=stored.source,
        document=document if isinstance(document, dict) else {},
        hosts=stored.hosts,
        text=stored.text or "",
        digest=stored.digest or "",
        resolved_source=stored.resolved_source or stored.source,
        partial=stored.options.get("scope") == "host" or "resume_of" in stored.options,
    )
    return design if hostnames is None else design.only(hostnames)


def host_design(store: DeploymentStore, hostname: str) -> tuple[Design, StoredDesign]:
    """HOSTNAME alone, as the deployment that last built it ran it (not a plan, not a destroy)."""
    stored = store.last_build(hostname)
    if stored is None:
        raise DeploymentError(f"{hostname}: no deployment of it is recorded, so no design to act on; deploy it first")
    return pinned_design(stored, [hostname]), stored


def cluster_design(store: DeploymentStore, ref: str) -> tuple[Design, StoredDesign]:
    """Every host of deployment REF, or of the last deployment of the whole design from source REF."""
    if DEPLOYMENT_ID.match(ref):
        stored = store.stored_design(ref)
        if stored is None:
            raise DeploymentError(f"no deployment {ref} is recorded")
        if stored.kind == "plan":
            raise DeploymentError(f"deployment {ref} was a plan: it built nothing to act on")
    else:
        stored = store.last_build_of_source(_source_names(ref))
        if stored is None:
            raise DeploymentError(f"no deployment of the whole design {ref} is recorded (name a deployment id)")
    return pinned_design(stored), stored


def _source_names(ref: str) -> list[str]:
    """How a source may have been recorded: as typed, and a path also resolved (chat records it so)."""
    names = [ref]
    if ref.lower().startswith("cn="):
        names.append(ref.lower())
    elif not re.match(r"^[a-z][a-z0-9+.-]*://", ref, re.IGNORECASE):
        names.append(str(Path(ref).expanduser().resolve()))
    return list(dict.fromkeys(names))


def read_source(load: Callable[[str], Design], source: str, timeout: float = SOURCE_CHECK_TIMEOUT) -> Design | str:
    """The design SOURCE holds now, or why it could not be had within TIMEOUT seconds.

    Blocking (a chat caller runs it in a thread); best effort: a load still going at the deadline
    ends on its own, unheeded (a URL fetch has its own deadline besides).
    """
    answer: list[Design | str] = []

    def read() -> None:
        try:
            answer.append(load(source))
        except JarvisError as exc:
            answer.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - only a comparison: say what kind of failure, go on
            answer.append(f"{type(exc).__name__} while reading it")

    thread = threading.Thread(target=read, name=f"read {source}", daemon=True)
    thread.start()
    thread.join(timeout)
    return answer[0] if answer else f"no answer within {timeout:g}s"


def host_diff(old: dict[str, Any], new: dict[str, Any], limit: int = MAX_DIFF_LINES) -> list[str]:
    """``- key: old`` / ``+ key: new`` lines for the keys of a canonical host that differ (dotted paths),
    at most LIMIT of them and then a line saying how many more."""
    before, after = _flatten(old), _flatten(new)
    lines: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) == after.get(key):
            continue
        if key in before:
            lines.append(f"- {key}: {before[key]}")
        if key in after:
            lines.append(f"+ {key}: {after[key]}")
    if len(lines) > limit:
        more = len(lines) - limit
        lines = lines[:limit] + [f"(and {more} more line{'s' if more > 1 else ''})"]
    return lines


def drift_lines(
    pinned: Design,
    deployment_id: str,
    current: Design | str,
    from_source: Callable[[str], str],
) -> list[str]:
    """What to tell a person whose redeploy or destroy runs on PINNED (stored with DEPLOYMENT_ID) when
    the source now reads CURRENT (a design, or why it could not be read): nothing if it agrees.

    FROM_SOURCE(host) is how to take the new host (chat: ``redeploy X from-source``; CLI: ``--from-source``).
    """
    source = pinned.source
    if isinstance(current, str):
        return [f"could not read {source} now to compare ({current}); going on with the design of {deployment_id}"]
    now = {host["hostname"]: host for host in current.hosts}
    lines: list[str] = []
    for host in pinned.hosts:
        name = host["hostname"]
        if name not in now:
            lines.append(f"{source} no longer has {name}; going on with {name} as deployment {deployment_id} had it")
            continue
        diff = host_diff(host, now[name])
        if diff:
            digest = f"sha256 {pinned.digest[:12]}" if pinned.digest else "recorded before designs were pinned"
            lines.append(
                f"{source} now says otherwise about {name} than deployment {deployment_id} ({digest}), which this "
                f"run uses; {from_source(name)} takes the new one:"
            )
            lines += [f"  {line}" for line in diff]
    return lines


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A canonical host as ``dotted.key -> short text`` (lists of mappings by index: ``mounts[0].path``)."""
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: "{}"}
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(_flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: _short(value)}


def _short(value: Any) -> str:
    """VALUE on one line, as YAML would mostly show it; long ones cut in the middle."""
    plain = isinstance(value, str) and value and value.isprintable() and value.strip() == value
    text = str(value) if plain else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else f"{text[: MAX_VALUE // 2 - 2]}...{text[-(MAX_VALUE // 2 - 1) :]}"
