"""The bot's commands, for any chat network: ``jarvis: deploy|redeploy|destroy|status|plan|cancel|help``.

The core knows nothing of IRC or XMPP: it gets a :class:`Message` and answers through the
backend it came from. Deployments run in worker processes; the core subscribes the place where
one was asked for, and the announcer tells that place about every stage.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.access import AccessControl
from bot.backends.base import Backend, Message
from bot.sources import DesignSources
from orchestrator.cmdb import redeploy_facts
from orchestrator.design import Design
from orchestrator.errors import JarvisError
from orchestrator.service import Orchestrator
from orchestrator.store import HostStatus

log = logging.getLogger("jarvis.bot")

HELP = [
    "deploy <https://url | cn=host | file> - deploy the design's hosts, the whole way",
    "redeploy <host> [confirm] - tear down and rebuild a host from its last design",
    "destroy <host> confirm - tear a host down for good: instance, DNS records, CMDB entry, gitosis key",
    "status [host] - a host's stage and state; without a host, every deployment running",
    "plan <source> - what a deployment would change, changing nothing",
    "cancel <host> - stop a host's deployment at the next task",
    "resume <host> - continue a host's failed deployment from the stage that failed",
    "help - this",
]
COMMANDS = ("deploy", "redeploy", "destroy", "status", "plan", "cancel", "resume", "help")
DEPLOYER_COMMANDS = {"deploy", "redeploy", "destroy", "plan", "cancel", "resume"}
SHORT_HELP = "I know: " + ", ".join(COMMANDS) + " (say 'help' for more)"


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]


def addressed_command(text: str, nick: str, private: bool) -> Command | None:
    """The command in TEXT if it is for the bot: ``nick: …`` or ``nick, …`` in a room, anything in private."""
    text = text.strip()
    match = re.match(rf"^{re.escape(nick)}\s*[:,]\s*(.*)$", text, re.IGNORECASE | re.DOTALL)
    if match:
        text = match[1]
    elif not private:
        return None
    words = text.split()
    if not words:
        return Command("help", [])
    return Command(words[0].lower(), words[1:])


def describe(host: HostStatus) -> str:
    """One line of status, as chat wants it."""
    elapsed = f"{host.elapsed:.1f}s" if host.elapsed is not None else "-"
    if host.state == "running":
        return f"{host.hostname}: running, stage {host.stage} ({elapsed} so far; deployment {host.deployment_id})"
    if host.state == "failed":
        return f"{host.hostname}: failed at stage {host.stage}: {host.reason} (after {elapsed})"
    if host.state == "ready":
        fingerprints = ", ".join(host.facts.get("fingerprints", [])) or "no host keys"
        ended = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(host.ended_at or 0))
        return f"{host.hostname}: ready at {host.facts.get('ip', '?')} since {ended} ({fingerprints}; took {elapsed})"
    if host.state == "destroyed":
        ended = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(host.ended_at or 0))
        return f"{host.hostname}: destroyed at {ended} (deployment {host.deployment_id})"
    return f"{host.hostname}: {host.state} at stage {host.stage} ({elapsed})"


class CommandCore:
    def __init__(self, orchestrator: Orchestrator, sources: DesignSources, access: AccessControl) -> None:
        self.orchestrator = orchestrator
        self.sources = sources
        self.access = access

    async def handle(self, backend: Backend, message: Message) -> None:
        command = addressed_command(message.text, backend.nick, message.place.private)
        if command is None:
            return
        for line in await self.answer(backend, message, command):
            await backend.send(message.place, line)

    async def answer(self, backend: Backend, message: Message, command: Command) -> list[str]:
        who = message.sender.nick
        if command.name not in COMMANDS:
            return [f"{who}: unknown command {command.name!r}. {SHORT_HELP}"]
        role = "deploy" if command.name in DEPLOYER_COMMANDS else "status"
        if not self.access.allows(message.sender, role):
            verb = "deploy, plan or cancel" if role == "deploy" else "ask me anything"
            log.info("refused %s %s to %s", command.name, " ".join(command.args), message.sender.id or who)
            return [f"sorry {who}, you may not {verb} here"]
        try:
            handler: Callable[[Message, list[str]], Awaitable[list[str]]] = getattr(self, f"_{command.name}")
            return await handler(message, command.args)
        except JarvisError as exc:
            return [f"{who}: {exc}"]
        except Exception:  # noqa: BLE001 - a person is waiting for an answer; details go to the log only
            log.exception("%s failed", command.name)
            return [f"{who}: sorry, {command.name} failed unexpectedly (the bot's log has the details)"]

    async def _help(self, message: Message, args: list[str]) -> list[str]:
        return HELP

    async def _status(self, message: Message, args: list[str]) -> list[str]:
        store = self.orchestrator.store
        if args:
            host = store.host_status(args[0].lower())
            return [describe(host) if host else f"{args[0]}: no deployment recorded"]
        running = store.active_hosts()
        return [describe(host) for host in running] or ["nothing is being deployed"]

    async def _deploy(self, message: Message, args: list[str], check: bool = False) -> list[str]:
        if len(args) != 1:
            return [f"{message.sender.nick}: say {'plan' if check else 'deploy'} <https://url | cn=host | file>"]
        design = await asyncio.to_thread(self.sources.load, args[0])
        return self._launch(message, design, check)

    async def _plan(self, message: Message, args: list[str]) -> list[str]:
        return await self._deploy(message, args, check=True)

    async def _redeploy(self, message: Message, args: list[str]) -> list[str]:
        if not args or len(args) > 2 or (len(args) == 2 and args[1].lower() not in ("confirm", "--force")):
            return [f"{message.sender.nick}: say redeploy <host> (and 'confirm' for a production host)"]
        name = args[0].lower()
        last = self.orchestrator.store.host_status(name)
        if last is None:
            return [f"{name}: no deployment recorded to redeploy from; deploy it first"]
        host = {"hostname": name, "standby": None}
        facts = await asyncio.to_thread(redeploy_facts, self.orchestrator.config, host)
        if facts["jarvis_production"] and len(args) == 1:
            return [f"{name} is in production: say 'redeploy {name} confirm' to tear it down"]
        design = await asyncio.to_thread(self.sources.load, last.source)
        return self._launch(message, design, check=False, kind="redeploy", force=len(args) == 2)

    async def _destroy(self, message: Message, args: list[str]) -> list[str]:
        """Always asks for 'confirm': nothing of the host is left to redeploy from."""
        if len(args) != 2 or args[1].lower() not in ("confirm", "--force"):
            return [f"{message.sender.nick}: say destroy <host> confirm (the host, its DNS records and CMDB entry go)"]
        name = args[0].lower()
        last = self.orchestrator.store.host_status(name)
        if last is None:
            return [f"{name}: no deployment recorded, so no design to destroy it from"]
        design = await asyncio.to_thread(self.sources.load, last.source)
        return self._launch(message, design, check=False, kind="destroy", force=True)

    async def _resume(self, message: Message, args: list[str]) -> list[str]:
        if len(args) != 1:
            return [f"{message.sender.nick}: say resume <host>"]
        sender = message.sender
        requested_by = f"{sender.nick} ({sender.protocol} {sender.id or 'unverified'})"
        deployment_id = self.orchestrator.resume(args[0].lower(), requested_by)
        place = message.place
        self.orchestrator.store.subscribe(deployment_id, place.protocol, place.target, place.private)
        return [f"{sender.nick}: resuming {args[0].lower()} (deployment {deployment_id})"]

    async def _cancel(self, message: Message, args: list[str]) -> list[str]:
        if len(args) != 1:
            return [f"{message.sender.nick}: say cancel <host>"]
        return [self.orchestrator.cancel(args[0].lower())]

    def _launch(
        self, message: Message, design: Design, check: bool, kind: str = "deploy", force: bool = False
    ) -> list[str]:
        sender = message.sender
        requested_by = f"{sender.nick} ({sender.protocol} {sender.id or 'unverified'})"
        deployment_id = self.orchestrator.launch(design, requested_by, check=check, kind=kind, force=force)
        place = message.place
        self.orchestrator.store.subscribe(deployment_id, place.protocol, place.target, place.private)
        hosts = ", ".join(design.hostnames)
        what = "planning" if check else {"redeploy": "redeploying", "destroy": "destroying"}.get(kind, "deploying")
        return [f"{sender.nick}: {what} {hosts} from {design.source} (deployment {deployment_id})"]
