"""The bot's commands, for any chat network: ``jarvis: deploy|redeploy|destroy|status|plan|cancel|approve|help``.

The core knows nothing of IRC or XMPP: it gets a :class:`Message` and answers through the
backend it came from. Deployments run in worker processes; the core subscribes the place where
one was asked for, and the announcer tells that place about every stage.

Each command needs a role (:data:`COMMAND_ROLES`, :mod:`bot.access`), and a change to a production
host needs a second person: :meth:`CommandCore._launch` records an approval request instead of
starting it, and ``approve <request-id>`` by someone else with the destroy role starts it.

Whatever blocks (the status store, shared with the threads of running deployments; LDAP; reading a
design; starting a worker) runs in a worker thread, so a reply never waits behind another's store work
and the announcer's lines never stall.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from bot.access import AccessControl, asked_by, is_requester, may_be_same_person
from bot.backends.base import Backend, Identity, Message, Place
from bot.sources import DesignSources
from orchestrator import (
    Design,
    HostStatus,
    JarvisError,
    Orchestrator,
    RunOptions,
    StoredDesign,
    drift_lines,
    queued_text,
    read_source,
)

log = logging.getLogger("jarvis.bot")

HELP = [
    "deploy <https://url | cn=host | file> [adopt] - deploy the design's hosts, the whole way "
    "(adopt: take over an instance, DNS name or CMDB entry jarvis did not make for them; admins only)",
    "redeploy <host> [from-source] - tear down and rebuild that host alone, from the design it last ran "
    "(from-source: as its source says now)",
    "redeploy cluster <deployment-id | source> - the same for every host of that deployment",
    "destroy <host> confirm - tear that host alone down for good: instance, DNS records, CMDB entry, gitosis key",
    "destroy cluster <deployment-id | source> confirm - the same for every host of that deployment",
    "status [host] - a host's stage and state; without a host, every deployment running",
    "plan <source> [adopt] - what a deployment would change, changing nothing",
    "cancel <host> - stop that host alone: its deployment at the next task or, sharing a run, it at its next stage "
    "(your own; anyone's for an admin)",
    "cancel cluster <deployment-id> - stop every host of a running deployment",
    "resume <host> - continue a host's failed deployment from the stage that failed",
    "approve <request-id> - let a change to a production host go ahead (a second person with the destroy role)",
    "help - this",
]
ROLES_HELP = (
    "roles, each with all the ones before it: status (status, help) < plan (plan) < deploy (deploy, resume, "
    "cancel your own) < destroy (redeploy, destroy, approve) < admin (adopt, cancel anyone's)"
)
APPROVAL_HELP = (
    "a production host (jarvisProduction: TRUE): deploy, redeploy, destroy and resume do not start; a second "
    "person with the destroy role must say 'approve <request-id>' within {minutes}"
)
COMMANDS = ("deploy", "redeploy", "destroy", "status", "plan", "cancel", "resume", "approve", "help")
# The role (bot.access.ROLES) each command needs; the adopt word and canceling someone else's deployment: admin.
COMMAND_ROLES = {
    "help": "status",
    "status": "status",
    "plan": "plan",
    "deploy": "deploy",
    "resume": "deploy",
    "cancel": "deploy",
    "redeploy": "destroy",
    "destroy": "destroy",
    "approve": "destroy",
}
DOING = {  # what a command does, for "sorry alice, destroying thor needs the destroy role"
    "help": "asking for help",
    "status": "asking for status",
    "plan": "planning",
    "deploy": "deploying",
    "resume": "resuming",
    "cancel": "canceling",
    "redeploy": "redeploying",
    "destroy": "destroying",
    "approve": "approving",
}
SHORT_HELP = "I know: " + ", ".join(COMMANDS) + " (say 'help' for more)"
CONFIRM = ("confirm", "--force")


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
    if host.state == "interrupted":
        stage = host.stage or "pending"
        return f"{host.hostname}: interrupted at stage {stage}: {host.reason} ('resume {host.hostname}')"
    if host.state == "destroyed":
        ended = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(host.ended_at or 0))
        return f"{host.hostname}: destroyed at {ended} (deployment {host.deployment_id})"
    if host.queued:
        return f"{host.hostname}: {queued_text(host.queued)} (deployment {host.deployment_id})"
    return f"{host.hostname}: {host.state} at stage {host.stage} ({elapsed})"


def _verb(kind: str, check: bool = False) -> str:
    if check:
        return "planning"
    return {"redeploy": "redeploying", "destroy": "destroying", "resume": "resuming"}.get(kind, "deploying")


def _duration(minutes: float) -> str:
    if minutes >= 1 and minutes == int(minutes):
        return f"{int(minutes)} minute{'s' if minutes != 1 else ''}"
    return f"{round(minutes * 60)} seconds"


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def _in_worker_thread(blocking: Callable[_Params, _Result]) -> Callable[_Params, Coroutine[Any, Any, _Result]]:
    """BLOCKING made awaitable: it runs in a worker thread, off the event loop every chat reply shares."""

    @functools.wraps(blocking)
    async def off_the_loop(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        return await asyncio.to_thread(blocking, *args, **kwargs)

    return off_the_loop


def _design_from(record: dict[str, Any]) -> Design:
    """A Design again from an approval request's copy of it (dataclasses.asdict)."""
    names = {item.name for item in dataclasses.fields(Design) if item.init}
    return Design(**{key: value for key, value in record.items() if key in names})


