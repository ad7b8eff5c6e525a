"""Host locks across processes, ``jarvis unlock`` and ``jarvis status`` of a dead run, and resuming it.

A real SQLite store opened by several processes (or connections) at once, real child processes standing in
for jarvis's owners and the playbook they leave, and the CLI through ``orchestrator.cli.main``.
"""

from __future__ import annotations

import contextlib
import getpass
import multiprocessing
import os
import pwd
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import cli
from orchestrator.config import Config, load_config
from orchestrator.errors import DeploymentError
from orchestrator.leases import Owner, owner_of, this_process
from orchestrator.locks import HostBusy
from orchestrator.runner import DeploymentRunner
from orchestrator.stages import deploy_stages
from orchestrator.store import DeploymentStore
from tests.unit.test_leases import dead_owner

ME = pwd.getpwuid(os.geteuid()).pw_name
THOR = {"hostname": "thor", "fqdn": "thor.example.com", "provider": "ec2"}


def host(name: str) -> dict[str, str]:
    return {"hostname": name, "fqdn": f"{name}.example.com", "provider": "ec2"}


def record(
    store: DeploymentStore, owner: Owner | None, hosts: list[dict[str, str]] | None = None, kind: str = "deploy"
) -> str:
    return store.create_deployment(
        hosts or [THOR],
        list(deploy_stages(kind)),
        source="thor.yml",
        requested_by="alice (cli)",
        kind=kind,
        owner=owner,
    )


