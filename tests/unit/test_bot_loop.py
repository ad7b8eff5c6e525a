"""The bot's event loop stays free while the store is slow (issue 14): a reply or an announcement round
that waits on the store waits in a worker thread, and every other coroutine goes on running meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.announcer import Announcer
from bot.backends.base import Message, Place
from bot.backends.memory import MemoryBackend
from bot.core import addressed_command
from tests.support.chat_world import ChatWorld, person

SLOW = 0.3  # seconds a slowed store read takes, or a third more the store's lock is held
STALL = 0.1  # the longest the loop may go without running a ready coroutine
ALICE = person("alice")
OPS = Place("test", "#ops", False)


async def longest_stall(*work: Awaitable[Any]) -> tuple[list[Any], float]:
    """WORK's results, and the longest the loop went meanwhile without waking a coroutine that ticks."""
    longest, finished = 0.0, asyncio.Event()

    async def tick() -> None:
        nonlocal longest
        last = time.monotonic()
        while not finished.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            longest, last = max(longest, now - last), now

    ticker = asyncio.create_task(tick())
    try:
        return await asyncio.gather(*work), longest
    finally:
        finished.set()
        await ticker


def ask(world: ChatWorld, backend: MemoryBackend, text: str) -> Awaitable[list[str]]:
    """Alice's TEXT in #ops, as the command core answers it."""
    command = addressed_command(text, "jarvis", private=True)
    assert command is not None
    return world.core.answer(backend, Message(OPS, ALICE, text), command)


def heard(world: ChatWorld, deployment_id: str) -> None:
    """#ops hears DEPLOYMENT_ID, and it has a stage start to tell."""
    world.store.subscribe(deployment_id, "test", "#ops", private=False)
    world.store.add_event(deployment_id, "running", "deploy the instance", "eir", "instance")


def test_slow_store_reads_leave_the_loop_free(
    chat_world: Callable[[dict[str, list[str]]], ChatWorld], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``status eir`` and an announcement round both read a store that takes SLOW per read."""
    world = chat_world({"status": ["test:*"]})
    deployment_id = world.deployed("eir", ALICE, "running")
    heard(world, deployment_id)
    slowed: list[str] = []
    for name in ("host_status", "events"):
        read = getattr(world.store, name)

        def slow(*args: Any, read: Callable[..., Any] = read, name: str = name, **kwargs: Any) -> Any:
            slowed.append(name)
            time.sleep(SLOW)
            return read(*args, **kwargs)

        monkeypatch.setattr(world.store, name, slow)
    backend = MemoryBackend()

    (status, _), stall = asyncio.run(
        longest_stall(ask(world, backend, "status eir"), Announcer(world.store, {"test": backend}).once())
    )

    assert {"host_status", "events"} <= set(slowed), "both went through the slow reads"
    assert stall < STALL, f"the loop stalled {stall:.2f} s"
    assert status[0].startswith("eir: running, stage instance (") and status[0].endswith(f"deployment {deployment_id})")
    assert backend.lines("#ops") == ["eir: instance - deploy the instance from its template"]


def test_a_held_store_lock_leaves_the_loop_free(chat_world: Callable[[dict[str, list[str]]], ChatWorld]) -> None:
    """A deployment's thread holds the store's lock: ``deploy`` (its record, its subscription) and an
    announcement (moving its subscription on) wait for it, and the loop does not."""
    world = chat_world({"deploy": ["test:*"]})
    heard(world, world.deployed("eir", ALICE, "running"))
    source = world.design("gna")
    backend = MemoryBackend()
    held, released_at = threading.Event(), [0.0]

    def hold_the_lock() -> None:
        with world.store._lock:
            held.set()
            time.sleep(SLOW * 4 / 3)
            released_at[0] = time.monotonic()

    async def scenario() -> tuple[list[Any], float, float]:
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        await asyncio.to_thread(held.wait)
        results, stall = await longest_stall(
            ask(world, backend, f"deploy {source}"), Announcer(world.store, {"test": backend}).once()
        )
        done_at = time.monotonic()
        holder.join()
        return results, stall, done_at

    (deployed, _), stall, done_at = asyncio.run(scenario())

    assert released_at[0] < done_at, "the work waited for the lock"
    assert stall < STALL, f"the loop stalled {stall:.2f} s"
    [launched] = world.launched
    assert deployed == [f"alice: deploying gna from {source} (deployment {launched})"]
    assert backend.lines("#ops") == ["eir: instance - deploy the instance from its template"]
    assert [sub["last_seq"] for sub in world.store.open_subscriptions()] == [1, 0]
