"""How deployments read on a terminal: live stage lines, the final summary, status."""

from __future__ import annotations

import time

from orchestrator.events import Transition
from orchestrator.store import HostStatus

MARKS = {
    "running": "->",
    "ok": "ok",
    "changed": "ok",
    "failed": "FAILED",
    "ready": "READY",
    "destroyed": "DESTROYED",
    "canceled": "CANCELED",
    "planned": "PLANNED",
}


def transition_line(transition: Transition, width: int = 8) -> str:
    """One line per stage start and end, e.g. ``02:55:01 loki     -> dns: write DNS A, PTR…``."""
    clock = time.strftime("%H:%M:%S", time.localtime(transition.at))
    mark = MARKS.get(transition.state, transition.state)
    text = f"{clock} {transition.hostname:<{width}} {mark:<8} {transition.stage}"
    if transition.state == "running":
        text += f": {transition.title}"
    elif transition.state == "changed":
        text += f": {transition.detail}" if transition.detail else " (changed)"
    elif transition.detail and transition.state in ("failed", "canceled"):
        text += f": {transition.detail}"
    return text


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def summary(host: HostStatus) -> str:
    """What a person wants at the end: where the host is and what jarvis wrote about it."""
    facts = host.facts
    lines = [f"{host.fqdn}: {host.state.upper()} after {_seconds(host.elapsed)} (deployment {host.deployment_id})"]
    if host.state == "failed":
        lines.append(f"  failed at stage {host.stage}: {host.reason}")
    if facts.get("instance_id"):
        lines.append(f"  instance:   {host.provider} {facts['instance_id']} ({facts.get('instance_state', '?')})")
    if facts.get("ip"):
        lines.append(f"  address:    {facts['ip']}")
    for fingerprint in facts.get("fingerprints", []):
        lines.append(f"  host key:   {fingerprint}")
    for key, values in sorted(facts.items()):
        if key.startswith("dns:"):
            _, record, rtype = key.split(":", 2)
            lines.append(f"  dns:        {record} {rtype} {', '.join(values)}")
    if facts.get("ldap_dn"):
        lines.append(f"  ldap:       {facts['ldap_dn']}")
    return "\n".join(lines)


def plan_report(host: HostStatus) -> str:
    """Per stage, what a check-mode run says it would change."""
    lines = [f"{host.fqdn} ({host.provider}): plan"]
    for stage in host.stages:
        if stage.state == "not_run":
            lines.append(f"  {stage.stage:<16} not evaluated: needs the instance to exist first")
        elif stage.state == "failed":
            lines.append(f"  {stage.stage:<16} would fail: {stage.detail}")
        elif stage.actions:
            lines.append(f"  {stage.stage:<16} would change: {stage.actions[0]}")
            lines += [f"  {'':<16}               {action}" for action in stage.actions[1:]]
        elif stage.state == "changed":
            lines.append(f"  {stage.stage:<16} would change")
        else:
            lines.append(f"  {stage.stage:<16} no change")
    return "\n".join(lines)


def queued_text(place: int) -> str:
    """What a deployment waiting for a run slot is (orchestrator.run_slots), at PLACE in line."""
    return "queued, next for a run slot" if place == 1 else f"queued, number {place} in line for a run slot"


def status_text(host: HostStatus) -> str:
    """``jarvis status loki``: the state, the current or failed stage, and every stage's timing."""
    if host.state == "running":
        head = f"{host.hostname}: running, stage {host.stage}"
    elif host.state == "failed":
        head = f"{host.hostname}: failed at stage {host.stage}: {host.reason}"
    elif host.state == "interrupted":
        head = (
            f"{host.hostname}: interrupted at stage {host.stage or 'pending'}: {host.reason} "
            f"('jarvis resume {host.hostname}')"
        )
    elif host.queued:
        head = f"{host.hostname}: {queued_text(host.queued)}"
    else:
        head = f"{host.hostname}: {host.state}"
    lines = [
        f"{head} (elapsed {_seconds(host.elapsed)})",
        f"  deployment {host.deployment_id} of {host.source}, requested by {host.requested_by}",
    ]
    if host.design_digest:
        lines.append(f"  design sha256 {host.design_digest[:12]}, from {host.design_source}")
    for stage in host.stages:
        timing = _seconds(stage.elapsed) if stage.started_at else ""
        note = f"  {stage.detail}" if stage.detail and stage.state != "failed" else ""
        lines.append(f"  {stage.stage:<16} {stage.state:<16} {timing:<8}{note}".rstrip())
    return "\n".join(lines)