def sleeper(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A live child process; ARGV and ENV make it look like a worker or a playbook of a run."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv], env=env)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A jarvis home under TMP_PATH; yields a writer of config files naming CLI_ADMINS."""
    monkeypatch.delenv("JARVIS_HOME", raising=False)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # what getpass.getuser() reads: the real user
        monkeypatch.setenv(name, ME)
    umask = os.umask(0o022)
    os.umask(umask)
    yield tmp_path
    os.umask(umask)  # main() sets 077 for what jarvis writes


def config_file(site: Path, cli_admins: list[str]) -> Path:
    path = site / f"config-{'-'.join(cli_admins) or 'nobody'}.yml"
    path.write_text(f"home: {site / 'home'}\ncli_admins: [{', '.join(cli_admins)}]\n")
    return path


def site_store(config: Path) -> DeploymentStore:
    return DeploymentStore(load_config(str(config)).store_path)


# -- one pipeline per host, whoever records at once ------------------------------------------------------


def _record_after(barrier: Any, path: str, hostnames: list[str], results: Any) -> None:
    """A process of its own: open the store, wait for the others, then record a run of HOSTNAMES."""
    store = DeploymentStore(path)
    barrier.wait(timeout=30)
    try:
        results.put(("won", record(store, this_process(), [host(name) for name in hostnames])))
    except HostBusy as busy:
        results.put(("busy", str(busy)))
    finally:
        store.close()


def test_processes_recording_one_host_at_once_give_it_to_exactly_one(tmp_path: Path) -> None:
    path = tmp_path / "jarvis.db"
    DeploymentStore(path).close()  # the schema exists before they race (as any jarvis that ran once left it)
    spawn = multiprocessing.get_context("spawn")  # no fork of a threaded pytest
    wanted = [["thor", "odin"], ["odin", "loki"]]  # both want odin
    barrier, results = spawn.Barrier(len(wanted)), spawn.Queue()
    processes = [spawn.Process(target=_record_after, args=(barrier, str(path), names, results)) for names in wanted]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    won = [value for outcome, value in outcomes if outcome == "won"]
    refusals = [value for outcome, value in outcomes if outcome == "busy"]
    assert len(won) == 1 and len(refusals) == len(wanted) - 1
    (winner,) = won
    assert all(f"odin is held by deployment {winner} (deploy asked by alice (cli), pending)" in r for r in refusals)
    store = DeploymentStore(path)
    locked = store.lock_holders(["thor", "odin", "loki"])
    assert {holder["deployment_id"] for holder in locked} == {winner}, "a refused run locks none of its hosts"
    assert [holder["hostname"] for holder in locked] == sorted(h.hostname for h in store.deployment_hosts(winner))
    count = sqlite3.connect(path).execute("SELECT COUNT(*) FROM deployments").fetchone()[0]
    assert count == 1, "a refused run records nothing"


def test_connections_racing_round_after_round_never_share_a_host(tmp_path: Path) -> None:
    """Many rounds of the same race between stores on one file (each its own connection, as in its own process)."""
    path = tmp_path / "jarvis.db"
    stores = [DeploymentStore(path) for _ in range(6)]
    rounds = 15
    barrier = threading.Barrier(len(stores))
    won: dict[int, list[str]] = {n: [] for n in range(rounds)}
    unexpected: list[Exception] = []

    def race(store: DeploymentStore) -> None:
        for n in range(rounds):
            barrier.wait(timeout=30)
            try:
                won[n].append(record(store, this_process(), [host(f"h{n}")]))
            except HostBusy:
                pass
            except Exception as exc:  # noqa: BLE001 - reported below, in the test's thread
                unexpected.append(exc)

    threads = [threading.Thread(target=race, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert unexpected == []
    assert all(len(ids) == 1 for ids in won.values()), won
    for n, (winner,) in won.items():
        assert [holder["deployment_id"] for holder in stores[0].lock_holders([f"h{n}"])] == [winner]


# -- jarvis unlock ---------------------------------------------------------------------------------------


def test_unlock_is_refused_to_a_user_not_in_cli_admins(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(site, ["nobody-else"])
    store = site_store(config)
    holder = sleeper()
    try:
        deployment_id = record(store, owner_of(holder.pid))
        assert cli.main(["--config", str(config), "unlock", "THOR"]) == 2
        assert capsys.readouterr().err == (
            f"jarvis: unlocking thor needs a cli_admins user; {ME} is not one (cli_admins in {config}: nobody-else)\n"
        )
        assert [h["deployment_id"] for h in store.lock_holders(["thor"])] == [deployment_id], "still held"
        assert (store.deployment(deployment_id) or {})["state"] == "pending"
        assert store._db.execute("SELECT COUNT(*) FROM unlocks").fetchone()[0] == 0
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()


def test_unlock_by_an_admin_interrupts_the_holder_ends_its_playbook_and_records_who(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(site, ["root", ME])
    store = site_store(config)
    deployment_id = record(store, this_process())
    runs = load_config(str(config)).runs_dir
    # The wedged run: its worker (the live owner, spared) and the playbook it started (killed).
    worker = sleeper("-m", "orchestrator.worker", deployment_id)
    artifacts = runs / deployment_id / "artifacts" / deployment_id
    playbook = sleeper(env={**os.environ, "AWX_ISOLATED_DATA_DIR": str(artifacts)})
    try:
        store.claim(deployment_id, owner_of(worker.pid) or pytest.fail("the worker is gone"))
        store.set_deployment_state(deployment_id, "running")
        store.start_stage(deployment_id, "thor", "puppet_run")
        before = time.time()
        assert cli.main(["--config", str(config), "unlock", "thor"]) == 0
        said = capsys.readouterr().out
        assert said.startswith(
            f"unlocked thor: thor is held by deployment {deployment_id} (deploy asked by alice (cli), running, "
            "stage puppet_run) since "
        )
        assert said.endswith("; now interrupted, 'resume thor' continues it\n")
        assert playbook.wait(timeout=10) == -9, "what is left of the run on this machine ends"
        assert worker.poll() is None, "a live owner is not killed"
    finally:
        for child in (worker, playbook):
            child.kill()
            child.wait()
    assert store.lock_holders(["thor"]) == []
    (row,) = store._db.execute("SELECT * FROM unlocks").fetchall()
    assert (row["hostname"], row["deployment_id"], row["unlocked_by"]) == ("thor", deployment_id, f"{ME} (cli)")
    assert before <= row["at"] <= time.time()
    thor = store.host_status("thor") or pytest.fail("thor is recorded")
    assert (thor.state, thor.stage, thor.reason) == ("interrupted", "puppet_run", f"unlocked by hand by {ME} (cli)")
    assert (store.deployment(deployment_id) or {})["state"] == "interrupted"
    assert cli.main(["--config", str(config), "unlock", "thor"]) == 2
    assert capsys.readouterr().err == "jarvis: thor is not locked: nothing holds it\n"
    record(store, this_process())  # the host is free for the next run


# -- jarvis status of a host whose owner died -------------------------------------------------------------


def test_status_of_a_host_whose_owner_died_says_interrupted_and_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(site, ["root"])
    store = site_store(config)
    owner = dead_owner()
    deployment_id = record(store, owner)
    store.set_deployment_state(deployment_id, "running")
    store.start_stage(deployment_id, "thor", "cmdb")
    reason = f"jarvis lost it: its process {owner.pid} on {owner.machine} ended without finishing it"

    assert cli.main(["--config", str(config), "status", "thor"]) == 1
    out, err = capsys.readouterr()
    assert err == (
        f"thor: interrupted at stage cmdb (deployment {deployment_id}): {reason}; 'resume thor' continues it\n"
    )
    assert out.startswith(f"thor: interrupted at stage cmdb: {reason} ('jarvis resume thor') (elapsed ")
    assert store.lock_holders(["thor"]) == []

    assert cli.main(["--config", str(config), "status", "thor"]) == 1, "still interrupted, said once"
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("thor: interrupted at stage cmdb: ")


# -- resuming an interrupted host -------------------------------------------------------------------------


def test_resume_of_an_interrupted_host_goes_on_from_the_stage_it_was_in(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "jarvis.db")
    old = record(store, dead_owner(), [THOR, host("odin")])
    store.set_deployment_state(old, "running")
    for stage in ("production_check", "credentials", "instance", "address"):
        store.start_stage(old, "thor", stage)
        store.end_stage(old, "thor", stage, "changed")
    store.merge_facts(old, "thor", {"instance": "i-0123456789abcdef0", "ip": "10.1.2.3"})
    store.start_stage(old, "thor", "ssh")
    runner = DeploymentRunner(Config(home=tmp_path / "home"), store)  # its reap interrupts the old run
    assert (store.deployment(old) or {})["state"] == "interrupted"

    resumed = runner.record_resume("thor", "bob (cli)")

    options = (store.deployment(resumed) or {})["options"]
    assert (options["resume_of"], options["from_stage"]) == (old, "ssh")
    thor = store.host_status("thor", resumed) or pytest.fail("the resume records thor")
    states = {stage.stage: stage.state for stage in thor.stages}
    assert states["validate"] == "ok"
    assert (states["instance"], states["address"]) == ("skipped", "skipped")
    assert {stage.detail for stage in thor.stages if stage.state == "skipped"} == {f"done in {old}"}
    assert (states["production_check"], states["credentials"]) == ("pending", "pending"), "these always run again"
    assert states["ssh"] == states["ready"] == "pending"
    assert thor.facts == {"instance": "i-0123456789abcdef0", "ip": "10.1.2.3"}
    assert [h.hostname for h in store.deployment_hosts(resumed)] == ["thor"], "odin is not part of it"
    learned = runner._host_vars("deploy", [THOR], options)["thor"]
    assert (learned["jarvis_instance"], learned["ansible_host"]) == ("i-0123456789abcdef0", "10.1.2.3")
    assert [h["deployment_id"] for h in store.lock_holders(["thor"])] == [resumed]
    assert (store.deployment(resumed) or {})["owner"] == this_process()
    with pytest.raises(DeploymentError, match=r"thor has no failed or interrupted deployment to resume \(pending\)"):
        runner.record_resume("thor", "carol (cli)")
    with pytest.raises(HostBusy, match=f"thor is held by deployment {resumed} "):
        record(store, this_process())


# -- found in review: each fails today; drop the marker with the fix ---------------------------------------


def test_a_redeploy_interrupted_before_its_first_stage_resumes_from_the_start(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "jarvis.db")
    old = record(store, dead_owner(), kind="redeploy")  # e.g. its worker never started
    runner = DeploymentRunner(Config(home=tmp_path / "home"), store)
    assert (store.host_status("thor") or pytest.fail()).stage is None
    resumed = runner.record_resume("thor", "bob (cli)")
    thor = store.host_status("thor", resumed) or pytest.fail()
    skipped = [stage.stage for stage in thor.stages if stage.state == "skipped"]
    assert skipped == [], f"never ran in {old}, yet marked done there: {skipped}"


def test_a_worker_does_not_run_a_deployment_that_was_interrupted_before_it_started(tmp_path: Path) -> None:
    class Recording:
        ran: list[str] = []

        def execute(self, job: Any, on_event: Any, canceled: Any) -> str:
            self.ran.append(job.ident)
            return "successful"

    store = DeploymentStore(tmp_path / "jarvis.db")
    deployment_id = record(store, dead_owner())  # the bot that recorded it died before the worker claimed it
    executor = Recording()
    runner = DeploymentRunner(Config(home=tmp_path / "home"), store, executor)
    assert (store.deployment(deployment_id) or {})["state"] == "interrupted"
    with contextlib.suppress(DeploymentError):  # refusing is one right answer
        runner.run_recorded(deployment_id).wait(timeout=10)
    assert executor.ran == [], "the playbook ran on a host it holds no lock of"


def test_unlock_records_the_unix_user_it_checked_not_the_environment(
    site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(site, [ME])
    store = site_store(config)
    record(store, this_process())
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "someone-else")
    assert getpass.getuser() == "someone-else"
    assert cli.main(["--config", str(config), "unlock", "thor"]) == 0
    capsys.readouterr()
    (row,) = store._db.execute("SELECT unlocked_by FROM unlocks").fetchall()
    assert row[0] == f"{ME} (cli)"
