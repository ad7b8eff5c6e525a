"""The announcer owes every line: it records one as sent only once written, and packs a backlog, cutting nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.announcer import Announcer, Line, pack
from bot.backends.base import Place
from bot.backends.memory import MemoryBackend
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore

STAGES = ("dns", "instance", "ssh")


def deployment(store: DeploymentStore, *names: str, target: str = "#ops") -> str:
    hosts = [{"hostname": name, "fqdn": f"{name}.example.com", "provider": "ec2"} for name in names]
    deployment_id = store.create_deployment(hosts, list(deploy_stages()), source="t", requested_by="alice")
    store.set_deployment_state(deployment_id, "running")
    store.subscribe(deployment_id, "test", target, private=False)
    return deployment_id


def busy_cluster(store: DeploymentStore, size: int = 20) -> str:
    """SIZE hosts that start three stages each, a third of them failing: far more than a round's lines."""
    names = [f"web{n:02d}" for n in range(size)]
    deployment_id = deployment(store, *names)
    for stage in STAGES:
        for name in names:
            store.add_event(deployment_id, "running", stage, name, stage)
            if stage == "ssh" and int(name[3:]) % 3 == 0:
                store.add_event(deployment_id, "failed", f"no SSH on {name} after 30 s", name, stage)
    return deployment_id


def last_seqs(store: DeploymentStore) -> list[int]:
    return [sub["last_seq"] for sub in store.open_subscriptions()]


class GatedBackend(MemoryBackend):
    """Writes an announcement only when the test opens the gate; counts what waits meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_waiting = 0

    async def announce(self, place: Place, text: str) -> bool:
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        return await super().announce(place, text)


class DroppingBackend(MemoryBackend):
    """Loses its connection after WRITES announcements."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes = writes

    async def announce(self, place: Place, text: str) -> bool:
        if self.writes == 0:
            self.online = False
        self.writes -= 1
        return await super().announce(place, text)


def test_a_backlog_is_packed_into_few_lines_with_nothing_lost(tmp_path: Path) -> None:
    plain, packed = DeploymentStore(tmp_path / "plain.db"), DeploymentStore(tmp_path / "packed.db")
    for store in (plain, packed):
        busy_cluster(store)
        deployment(store, "solo")
        store.add_event(store.open_subscriptions()[1]["deployment_id"], "canceled", "by alice", "solo", "dns")
    unpacked_backend, packed_backend = MemoryBackend(), MemoryBackend()
    asyncio.run(Announcer(plain, {"test": unpacked_backend}, max_lines=1000).once())
    asyncio.run(Announcer(packed, {"test": packed_backend}, max_lines=5).once())

    lines = unpacked_backend.lines()
    assert len(lines) == 3 + 7 + 1, "a line per stage (all hosts), a line per failure, solo's cancel"
    assert len(packed_backend.lines()) <= 5
    assert all(len(line.encode()) <= packed_backend.line_bytes for line in packed_backend.lines())
    assert " | ".join(packed_backend.lines()) == " | ".join(lines), "the same lines, in order, nothing cut"
    assert last_seqs(packed) == last_seqs(plain) == [67, 1]


def test_pack_never_cuts_a_line_longer_than_the_limit() -> None:
    lines = [Line("a" * 30, {"d1"}), Line("b" * 5, {"d2"}), Line("c" * 5, {"d1"}), Line("d" * 30, {"d3"})]
    assert [(line.text, line.deployments) for line in pack(lines, 20, " | ")] == [
        ("a" * 30, {"d1"}),
        ("bbbbb | ccccc", {"d1", "d2"}),
        ("d" * 30, {"d3"}),
    ]


