"""A chat world for unit tests: CommandCore over a real status store, with no server and no worker process.

The Orchestrator is the real one, with a real SQLite store under tmp_path, but
``orchestrator.worker.launch`` only records the deployment ids it is given, and the CMDB's
production flag comes from a set the test fills. Deployments stay pending: what a command did is
read from the store (kind, options, cancel flag, subscriptions).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.access import AccessControl, asked_by
from bot.backends.base import Identity, Message, Place
from bot.core import CommandCore, addressed_command
from bot.sources import DesignSources, UrlPolicy
from orchestrator.config import Config
from orchestrator.design import DesignPolicy
from orchestrator.service import Orchestrator

DESIGN = """\
instances:
  - hostname: {name}
    fqdn: {name}.example.com
    provider: ec2
    image: ami-0123456789abcdef0
    region: us-east-1
    size: t3.micro
"""


def person(nick: str, userhost: str | None = None) -> Identity:
    return Identity("test", f"{nick}!{userhost or nick + '@' + nick + '.example.com'}", nick)


class ChatWorld:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, access: dict[str, list[str]]) -> None:
        self.launched: list[str] = []
        self.production: set[str] = set()
        self.now = 1_800_000_000.0
        self.notes: dict[str, str] = {}  # what a test's setup made (a deployment id, a request id)
        monkeypatch.setattr("orchestrator.worker.launch", self._launch)
        monkeypatch.setattr("orchestrator.service.redeploy_facts", self._facts)
        self.designs = tmp_path / "designs"
        self.designs.mkdir()
        self.orchestrator = Orchestrator(Config(home=tmp_path / "home"))
        self.store = self.orchestrator.store
        sources = DesignSources(UrlPolicy(), [self.designs], None, DesignPolicy())
        self.core = CommandCore(self.orchestrator, sources, AccessControl.from_config(access), clock=lambda: self.now)

    def _facts(self, config: Config, host: dict[str, Any]) -> dict[str, Any]:
        return {"jarvis_production": host["hostname"] in self.production, "jarvis_standby": ""}

    def design(self, name: str) -> str:
        path = self.designs / f"{name}.yml"
        path.write_text(DESIGN.format(name=name))
        return str(path)

    def say(self, who: Identity, text: str, place: Place | None = None) -> list[str]:
        place = place or Place("test", "#ops", False)
        command = addressed_command(text, "jarvis", private=True)
        assert command is not None
        return asyncio.run(self.core.answer(None, Message(place, who, text), command))  # type: ignore[arg-type]

    def deployed(self, name: str, by: Identity, state: str = "ready") -> str:
        """A deployment of NAME asked for by BY, ended in STATE (ready, failed) or still running ("running")."""
        design = self.core.sources.load(self.design(name))
        deployment_id = self.orchestrator.launch(design, asked_by(by))
        self.launched.remove(deployment_id)
        if state == "running":
            self.store.set_deployment_state(deployment_id, "running")
            self.store.start_stage(deployment_id, name, "instance")
        elif state == "failed":
            self.store.start_stage(deployment_id, name, "dns")
            self.store.end_stage(deployment_id, name, "dns", "failed", "REFUSED")
            self.store.set_deployment_state(deployment_id, "failed")
        else:
            self.store.finish_host(deployment_id, name, state)
            self.store.set_deployment_state(deployment_id, "successful")
        return deployment_id

    def _launch(self, config: Config, deployment_id: str) -> int:
        """A worker that never runs: the deployment stays pending, owned by this (live) process."""
        self.launched.append(deployment_id)
        return os.getpid()

    def launches(self) -> list[dict[str, Any]]:
        """The deployments started since the world began (worker launches), as the store has them."""
        return [record for record in map(self.store.deployment, self.launched) if record is not None]


@pytest.fixture
def chat_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, list[str]]], ChatWorld]]:
    """Make a ChatWorld with the given access rules; the runner's umask (077) is undone afterwards."""
    umask = os.umask(0o022)
    os.umask(umask)
    yield lambda access: ChatWorld(tmp_path, monkeypatch, access)
    os.umask(umask)
