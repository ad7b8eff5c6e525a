"""jarvis in real chat: a person on the sandbox's ngircd and prosody asks, jarvis deploys and announces.

Everything is real: the IRC and XMPP servers, the bot's backends, the design server (HTTPS), the
LDAP directory and the deployments on the sandbox's EC2.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import ldap3
import pytest
import yaml

from bot.app import Bot
from bot.backends.base import Backend, Backoff, RateLimiter
from bot.backends.irc import IrcBackend
from bot.backends.xmpp import XmppBackend
from orchestrator.config import Config
from orchestrator.store import DeploymentStore
from sandbox import designs, ngircd, prosody
from sandbox.ngircd import IrcInfo
from sandbox.prosody import XmppInfo
from tests.hostile.corpus import new_marker
from tests.integration.fixtures_designs import publish
from tests.support.irc_person import IrcLine, IrcPerson
from tests.support.world import ec2_instances, ldap_entry, query
from tests.support.xmpp_person import XmppPerson

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class BotThread:
    """The bot in an event loop of its own thread, as `jarvis-bot` runs it."""

    def __init__(self, config: Config, backends: list[Backend]) -> None:
        self.bot = Bot(config, backends)
        self.bot.announcer.interval = 0.05
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self.thread.start()

    async def _serve(self) -> None:
        running = asyncio.create_task(self.bot.run())
        await self._stop.wait()
        await self.bot.stop()
        await running

    def wait_connected(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not all(backend.connected for backend in self.bot.backends):
            assert time.monotonic() < deadline, "the bot did not connect"
            time.sleep(0.05)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the bot did not stop"
        self.loop.close()


@pytest.fixture(scope="module")
def chat_config(jarvis_config: Config, design_server: designs.DesignServerInfo) -> Config:
    return dataclasses.replace(
        jarvis_config,
        bot={
            "access": {
                "deploy": ["irc:alice!~user@127.0.0.1", f"xmpp:alice@{prosody.DOMAIN}"],
                "status": ["irc:*!*@*"],
            },
            "sources": {
                "urls": {"allowed_hosts": ["127.0.0.1"], "allow_private": True, "ca_file": design_server.ca_file}
            },
        },
    )


def irc_bot(info: IrcInfo, config: Config, backoff: Backoff | None = None) -> BotThread:
    backend = IrcBackend(
        info.host, info.port, "jarvis", ["#ops"], rate_limit=RateLimiter(0.05, 10), backoff=backoff or Backoff(0.1, 1)
    )
    return BotThread(config, [backend])


def from_jarvis(predicate: Callable[[str], bool]) -> Callable[[IrcLine], bool]:
    return lambda line: line.command == "PRIVMSG" and line.nick.startswith("jarvis") and predicate(line.text)


def put_design_in_ldap(world: dict, name: str) -> None:
    ldap = world["ldap"]
    document = (REPO / "examples" / "loki.yml").read_text().replace("loki", name)
    conn = ldap3.Connection(ldap["uri"], ldap["bind_dn"], ldap["bind_password"], auto_bind=True)
    try:
        conn.add(f"cn={name},{ldap['hosts_dn']}", ["device", "jarvisHost"], {"cn": name, "jarvisDesign": document})
    finally:
        conn.unbind()


def test_irc_deploy_from_url_and_ldap_then_status(
    ngircd_server: IrcInfo, chat_config: Config, design_server: designs.DesignServerInfo, world: dict
) -> None:
    put_design_in_ldap(world, "saga")
    bot = irc_bot(ngircd_server, chat_config)
    bot.wait_connected()
    try:
        with IrcPerson(ngircd_server.host, ngircd_server.port, "alice") as alice:
            alice.join("#ops")
            alice.say("#ops", f"jarvis: deploy {publish(design_server, 'eir')}")
            alice.wait_for(from_jarvis(lambda text: text.startswith("alice: deploying eir")), timeout=20)
            alice.wait_for(from_jarvis(lambda text: text == "eir: dns - write DNS A, PTR and SSHFP records"), 60)
            alice.wait_for(from_jarvis(lambda text: text.startswith("eir is ready at 10.201.")), timeout=120)

            alice.say("#ops", "jarvis: deploy cn=saga")
            alice.wait_for(from_jarvis(lambda text: "deploying saga from cn=saga" in text), timeout=20)
            alice.wait_for(from_jarvis(lambda text: text.startswith("saga is ready at")), timeout=120)

            alice.say("#ops", "jarvis: status eir")
            alice.wait_for(from_jarvis(lambda text: text.startswith("eir: ready at 10.201.")), timeout=20)
            alice.say("jarvis", "status saga")  # privately
            reply = alice.wait_for(from_jarvis(lambda text: text.startswith("saga: ready")), timeout=20)
            assert reply.params[0] == "alice"
    finally:
        bot.stop()


def test_irc_refuses_strangers_and_hostile_urls(
    ngircd_server: IrcInfo, chat_config: Config, design_server: designs.DesignServerInfo
) -> None:
    bot = irc_bot(ngircd_server, chat_config)
    bot.wait_connected()
    try:
        with IrcPerson(ngircd_server.host, ngircd_server.port, "mallory") as mallory:
            mallory.join("#ops")
            url = publish(design_server, "gna")
            mallory.say("#ops", f"jarvis: deploy {url}")
            mallory.wait_for(from_jarvis(lambda text: text == f"sorry mallory, deploying {url} needs the deploy role"))
            mallory.say("#ops", "jarvis: status gna")
            mallory.wait_for(from_jarvis(lambda text: text == "gna: no deployment recorded"))
        with IrcPerson(ngircd_server.host, ngircd_server.port, "alice") as alice:
            alice.join("#ops")
            alice.say("#ops", "jarvis: deploy https://169.254.169.254/latest/meta-data/")
            alice.wait_for(from_jarvis(lambda text: "not an allowed design host" in text))
            alice.say("#ops", f"jarvis: deploy {design_server.url}redirect?to=https://example.org/x.yml")
            alice.wait_for(from_jarvis(lambda text: "example.org is not an allowed design host" in text))
    finally:
        bot.stop()


def test_irc_server_restart_mid_deployment(
    chat_config: Config, design_server: designs.DesignServerInfo, tmp_path: Path
) -> None:
    info = ngircd.start(tmp_path / "ngircd")
    bot = irc_bot(info, chat_config, backoff=Backoff(1.0, 1.0))
    bot.wait_connected()
    try:
        alice = IrcPerson(info.host, info.port, "alice")
        alice.join("#ops")
        alice.say("#ops", f"jarvis: deploy {publish(design_server, 'hlin')}")
        alice.wait_for(from_jarvis(lambda text: text.startswith("hlin: credentials")), timeout=30)
        alice.close()
        ngircd.restart(tmp_path / "ngircd")
        with IrcPerson(info.host, info.port, "alice") as alice:
            alice.join("#ops")
            alice.wait_for(from_jarvis(lambda text: text.startswith("hlin is ready at 10.201.")), timeout=120)
    finally:
        bot.stop()
        ngircd.stop(tmp_path / "ngircd")


def wait_until_gone(info: IrcInfo, nick: str, timeout: float = 5.0) -> None:
    """Until the server no longer knows NICK (it has seen the QUIT)."""
    with IrcPerson(info.host, info.port, "watcher") as watcher:
        deadline = time.monotonic() + timeout
        while True:
            watcher.send_raw(f"ISON {nick}")
            if not watcher.wait_for(lambda line: line.command == "303").text.split():
                return
            assert time.monotonic() < deadline, f"{nick} is still on the server"
            time.sleep(0.05)


def test_irc_private_announcements_reach_only_the_identity_that_asked(
    ngircd_server: IrcInfo,
    chat_config: Config,
    design_server: designs.DesignServerInfo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """alice asks privately and leaves; mallory takes the nick alice: the rest of what jarvis has to say about
    the deployment goes to nobody (the bot's log says why), not to mallory."""
    caplog.set_level(logging.WARNING, logger="jarvis.bot.irc")
    bot = irc_bot(ngircd_server, chat_config)
    bot.wait_connected()
    store = bot.bot.orchestrator.store
    try:
        with IrcPerson(ngircd_server.host, ngircd_server.port, "alice") as alice:  # alice!~user@127.0.0.1
            alice.say("jarvis", f"deploy {publish(design_server, 'sigyn')}")
            started = alice.wait_for(from_jarvis(lambda text: text.startswith("alice: deploying sigyn")), timeout=20)
            assert started.params[0] == "alice"
            alice.wait_for(from_jarvis(lambda text: text.startswith("sigyn: credentials")), timeout=60)
        deployment_id = started.text.rsplit("(deployment ", 1)[1].rstrip(")")
        wait_until_gone(ngircd_server, "alice")
        with IrcPerson(ngircd_server.host, ngircd_server.port, "alice", user="mallory") as mallory:
            deadline = time.monotonic() + 240
            while any(sub["deployment_id"] == deployment_id for sub in store.open_subscriptions()):
                assert time.monotonic() < deadline, "the deployment was not announced to its end"
                with contextlib.suppress(TimeoutError):  # listen meanwhile (and answer the server's PINGs)
                    mallory.wait_for(lambda line: False, timeout=0.5)
            host = store.host_status("sigyn", deployment_id)
            assert host is not None and host.state == "ready", host
            mallory.say("jarvis", "status sigyn")  # her own question is hers to hear
            mallory.wait_for(from_jarvis(lambda text: text.startswith("sigyn: ready at")), timeout=20)
            heard = [line.text for line in mallory.seen if from_jarvis(lambda text: True)(line)]
            assert heard == [], f"mallory heard what was meant for alice: {heard}"
    finally:
        bot.stop()
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not sending to alice: the nick")]
    stolen = "not sending to alice: the nick is now alice!~mallory@127.0.0.1's, not alice!~user@127.0.0.1's"
    assert any(message.startswith(stolen) for message in dropped), dropped


def xmpp_bot(info: XmppInfo, config: Config, room: str, backoff: Backoff | None = None) -> BotThread:
    backend = XmppBackend(
        info.jid("jarvis"),
        info.passwords["jarvis"],
        [room],
        host=info.host,
        port=info.port,
        allow_plaintext=True,
        rate_limit=RateLimiter(0.05, 10),
        backoff=backoff or Backoff(0.1, 1),
    )
    return BotThread(config, [backend])


async def hear(person: XmppPerson, sender: str, predicate: Callable[[str], bool], timeout: float) -> str:
    """The first message from SENDER whose body satisfies PREDICATE (earlier ones are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        heard = await person.expect(sender, timeout=max(0.1, deadline - time.monotonic()))
        if predicate(heard.body):
            return heard.body


def test_xmpp_deploy_from_url_and_ldap_then_status(
    prosody_server: XmppInfo, chat_config: Config, design_server: designs.DesignServerInfo, world: dict
) -> None:
    put_design_in_ldap(world, "syn")
    room = prosody_server.room("deploys")
    jarvis = f"{room}/jarvis"
    bot = xmpp_bot(prosody_server, chat_config, room)
    bot.wait_connected()

    async def conversation() -> None:
        async with XmppPerson(prosody_server, "alice") as alice:
            await alice.join(room, "alice")
            alice.say(room, f"jarvis: deploy {publish(design_server, 'ran')}")
            await hear(alice, jarvis, lambda body: body.startswith("alice: deploying ran"), 20)
            await hear(alice, jarvis, lambda body: body == "ran: ssh - wait for SSH and record host keys", 60)
            await hear(alice, jarvis, lambda body: body.startswith("ran is ready at 10.201."), 120)
            alice.say(room, "jarvis: deploy cn=syn")
            await hear(alice, jarvis, lambda body: "deploying syn from cn=syn" in body, 20)
            await hear(alice, jarvis, lambda body: body.startswith("syn is ready at"), 120)
            alice.tell(prosody_server.jid("jarvis"), "status ran")
            await hear(alice, prosody_server.jid("jarvis"), lambda body: body.startswith("ran: ready at 10.201."), 20)
        async with XmppPerson(prosody_server, "mallory") as mallory:
            await mallory.join(room, "alice2")  # a borrowed nick changes nothing: the real JID decides
            url = publish(design_server, "gna")
            mallory.say(room, f"jarvis: deploy {url}")
            await hear(mallory, jarvis, lambda body: body == f"sorry alice2, deploying {url} needs the deploy role", 20)

    try:
        asyncio.run(conversation())
    finally:
        bot.stop()


def test_xmpp_server_restart_mid_deployment(
    chat_config: Config, design_server: designs.DesignServerInfo, tmp_path: Path
) -> None:
    users = {"jarvis": "jarvis-pw-1", "alice": "alice-pw-1"}
    info = prosody.start(tmp_path / "prosody", users)
    room = info.room("restart")
    bot = xmpp_bot(info, chat_config, room, backoff=Backoff(1.0, 1.0))
    bot.wait_connected()

    async def before() -> None:
        async with XmppPerson(info, "alice") as alice:
            await alice.join(room, "alice")
            alice.say(room, f"jarvis: deploy {publish(design_server, 'vor')}")
            await hear(alice, f"{room}/jarvis", lambda body: body.startswith("vor: credentials"), 30)

    async def after() -> None:
        async with XmppPerson(info, "alice") as alice:
            await alice.join(room, "alice")
            await hear(alice, f"{room}/jarvis", lambda body: body.startswith("vor is ready at 10.201."), 120)

    try:
        asyncio.run(before())
        prosody.restart(tmp_path / "prosody")
        asyncio.run(after())
    finally:
        bot.stop()
        prosody.stop(tmp_path / "prosody")


# A person whose chat name is a template (issue 10). An IRC nick takes only letters, digits and []\`_^{|}-, and
# ngircd's user names only letters, digits and +-._, but the nick can still name a variable: rendered, it would
# write every credential into the CMDB. An XMPP room nick holds a whole command.
HOSTILE_NICK = "{{jarvis_credentials}}"
HOSTILE_USER = "-oProxyCommand"


def test_a_person_whose_chat_name_is_a_template_deploys_and_is_recorded_literally(
    ngircd_server: IrcInfo,
    prosody_server: XmppInfo,
    chat_config: Config,
    design_server: designs.DesignServerInfo,
    world: dict,
) -> None:
    """Both networks at once, one host each, deployed side by side; jarvisDeployedBy holds the names as written."""
    marker = new_marker()
    room_nick = f"{{{{ lookup('pipe','touch {marker}') }}}}"
    mask = f"{HOSTILE_NICK}!~{HOSTILE_USER}@127.0.0.1"
    access = {"deploy": [f"irc:{mask}", f"xmpp:alice@{prosody_server.domain}"], "status": []}
    config = dataclasses.replace(chat_config, bot={**chat_config.bot, "access": access})
    room = prosody_server.room("hostile")
    irc = IrcBackend(
        ngircd_server.host,
        ngircd_server.port,
        "jarvis",
        ["#ops"],
        rate_limit=RateLimiter(0.05, 10),
        backoff=Backoff(0.1, 1),
    )
    xmpp = XmppBackend(
        prosody_server.jid("jarvis"),
        prosody_server.passwords["jarvis"],
        [room],
        host=prosody_server.host,
        port=prosody_server.port,
        allow_plaintext=True,
        rate_limit=RateLimiter(0.05, 10),
        backoff=Backoff(0.1, 1),
    )
    bot = BotThread(config, [irc, xmpp])
    bot.wait_connected()

    async def in_the_room() -> None:
        async with XmppPerson(prosody_server, "alice") as alice:
            await alice.join(room, room_nick)
            alice.say(room, f"jarvis: deploy {publish(design_server, 'hx21')}")
            await hear(alice, f"{room}/jarvis", lambda body: body.startswith(f"{room_nick}: deploying hx21"), 20)
            await hear(alice, f"{room}/jarvis", lambda body: body.startswith("hx21 is ready at 10.201."), 120)

    try:
        with IrcPerson(ngircd_server.host, ngircd_server.port, HOSTILE_NICK, user=HOSTILE_USER) as person:
            person.join("#ops")
            person.say("#ops", f"jarvis: deploy {publish(design_server, 'hx20')}")
            person.wait_for(from_jarvis(lambda text: text.startswith(f"{HOSTILE_NICK}: deploying hx20")), timeout=20)
            asyncio.run(in_the_room())
            person.wait_for(from_jarvis(lambda text: text.startswith("hx20 is ready at 10.201.")), timeout=120)
    finally:
        bot.stop()
        ran = marker.exists()
        marker.unlink(missing_ok=True)
    assert not ran, f"the room nick ran on the controller: {marker} exists"
    by_irc = f"{HOSTILE_NICK} (irc {mask})"
    by_xmpp = f"{room_nick} (xmpp {prosody_server.jid('alice')})"
    assert (ldap_entry(world, "hx20") or {}).get("jarvisDeployedBy") == [by_irc]
    assert (ldap_entry(world, "hx21") or {}).get("jarvisDeployedBy") == [by_xmpp]
    store = DeploymentStore(config.store_path)  # never closed: see tests/support/secrets.py
    recorded = [store.host_status(name) for name in ("hx20", "hx21")]
    assert [host.requested_by if host else None for host in recorded] == [by_irc, by_xmpp]


# -- issue 11: one host means one host; pinned designs; the cluster forms ----------------------------------


@pytest.fixture(scope="module")
def operator_config(chat_config: Config) -> Config:
    """alice may redeploy and destroy (the destroy role), on both networks."""
    access = {"destroy": ["irc:alice!~user@127.0.0.1", f"xmpp:alice@{prosody.DOMAIN}"], "status": ["irc:*!*@*"]}
    return dataclasses.replace(chat_config, bot={**chat_config.bot, "access": access})


def two_hosts(first: str, second: str, size: int = 512, *more: str) -> str:
    """A cluster design of EC2 hosts FIRST and SECOND (then MORE), each of SIZE."""
    defaults = {"provider": "ec2", "image": "Debian 12", "region": "Atlanta", "size": size}
    hosts = [{"hostname": name, "fqdn": f"{name}.websages.com"} for name in (first, second, *more)]
    return yaml.safe_dump({"defaults": {**defaults, "dns": {"zone": "websages.com"}}, "instances": hosts})


def deployment_of(text: str) -> str:
    return text.rsplit("(deployment ", 1)[1].rstrip(")")


def assert_only_one_is_gone(world: dict, store: DeploymentStore, kept: str, gone: str) -> None:
    """KEPT runs on, in DNS, in LDAP and at the provider; GONE is gone from all three."""
    ip = (store.host_status(kept) or pytest.fail(f"{kept} unknown")).facts["ip"]
    assert query(world, f"{kept}.websages.com", "A") == [ip]
    assert (ldap_entry(world, kept) or {}).get("ipHostNumber") == [ip]
    assert [i["State"]["Name"] for i in ec2_instances(world, kept)] == ["running"]
    assert query(world, f"{gone}.websages.com", "A") == [] and ldap_entry(world, gone) is None
    assert ec2_instances(world, gone) == []
    assert (store.host_status(gone) or pytest.fail(f"{gone} unknown")).state == "destroyed"


def test_irc_destroy_of_one_host_of_a_cluster_acts_on_the_stored_design(
    ngircd_server: IrcInfo, operator_config: Config, design_server: designs.DesignServerInfo, world: dict
) -> None:
    """deploy odin11+thor11 from a URL that redirects (as a gist's /raw does to its revision); the design is
    edited; 'destroy thor11 confirm' destroys thor11 alone, as deployed, and says what the source says now;
    'redeploy odin11 from-source' takes the new odin11, and only it."""
    url = publish(design_server, "cluster11", two_hosts("odin11", "thor11"))
    bot = irc_bot(ngircd_server, operator_config)
    bot.wait_connected()
    store = bot.bot.orchestrator.store
    try:
        with IrcPerson(ngircd_server.host, ngircd_server.port, "alice") as alice:
            alice.join("#ops")
            alice.say("#ops", f"jarvis: deploy {design_server.url}redirect?to=/cluster11.yml")
            started = alice.wait_for(from_jarvis(lambda text: text.startswith("alice: deploying odin11, thor11")), 20)
            deployed = deployment_of(started.text)
            alice.wait_for(from_jarvis(lambda text: text == f"deployment {deployed}: 2 of 2 hosts ready"), 400)
            for name in ("odin11", "thor11"):  # heard already: taken off, so that later waits hear new lines only
                alice.wait_for(from_jarvis(lambda text, name=name: text.startswith(f"{name} is ready at")))
            thor = store.host_status("thor11")
            assert thor is not None and thor.design_source == url, "the URL the design came from, after redirects"
            old_type = ec2_instances(world, "odin11")[0]["InstanceType"]

            edited = two_hosts("odin11", "thor11", 1024, "tyr11")  # both hosts change; a third joins
            publish(design_server, "cluster11", edited)
            alice.say("#ops", "jarvis: destroy thor11 confirm")
            alice.wait_for(from_jarvis(lambda text: text.startswith("alice: destroying thor11 from")), 30)
            changed = f"now says otherwise about thor11 than deployment {deployed}"
            alice.wait_for(from_jarvis(lambda text: changed in text and "'redeploy thor11 from-source'" in text), 30)
            alice.wait_for(from_jarvis(lambda text: text.strip().startswith("- size: ")), 30)
            alice.wait_for(from_jarvis(lambda text: text.strip().startswith("+ size: ")), 30)
            alice.wait_for(from_jarvis(lambda text: text.startswith("thor11 is destroyed")), 300)
            assert_only_one_is_gone(world, store, kept="odin11", gone="thor11")

            alice.say("#ops", "jarvis: redeploy odin11 from-source")
            taken = alice.wait_for(from_jarvis(lambda text: text.startswith("alice: redeploying odin11 from")), 30)
            alice.wait_for(from_jarvis(lambda text: text.startswith("odin11 is ready at")), 400)
    finally:
        bot.stop()
    destroyed = store.host_status("thor11")
    assert destroyed is not None and destroyed.design_digest == thor.design_digest, "the stored design, not the edit"
    now = store.stored_design(deployment_of(taken.text))
    assert now is not None and now.hostnames == ["odin11"] and now.digest == hashlib.sha256(edited.encode()).hexdigest()
    (instance,) = ec2_instances(world, "odin11")
    assert instance["InstanceType"] == now.hosts[0]["size"] != old_type, "the new design's size"
    assert ec2_instances(world, "tyr11") == [], "the edited design's new host was not deployed"


def test_xmpp_destroy_of_one_host_of_a_cluster_then_the_cluster_form(
    prosody_server: XmppInfo, operator_config: Config, design_server: designs.DesignServerInfo, world: dict
) -> None:
    """deploy odin12+thor12; 'destroy thor12 confirm' leaves odin12 running; 'destroy cluster <id> confirm'
    lists both hosts of that deployment before it starts, and tears down the rest."""
    url = publish(design_server, "cluster12", two_hosts("odin12", "thor12"))
    room = prosody_server.room("clusters")
    jarvis = f"{room}/jarvis"
    bot = xmpp_bot(prosody_server, operator_config, room)
    bot.wait_connected()
    store = bot.bot.orchestrator.store

    async def conversation() -> None:
        async with XmppPerson(prosody_server, "alice") as alice:
            await alice.join(room, "alice")
            alice.say(room, f"jarvis: deploy {url}")
            started = await hear(alice, jarvis, lambda body: body.startswith("alice: deploying odin12, thor12"), 20)
            deployed = deployment_of(started)
            await hear(alice, jarvis, lambda body: body == f"deployment {deployed}: 2 of 2 hosts ready", 400)
            alice.say(room, "jarvis: destroy thor12 confirm")
            await hear(alice, jarvis, lambda body: body.startswith("alice: destroying thor12 from"), 30)
            await hear(alice, jarvis, lambda body: body.startswith("thor12 is destroyed"), 300)
            assert_only_one_is_gone(world, store, kept="odin12", gone="thor12")

            alice.say(room, f"jarvis: destroy cluster {deployed} confirm")
            listed = await hear(alice, jarvis, lambda body: body.startswith("alice: destroying cluster"), 30)
            assert listed == f"alice: destroying cluster {deployed}: odin12, thor12"
            going = await hear(alice, jarvis, lambda body: body.startswith("alice: destroying odin12, thor12"), 30)
            await hear(
                alice, jarvis, lambda body: body == f"deployment {deployment_of(going)}: 2 of 2 hosts destroyed", 300
            )

    try:
        asyncio.run(conversation())
    finally:
        bot.stop()
    assert query(world, "odin12.websages.com", "A") == [] and ldap_entry(world, "odin12") is None
    assert ec2_instances(world, "odin12") == []