def test_nothing_moves_while_the_backend_is_disconnected(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "store.db")
    deployment_id = deployment(store, "eir")
    store.add_event(deployment_id, "running", "write DNS", "eir", "dns")
    backend = MemoryBackend()
    backend.online = False
    announcer = Announcer(store, {"test": backend})
    asyncio.run(announcer.once())
    store.set_deployment_state(deployment_id, "failed")
    asyncio.run(announcer.once())
    assert (backend.sent, last_seqs(store)) == ([], [0])

    backend.online = True
    asyncio.run(announcer.once())
    assert backend.lines() == ["eir: dns - write DNS A, PTR and SSHFP records"]
    assert store.open_subscriptions() == [], "told to its end"


def test_a_line_counts_as_sent_only_once_written_so_a_killed_bot_says_it_again(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "store.db")
    deployment_id = deployment(store, "eir")
    store.add_event(deployment_id, "running", "write DNS", "eir", "dns")
    gated = GatedBackend()

    async def killed_while_writing() -> None:
        announcer = Announcer(store, {"test": gated})
        running = asyncio.create_task(announcer.run())
        while not gated.waiting:
            await asyncio.sleep(0.01)
        assert last_seqs(store) == [0], "not written yet: not recorded"
        running.cancel()  # the process dies here, as with kill -9: nothing after the write runs
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(killed_while_writing())
    assert (gated.sent, last_seqs(store)) == ([], [0])

    restarted = MemoryBackend()  # a new bot on the same store
    asyncio.run(Announcer(DeploymentStore(tmp_path / "store.db"), {"test": restarted}).once())
    assert restarted.lines() == ["eir: dns - write DNS A, PTR and SSHFP records"]
    assert last_seqs(store) == [1]


def test_a_connection_lost_mid_delivery_moves_only_what_was_written(tmp_path: Path) -> None:
    """Each subscription moves once all its lines are written; the rest is said after the reconnect."""
    store = DeploymentStore(tmp_path / "store.db")
    first, second = deployment(store, "eir"), deployment(store, "gna")
    store.add_event(first, "failed", "REFUSED", "eir", "dns")
    store.add_event(second, "failed", "timed out", "gna", "instance")
    backend = DroppingBackend(writes=1)
    asyncio.run(Announcer(store, {"test": backend}).once())
    assert backend.lines() == ["eir FAILED at stage dns: REFUSED"]
    assert last_seqs(store) == [1, 0]

    backend.online, backend.writes = True, 10
    asyncio.run(Announcer(store, {"test": backend}).once())
    assert backend.lines() == ["eir FAILED at stage dns: REFUSED", "gna FAILED at stage instance: timed out"]
    assert last_seqs(store) == [1, 1]


def test_no_new_events_for_a_place_while_its_lines_are_in_flight(tmp_path: Path) -> None:
    """What comes meanwhile waits in the store, and the next round tells it at once, packed: the queue stays short."""
    store = DeploymentStore(tmp_path / "store.db")
    deployment_id = deployment(store, "eir")
    store.add_event(deployment_id, "running", "write DNS", "eir", "dns")
    gated = GatedBackend()
    announcer = Announcer(store, {"test": gated}, max_lines=3)

    async def scenario() -> None:
        await announcer.start_round()
        await asyncio.sleep(0)
        for n in range(20):
            host = f"web{n:02d}"
            store.add_event(deployment_id, "failed", f"{host} is gone", host, "instance")
            await announcer.start_round()
            await asyncio.sleep(0)
        assert gated.waiting == 1, "one line in flight; the events that came meanwhile wait in the store"
        gated.gate.set()
        await announcer.once()
        await announcer.once()

    asyncio.run(scenario())
    assert gated.most_waiting == 1
    lines = gated.lines()
    assert lines[0] == "eir: dns - write DNS A, PTR and SSHFP records"
    assert 1 < len(lines) <= 1 + 3
    told = " | ".join(lines[1:]).split(" | ")
    assert told == [f"web{n:02d} FAILED at stage instance: web{n:02d} is gone" for n in range(20)]
    assert last_seqs(store) == [21]
