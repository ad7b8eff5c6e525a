"""jarvis in real chat: a person on the sandbox's ngircd and prosody asks, jarvis deploys and announces.

Everything is real: the IRC and XMPP servers, the bot's backends, the design server (HTTPS), the
LDAP directory and the deployments on the sandbox's EC2.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import ldap3
import pytest

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
from tests.support.world import ldap_entry
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
            "access": {"deploy": ["irc:alice!~user@127.0.0.1", "xmpp:alice@*"], "status": ["irc:*!*@*"]},
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
            mallory.say("#ops", f"jarvis: deploy {publish(design_server, 'gna')}")
            mallory.wait_for(from_jarvis(lambda text: text == "sorry mallory, you may not deploy, plan or cancel here"))
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
            mallory.say(room, f"jarvis: deploy {publish(design_server, 'gna')}")
            await hear(
                mallory, jarvis, lambda body: body == "sorry alice2, you may not deploy, plan or cancel here", 20
            )

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
    access = {"deploy": [f"irc:{mask}", "xmpp:alice@*"], "status": []}
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
