"""The bot as a program: its backends, the command core and the announcer in one asyncio loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from bot.announcer import Announcer
from bot.backends.base import Backend
from bot.config import BotConfig, load_bot_config
from bot.core import CommandCore
from orchestrator import Config, ConfigError, JarvisError, Orchestrator, load_config

log = logging.getLogger("jarvis.bot")
REAP_SECONDS = 2.0  # how soon the bot notices (and says) that a deployment's process died
# Threads for the bot's blocking work (store, LDAP, fetching designs): enough that slow design fetches, which
# may each wait for their timeout, never leave a status reply waiting for a free thread.
BLOCKING_THREADS = 32


def build_backends(settings: BotConfig) -> list[Backend]:
    """The backends the config asks for (IRC, XMPP or both)."""
    backends: list[Backend] = []
    if settings.irc:
        from bot.backends.irc import IrcBackend

        irc = dict(settings.irc)
        backends.append(
            IrcBackend(
                irc.pop("host"),
                int(irc.pop("port", 6667)),
                settings.nick,
                list(irc.pop("channels", [])),
                tls=bool(irc.pop("tls", False)),
                password=irc.pop("password", None),
            )
        )
        if irc:
            raise ConfigError(f"bot.irc: unknown keys {sorted(irc)}")
    if settings.xmpp:
        from bot.backends.xmpp import XmppBackend

        xmpp = dict(settings.xmpp)
        backends.append(
            XmppBackend(
                xmpp.pop("jid"),
                xmpp.pop("password"),
                list(xmpp.pop("rooms", [])),
                nick=settings.nick,
                host=xmpp.pop("host", None),
                port=int(xmpp.pop("port", 5222)),
                allow_plaintext=bool(xmpp.pop("allow_plaintext", False)),
            )
        )
        if xmpp:
            raise ConfigError(f"bot.xmpp: unknown keys {sorted(xmpp)}")
    if not backends:
        raise ConfigError("bot: configure irc, xmpp or both")
    return backends


class Bot:
    def __init__(self, config: Config, backends: list[Backend] | None = None) -> None:
        settings = load_bot_config(config)
        self.orchestrator = Orchestrator(config)
        self.backends = backends if backends is not None else build_backends(settings)
        assert settings.sources is not None
        self.core = CommandCore(
            self.orchestrator, settings.sources, settings.access, approval_minutes=settings.approval_minutes
        )
        self.announcer = Announcer(self.orchestrator.store, {b.protocol: b for b in self.backends})
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Serve until stop(); backends reconnect by themselves, the announcer resumes from the store."""
        pool = ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="jarvis-bot")
        asyncio.get_running_loop().set_default_executor(pool)
        tasks = [asyncio.create_task(backend.run(self.core.handle)) for backend in self.backends]
        tasks.append(asyncio.create_task(self.announcer.run()))
        tasks.append(asyncio.create_task(self._reap()))
        await asyncio.gather(*tasks)

    async def _reap(self) -> None:
        """Look for deployments whose owner died, now and then: the announcer then says they were interrupted."""
        while not self._stopped.is_set():
            try:
                await asyncio.to_thread(self.orchestrator.reap)
            except Exception:  # noqa: BLE001 - a store busy for a moment: the next round tries again
                log.exception("looking for interrupted deployments failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), REAP_SECONDS)

    async def stop(self) -> None:
        self._stopped.set()
        self.announcer.stop()
        for backend in self.backends:
            await backend.stop()


def main(argv: list[str] | None = None) -> int:
    """``jarvis-bot [--config FILE]``: run the bot until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="jarvis-bot", description="jarvis's chat bot (IRC and/or XMPP)")
    parser.add_argument("--config", help="config file (default: as for jarvis)")
    args = parser.parse_args(argv)
    os.umask(0o077)  # what jarvis writes (store, runs, secrets, known hosts) is its user's only
    try:
        serve(load_config(args.config))
    except JarvisError as exc:
        print(f"jarvis-bot: {exc}", file=sys.stderr)
        return 2
    return 0


def serve(config: Config) -> None:
    """Run the bot until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        bot = Bot(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.stop()))
        await bot.run()

    asyncio.run(main())
