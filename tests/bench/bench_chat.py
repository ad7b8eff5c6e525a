"""Figures, not assertions: how fast jarvis answers in IRC while many deployments run.

    python -m tests.bench.bench_chat [--deployments 20] [--interval 1.0]

A person on the sandbox's ngircd starts N deployments in #ops, then asks ``jarvis: status <host>``
every INTERVAL seconds until they have all ended. Prints the p50/p99/max latency of the status
replies, and the delay between a stage starting (as the status store records it) and its
announcement reaching the person. The bot uses its default rate limit (2 lines/s after a burst).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bot.app import Bot
from bot.backends.irc import IrcBackend
from orchestrator import load_config
from sandbox import world
from tests.support.irc_person import IrcLine, IrcPerson

REPO = Path(__file__).resolve().parents[2]
STATUS_REPLY = re.compile(r"^(b\d+): (running|pending|ready at|failed at|canceled|no deployment)")
STAGE_LINE = re.compile(r"^([a-z0-9, ]+): ([a-z_]+) - ")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(label: str, values: list[float]) -> None:
    if not values:
        print(f"{label}: no samples")
        return
    print(
        f"{label}: n={len(values)} p50={percentile(values, 0.5):.2f}s p99={percentile(values, 0.99):.2f}s "
        f"max={max(values):.2f}s mean={statistics.fmean(values):.2f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-chat-") as tmp:
        state = Path(tmp) / "sandbox"
        description = world.up(state)
        try:
            run(description, Path(tmp), args.deployments, args.interval)
        finally:
            world.down(state)


def run(description: dict[str, Any], tmp: Path, count: int, interval: float) -> None:
    config = load_config(description["config"])
    config.home = tmp / "home"
    names = [f"b{i}" for i in range(count)]
    files = Path(description["designs"]["directory"])
    for name in names:
        (files / f"{name}.yml").write_text((REPO / "examples" / "loki.yml").read_text().replace("loki", name))

    irc = description["irc"]
    backend = IrcBackend(irc["host"], irc["port"], "jarvis", ["#ops"])
    bot = Bot(config, [backend])
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        running = asyncio.create_task(bot.run())
        await stop.wait()
        await bot.stop()
        await running

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    while not backend.connected:
        time.sleep(0.05)

    offset = time.time() - time.monotonic()
    stage_delays: list[float] = []
    status_latencies: list[float] = []
    store = bot.orchestrator.store

    def take_announcements(person: IrcPerson) -> None:
        for line in list(person.seen):
            match = STAGE_LINE.match(line.text) if line.command == "PRIVMSG" else None
            if match:
                for host in match[1].split(", "):
                    status = store.host_status(host)
                    stage = next((s for s in status.stages if s.stage == match[2]), None) if status else None
                    if stage and stage.started_at:
                        stage_delays.append(line.received + offset - stage.started_at)
            person.seen.remove(line)

    with IrcPerson(irc["host"], irc["port"], "alice") as alice:
        alice.join("#ops")
        started = time.monotonic()
        for name in names:
            alice.say("#ops", f"jarvis: deploy {description['designs']['url']}{name}.yml")
        asked = 0
        while True:
            name = names[asked % len(names)]
            sent = time.monotonic()
            alice.say("#ops", f"jarvis: status {name}")
            asked += 1

            def is_reply(line: IrcLine, name: str = name) -> bool:
                match = STATUS_REPLY.match(line.text)
                return line.command == "PRIVMSG" and match is not None and match[1] == name

            try:
                reply = alice.wait_for(is_reply, timeout=120)
                status_latencies.append(reply.received - sent)
            except TimeoutError:
                print(f"no status reply for {name} within 120 s")
            take_announcements(alice)
            if all((h := store.host_status(n)) is not None and h.state in ("ready", "failed") for n in names):
                break
            time.sleep(max(0.0, interval - (time.monotonic() - sent)))
        total = time.monotonic() - started
        time.sleep(3)  # the last announcements
        with contextlib.suppress(TimeoutError):
            alice.wait_for(lambda line: False, timeout=0.5)
        take_announcements(alice)

    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    ready = sum(1 for n in names if (h := store.host_status(n)) is not None and h.state == "ready")
    print(f"{count} deployments over IRC: {ready} ready in {total:.0f}s; {asked} status questions asked")
    report("status reply latency", status_latencies)
    report("stage start -> announcement seen", stage_delays)


if __name__ == "__main__":
    main()
