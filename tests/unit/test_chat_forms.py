"""The chat forms of issue 11 over the real command core, store and design sources, with no playbook run:
``destroy X`` / ``redeploy X`` act on X alone as its last deployment ran it and report a changed source;
``redeploy X from-source`` takes the new X; the cluster forms list the hosts of one deployment."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.access import AccessControl
from bot.backends.base import Identity, Message, Place
from bot.core import HELP, Command, CommandCore
from bot.sources import DesignSources, UrlPolicy
from orchestrator.config import Config
from orchestrator.design import DesignPolicy, text_digest
from orchestrator.service import Orchestrator

CLUSTER = {
    "defaults": {"provider": "ec2", "image": "ami-0123456789abcdef0", "region": "Atlanta", "size": 512},
    "instances": [
        {"hostname": "odin", "fqdn": "odin.websages.com"},
        {"hostname": "thor", "fqdn": "thor.websages.com"},
    ],
}
ALICE = Message(Place("test", "#ops", False), Identity("test", "alice!a@example.com", "alice"), "")


class Chat:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("orchestrator.worker.launch", lambda config, deployment_id: 0)  # nothing runs
        monkeypatch.setattr("orchestrator.service.redeploy_facts", lambda config, host: {"jarvis_production": False})
        self.orchestrator = Orchestrator(Config(home=tmp_path / "home"))
        self.store = self.orchestrator.store
        self.designs = tmp_path / "designs"
        self.designs.mkdir()
        sources = DesignSources(UrlPolicy(), [self.designs], None, DesignPolicy())
        self.core = CommandCore(self.orchestrator, sources, AccessControl.from_config({"destroy": ["test:*"]}))
        self.file = self.designs / "cluster.yml"
        self.write(CLUSTER)

    def write(self, document: dict[str, Any]) -> str:
        self.file.write_text(yaml.safe_dump(document, sort_keys=False))
        return self.file.read_text()

    def say(self, text: str) -> list[str]:
        name, *args = text.split()
        return asyncio.run(self.core.answer(None, ALICE, Command(name, args)))  # type: ignore[arg-type]

    def finished(self, deployment_id: str, state: str = "ready") -> None:
        """As if the worker had run the deployment to its end."""
        for host in self.store.deployment_hosts(deployment_id):
            self.store.finish_host(deployment_id, host.hostname, state)
        self.store.set_deployment_state(deployment_id, "successful")


def deployment_of(line: str) -> str:
    return line.rsplit("(deployment ", 1)[1].rstrip(")")


@pytest.fixture
def chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Chat:
    return Chat(tmp_path, monkeypatch)


def test_destroy_of_one_host_acts_on_the_stored_design_and_reports_the_changed_source(chat: Chat) -> None:
    text = chat.file.read_text()
    (started,) = chat.say(f"deploy {chat.file}")
    deployed = deployment_of(started)
    assert started == f"alice: deploying odin, thor from {chat.file} (deployment {deployed})"
    chat.finished(deployed)
    changed = {**CLUSTER, "instances": [CLUSTER["instances"][0], {**CLUSTER["instances"][1], "size": 2048}]}
    chat.write(changed)

    answer = chat.say("destroy thor confirm")
    destroyed = deployment_of(answer[0])
    assert answer[0] == f"alice: destroying thor from {chat.file} (deployment {destroyed})"
    assert answer[1] == (
        f"{chat.file} now says otherwise about thor than deployment {deployed} (sha256 {text_digest(text)[:12]}), "
        "which this run uses; 'redeploy thor from-source' takes the new one:"
    )
    assert [line.split(":")[0] for line in answer[2:]] == ["  - size", "  + size"]
    stored = chat.store.stored_design(destroyed)
    original = chat.store.stored_design(deployed)
    assert stored is not None and original is not None
    assert stored.kind == "destroy" and stored.hostnames == ["thor"], "one host means one host"
    assert stored.hosts == [original.hosts[1]] and stored.text == text and stored.options["scope"] == "host"
    chat.finished(destroyed, "destroyed")

    (redeploying,) = chat.say("redeploy thor from-source")
    taken = chat.store.stored_design(deployment_of(redeploying))
    assert taken is not None and taken.hostnames == ["thor"] and taken.digest == text_digest(chat.file.read_text())
    assert taken.hosts[0]["size"] != original.hosts[1]["size"]


def test_the_cluster_forms_list_the_hosts_of_one_deployment(chat: Chat) -> None:
    deployed = deployment_of(chat.say(f"deploy {chat.file}")[0])
    chat.finished(deployed)
    chat.write({**CLUSTER, "instances": CLUSTER["instances"][:1]})  # thor left the design meanwhile

    assert chat.say(f"destroy cluster {deployed}") == [
        f"alice: say 'destroy cluster {deployed} confirm' to destroy odin, thor for good"
    ]
    answer = chat.say(f"destroy cluster {deployed} confirm")
    assert answer[0] == f"alice: destroying cluster {deployed}: odin, thor"
    assert answer[1].startswith("alice: destroying odin, thor from ")
    assert answer[2:] == [f"{chat.file} no longer has thor; going on with thor as deployment {deployed} had it"]
    chat.finished(deployment_of(answer[1]), "destroyed")

    answer = chat.say(f"redeploy cluster {chat.file}")
    assert answer[0] == f"alice: redeploying cluster {chat.file} (as deployment {deployed} had it): odin, thor"
    redeployed = chat.store.stored_design(deployment_of(answer[1]))
    assert redeployed is not None and redeployed.kind == "redeploy" and redeployed.hostnames == ["odin", "thor"]
    chat.say(f"cancel cluster {redeployed.deployment_id}")
    assert chat.store.cancel_requested(redeployed.deployment_id)
    assert chat.say("cancel cluster 20990101-000000-abcdef") == [
        "alice: no deployment 20990101-000000-abcdef is recorded"
    ]


def test_an_unreadable_source_is_said_and_the_run_goes_on(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed = deployment_of(chat.say(f"deploy {chat.file}")[0])
    chat.finished(deployed)
    chat.file.unlink()
    threads: list[threading.Thread] = []
    load = chat.core.sources.load
    monkeypatch.setattr(
        chat.core.sources, "load", lambda spec: threads.append(threading.current_thread()) or load(spec)
    )
    answer = chat.say("redeploy odin")
    assert threads and threads[0] is not threading.main_thread(), "read in a worker thread, never on the event loop"
    assert answer[0].startswith("alice: redeploying odin from ")
    assert answer[1].startswith(f"could not read {chat.file} now to compare (design: cannot read ")
    assert answer[1].endswith(f"going on with the design of {deployed}")
    assert chat.say("redeploy odin from-source")[0].startswith("alice: design: cannot read"), "from-source needs it"


def test_the_words_of_the_new_forms_and_help(chat: Chat) -> None:
    assert chat.say("redeploy loki")[0] == "loki: no deployment recorded to redeploy from; deploy it first"
    assert chat.say("redeploy odin sideways")[0].startswith("alice: say redeploy <host> [from-source]")
    assert chat.say("destroy odin")[0].startswith("alice: say destroy <host> confirm")
    assert chat.say("cancel")[0] == "alice: say cancel <host>, or cancel cluster <deployment-id>"
    forms = [line.split(" - ")[0] for line in HELP]
    assert {
        "redeploy <host> [from-source]",
        "redeploy cluster <deployment-id | source>",
        "destroy cluster <deployment-id | source> confirm",
        "cancel cluster <deployment-id>",
    } <= set(forms)