class CommandCore:
    def __init__(
        self,
        orchestrator: Orchestrator,
        sources: DesignSources,
        access: AccessControl,
        *,
        approval_minutes: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.orchestrator = orchestrator
        self.sources = sources
        self.access = access
        self.approval_minutes = approval_minutes
        self.clock = clock

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
        role, doing = await self._needs(command, message.sender)
        if not self.access.allows(message.sender, role):
            log.info("refused %s %s to %s", command.name, " ".join(command.args), message.sender.id or who)
            return [f"sorry {who}, {doing} needs the {role} role"]
        try:
            handler: Callable[[Message, list[str]], Awaitable[list[str]]] = getattr(self, f"_{command.name}")
            return await handler(message, command.args)
        except JarvisError as exc:
            return [f"{who}: {exc}"]
        except Exception:  # noqa: BLE001 - a person is waiting for an answer; details go to the log only
            log.exception("%s failed", command.name)
            return [f"{who}: sorry, {command.name} failed unexpectedly (the bot's log has the details)"]

    async def _needs(self, command: Command, sender: Identity) -> tuple[str, str]:
        """The role COMMAND needs from SENDER, and what it would do, as a refusal says it."""
        role = COMMAND_ROLES[command.name]
        words = [arg for arg in command.args if arg.lower() not in ("confirm", "--force", "adopt")]
        doing = " ".join([DOING[command.name], *words])
        if command.name in ("deploy", "plan") and any(arg.lower() == "adopt" for arg in command.args):
            return "admin", f"{doing} with adopt (taking over what exists)"
        if command.name == "cancel":
            askers = await self._cancel_requesters(command.args)
            others = [asker for asker in askers if not is_requester(sender, asker)]
            if others:
                return "admin", f"{doing}, which {others[0].split(' (', 1)[0]} asked for,"
        return role, doing

    @_in_worker_thread
    def _cancel_requesters(self, args: list[str]) -> list[str]:
        """Who asked for the running deployments that ``cancel ARGS`` would stop (a host's; a cluster's)."""
        if not args:
            return []
        if args[0].lower() == "cluster" and len(args) > 1:
            return self.orchestrator.requesters(args[1])
        host = self.orchestrator.running(args[0].lower())
        return [host.requested_by] if host else []

    async def _help(self, message: Message, args: list[str]) -> list[str]:
        return [*HELP, ROLES_HELP, APPROVAL_HELP.format(minutes=_duration(self.approval_minutes))]

    @_in_worker_thread
    def _status(self, message: Message, args: list[str]) -> list[str]:
        if args:
            host = self.orchestrator.host_status(args[0].lower())
            return [describe(host) if host else f"{args[0]}: no deployment recorded"]
        running = self.orchestrator.active_hosts()
        return [describe(host) for host in running] or ["nothing is being deployed"]

    async def _deploy(self, message: Message, args: list[str], check: bool = False) -> list[str]:
        adopt = len(args) == 2 and args[1].lower() == "adopt"
        if len(args) != 1 and not adopt:
            word = "plan" if check else "deploy"
            return [f"{message.sender.nick}: say {word} <https://url | cn=host | file> (and 'adopt' to take over)"]
        design = await asyncio.to_thread(self.sources.load, args[0])
        return await self._launch(message, design, check, adopt=adopt)

    async def _plan(self, message: Message, args: list[str]) -> list[str]:
        return await self._deploy(message, args, check=True)

    async def _redeploy(self, message: Message, args: list[str]) -> list[str]:
        """``redeploy X``: X alone, as the deployment that last built it ran it; the cluster form is explicit."""
        words = [arg.lower() for arg in args[1:]]
        if args and args[0].lower() == "cluster" and words and words[0] not in (*CONFIRM, "from-source"):
            return await self._redeploy_cluster(message, args[1:])
        if not args or len(args) > 3 or not set(words) <= {*CONFIRM, "from-source"} or len(set(words)) != len(words):
            return [
                f"{message.sender.nick}: say redeploy <host> [from-source], "
                "or redeploy cluster <deployment-id | source>"
            ]
        name = args[0].lower()
        confirm, from_source = bool(set(words) & set(CONFIRM)), "from-source" in words
        found = await asyncio.to_thread(self.orchestrator.pinned, name)
        if found is None:
            return [f"{name}: no deployment recorded to redeploy from; deploy it first"]
        pinned, stored = found
        if from_source:
            design = (await asyncio.to_thread(self.sources.load, stored.source)).only([name])
            return await self._launch(message, design, check=False, kind="redeploy", force=confirm)
        return await self._launch_pinned(message, pinned, stored, "redeploy", confirm)

    async def _redeploy_cluster(self, message: Message, args: list[str]) -> list[str]:
        if len(args) > 2 or (len(args) == 2 and args[1].lower() not in CONFIRM):
            return [f"{message.sender.nick}: say redeploy cluster <deployment-id | source>"]
        ref, confirm = args[0], len(args) == 2
        design, stored = await asyncio.to_thread(self.orchestrator.cluster, ref)
        hosts = ", ".join(design.hostnames)
        lead = [f"{message.sender.nick}: redeploying cluster {_cluster_name(ref, stored)}: {hosts}"]
        return await self._launch_pinned(message, design, stored, "redeploy", confirm, lead)

    async def _destroy(self, message: Message, args: list[str]) -> list[str]:
        """Always asks for 'confirm': nothing of the host is left to redeploy from. X alone, or the cluster form."""
        if len(args) in (2, 3) and args[0].lower() == "cluster" and args[1].lower() not in CONFIRM:
            ref = args[1]
            design, stored = await asyncio.to_thread(self.orchestrator.cluster, ref)
            hosts = ", ".join(design.hostnames)
            if len(args) == 2 or args[2].lower() not in CONFIRM:
                return [f"{message.sender.nick}: say 'destroy cluster {ref} confirm' to destroy {hosts} for good"]
            lead = [f"{message.sender.nick}: destroying cluster {_cluster_name(ref, stored)}: {hosts}"]
            return await self._launch_pinned(message, design, stored, "destroy", True, lead)
        if len(args) != 2 or args[1].lower() not in CONFIRM:
            return [
                f"{message.sender.nick}: say destroy <host> confirm (the host, its DNS records and CMDB entry go), "
                "or destroy cluster <deployment-id | source> confirm"
            ]
        name = args[0].lower()
        found = await asyncio.to_thread(self.orchestrator.pinned, name)
        if found is None:
            return [f"{name}: no deployment recorded, so no design to destroy it from"]
        return await self._launch_pinned(message, *found, "destroy", True)

    async def _launch_pinned(
        self,
        message: Message,
        design: Design,
        stored: StoredDesign,
        kind: str,
        force: bool,
        lead: list[str] | None = None,
    ) -> list[str]:
        """Launch DESIGN, as deployment STORED ran it, and meanwhile read its source again (bounded, in a
        thread): if the source now says otherwise about a host, the answer says so and how to take it."""
        reading = asyncio.ensure_future(asyncio.to_thread(read_source, self.sources.load, design.source))
        try:
            lines = [*(lead or []), *await self._launch(message, design, check=False, kind=kind, force=force)]
        except BaseException:
            reading.cancel()  # the read goes on in its thread, unheeded
            raise
        current = await reading
        return lines + drift_lines(design, stored.deployment_id, current, lambda host: f"'redeploy {host} from-source'")

    async def _resume(self, message: Message, args: list[str]) -> list[str]:
        if len(args) != 1:
            return [f"{message.sender.nick}: say resume <host>"]
        return await self._launch_resume(message, args[0].lower())

    @_in_worker_thread
    def _cancel(self, message: Message, args: list[str]) -> list[str]:
        if len(args) == 2 and args[0].lower() == "cluster":
            return [self.orchestrator.cancel_cluster(args[1])]
        if len(args) != 1:
            return [f"{message.sender.nick}: say cancel <host>, or cancel cluster <deployment-id>"]
        return [self.orchestrator.cancel(args[0].lower())]

    # -- starting deployments: every command that changes hosts goes through here -------------------

    async def _launch(
        self,
        message: Message,
        design: Design,
        check: bool,
        kind: str = "deploy",
        force: bool = False,
        *,
        adopt: bool = False,
    ) -> list[str]:
        """Start a deployment of DESIGN (deploy, plan, redeploy, destroy; a host or a cluster) for MESSAGE's sender.

        If it would change a host whose CMDB entry says production, it does not start: an approval
        request is recorded and the answer says how a second person approves it. FORCE (a handler's
        'confirm') changes nothing there: in chat only an approval forces past the production guard,
        so no deployment started here is forced.
        """
        sender = message.sender
        if not check and not await self._busy(design.hostnames):
            production = await self._production_hosts(design.hosts)
            if production:
                launch = {"design": dataclasses.asdict(design), "kind": kind, "adopt": adopt}
                return await self._ask_approval(message, kind, production, launch)
        deployment_id = await self._start(message, design, RunOptions(kind=kind, check=check, adopt=adopt))
        hosts = ", ".join(design.hostnames)
        return [f"{sender.nick}: {_verb(kind, check)} {hosts} from {design.source} (deployment {deployment_id})"]

    async def _launch_resume(self, message: Message, hostname: str) -> list[str]:
        """Resume HOSTNAME's failed deployment for MESSAGE's sender; for a production host, ask for approval."""
        resumable = await asyncio.to_thread(self.orchestrator.resumable, hostname)
        if resumable and await self._production_hosts([{"hostname": hostname}]):
            return await self._ask_approval(message, "resume", [hostname], {"hostname": hostname, "kind": "resume"})
        deployment_id = await self._start_resume(message, hostname)
        return [f"{message.sender.nick}: resuming {hostname} (deployment {deployment_id})"]

    @_in_worker_thread
    def _start(self, message: Message, design: Design, options: RunOptions) -> str:
        """Start DESIGN as OPTIONS ask for MESSAGE's sender, and have MESSAGE's place hear it; its deployment id."""
        deployment_id = self.orchestrator.launch(design, asked_by(message.sender), options)
        self._subscribe(deployment_id, message.place, message.sender)
        return deployment_id

    @_in_worker_thread
    def _start_resume(self, message: Message, hostname: str) -> str:
        """Resume HOSTNAME for MESSAGE's sender, and have MESSAGE's place hear it; the new deployment id."""
        deployment_id = self.orchestrator.resume(hostname, asked_by(message.sender))
        self._subscribe(deployment_id, message.place, message.sender)
        return deployment_id

    @_in_worker_thread
    def _busy(self, hostnames: list[str]) -> bool:
        """Whether another run holds one of HOSTNAMES: then launching fails at once (HostBusy, naming the
        holder), with no approval to ask. A holder that is gone is noticed, and its lock released, first."""
        return self.orchestrator.busy(hostnames)

    @_in_worker_thread
    def _production_hosts(self, hosts: list[dict[str, Any]]) -> list[str]:
        """The HOSTS whose CMDB entry says production (it reads LDAP)."""
        return self.orchestrator.production_hosts(hosts)

    def _subscribe(self, deployment_id: str, place: Place, asker: Identity) -> None:
        """Have PLACE hear the deployment; a private place only as long as ASKER is the one there (it writes
        the store: call it from a worker thread)."""
        identity = asker.id if place.private else ""
        self.orchestrator.chat_records.subscribe(deployment_id, place.protocol, place.target, place.private, identity)

    # -- the two-person rule for production hosts -------------------------------------------------

    @_in_worker_thread
    def _ask_approval(self, message: Message, kind: str, production: list[str], launch: dict[str, Any]) -> list[str]:
        sender, place = message.sender, message.place
        request_id = self.orchestrator.chat_records.create_approval(
            kind=kind,
            hosts=production,
            launch=launch,
            requested_by=asked_by(sender),
            requester={
                **dataclasses.asdict(sender),
                "place": {"protocol": place.protocol, "target": place.target, "private": place.private},
            },
            minutes=self.approval_minutes,
            now=self.clock(),
        )
        log.info("%s of %s by %s waits for approval %s", kind, ", ".join(production), sender.id, request_id)
        names, verb = ", ".join(production), "is" if len(production) == 1 else "are"
        return [
            f"{names} {verb} in production: a second person with the destroy role must say "
            f"'approve {request_id}' within {_duration(self.approval_minutes)}"
        ]

    @_in_worker_thread
    def _approve(self, message: Message, args: list[str]) -> list[str]:
        """``approve <request-id>``: someone other than the asker starts a production host's change, forced."""
        sender, who = message.sender, message.sender.nick
        if len(args) != 1:
            return [f"{who}: say approve <request-id> (the request's answer names it, like r-1a2b3c)"]
        store, request_id, now = self.orchestrator.chat_records, args[0].lower(), self.clock()
        request = store.approval(request_id)
        if request is None:
            return [f"{who}: there is no approval request {request_id}"]
        asker = request["requester"]
        doing = f"{_verb(request['kind'])} {', '.join(request['hosts'])} for {asker['nick']}"
        if request["state"] == "pending" and now >= request["expires_at"]:
            store.expire_approval(request_id)
            request["state"] = "expired"
        if request["state"] != "pending":
            return [f"sorry {who}, {request_id} ({doing}) {self._closed(request)}"]
        requester = Identity(asker["protocol"], asker["id"], asker["nick"], asker.get("account"))
        if may_be_same_person(sender, requester):
            return [
                f"sorry {who}, {request_id} ({doing}) is your own request: a second person with the destroy role "
                "must approve it"
            ]
        approval = f"{request_id} approved by {asked_by(sender)} at {_utc(now)}"
        claimed = store.claim_approval(request_id, asked_by(sender), now)
        if claimed != "approved":
            return [f"sorry {who}, {request_id} ({doing}) {self._closed(store.approval(request_id) or request)}"]
        launch = request["launch"]
        try:
            if launch["kind"] == "resume":
                deployment_id = self.orchestrator.resume(
                    launch["hostname"], request["requested_by"], force=True, approval=approval
                )
            else:
                deployment_id = self.orchestrator.launch(
                    _design_from(launch["design"]),
                    request["requested_by"],
                    RunOptions(kind=launch["kind"], force=True, adopt=bool(launch.get("adopt")), approval=approval),
                )
        except JarvisError as exc:
            store.finish_approval(request_id, None, str(exc))
            return [f"{who}: approved {request_id} ({doing}), but it could not start: {exc}"]
        store.finish_approval(request_id, deployment_id)
        log.info("%s approved by %s: deployment %s", request_id, sender.id, deployment_id)
        asked_at = asker["place"]
        self._subscribe(deployment_id, Place(asked_at["protocol"], asked_at["target"], asked_at["private"]), requester)
        self._subscribe(deployment_id, message.place, sender)
        return [f"{who}: approved {request_id}: {doing} (deployment {deployment_id})"]

    def _closed(self, request: dict[str, Any]) -> str:
        """Why REQUEST can no longer be approved, for the end of a refusal."""
        if request["state"] == "expired":
            return f"has expired (it was open until {_utc(request['expires_at'])}): ask again"
        if request["state"] == "failed":
            return f"was approved by {request['approved_by']} but could not start: {request['reason']}"
        return f"was approved already by {request['approved_by']} (deployment {request['deployment_id']})"


def _cluster_name(ref: str, stored: StoredDesign) -> str:
    """How a cluster form names what it acts on: the deployment id, or the source and its deployment."""
    return ref if ref == stored.deployment_id else f"{ref} (as deployment {stored.deployment_id} had it)"
