"""Pinned designs: what a deployment stores of its design, which stored design a command acts on, and the
drift report (the one-line note and short diff when the source now says otherwise)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.sources import gist_raw_url
from orchestrator.config import Config
from orchestrator.design import Design, parse_design
from orchestrator.errors import DeploymentError, DesignError
from orchestrator.pinned import cluster_design, drift_lines, host_design, host_diff, pinned_design, read_source
from orchestrator.run_options import RunOptions
from orchestrator.runner import DeploymentRunner
from orchestrator.store import DeploymentStore

CLUSTER = {
    "defaults": {"provider": "ec2", "image": "ami-0123456789abcdef0", "region": "Atlanta", "size": 512},
    "instances": [
        {"hostname": "odin", "fqdn": "odin.websages.com", "standby": "frigg.websages.com"},
        {
            "hostname": "thor",
            "fqdn": "thor.websages.com",
            "mounts": [{"src": "tmpfs", "path": "/srv", "fstype": "tmpfs"}],
        },
    ],
}


def cluster_text(**changes: Any) -> str:
    document = json.loads(json.dumps(CLUSTER))
    for name, fields in changes.items():
        host = next(h for h in document["instances"] if h["hostname"] == name)
        host.update(fields)
    return yaml.safe_dump(document, sort_keys=False)


def runner(tmp_path: Path) -> tuple[DeploymentRunner, DeploymentStore]:
    config = Config(home=tmp_path / "home")
    store = DeploymentStore(":memory:")
    return DeploymentRunner(config, store), store


# -- what a design and a deployment keep ---------------------------------------------------------------


def test_a_design_keeps_its_text_digest_and_resolved_source() -> None:
    raw = cluster_text().encode()
    design = parse_design(raw, "https://gist.example/x", resolved_source="https://gist.example/x/raw/abc/x.yml")
    assert design.text == raw.decode() and design.digest == hashlib.sha256(raw).hexdigest()
    assert (design.source, design.resolved_source) == ("https://gist.example/x", "https://gist.example/x/raw/abc/x.yml")
    assert parse_design(raw, "cn=odin").resolved_source == "cn=odin", "as given when nothing redirects"


def test_only_picks_hosts_and_marks_the_pick() -> None:
    design = parse_design(cluster_text(), "cluster.yml")
    thor = design.only(["thor"])
    assert thor.hostnames == ["thor"] and thor.partial and thor.digest == design.digest
    assert not design.only(["thor", "odin"]).partial, "all of them is the cluster"
    with pytest.raises(DesignError, match="cluster.yml has no host loki \\(it has odin, thor\\)"):
        design.only(["loki"])


def test_gist_pages_keep_the_revision_they_name() -> None:
    revision = "0123456789abcdef0123456789abcdef01234567"
    assert gist_raw_url(f"https://gist.github.com/whitejs/912450/{revision}") == (
        f"https://gist.githubusercontent.com/whitejs/912450/raw/{revision}"
    )
    assert (
        gist_raw_url("https://gist.github.com/whitejs/912450")
        == "https://gist.githubusercontent.com/whitejs/912450/raw"
    )
    pinned = f"https://gist.githubusercontent.com/whitejs/912450/raw/{revision}/loki.yml"
    assert gist_raw_url(pinned) == pinned


def test_a_deployment_stores_its_design_and_status_shows_it(tmp_path: Path) -> None:
    run, store = runner(tmp_path)
    design = parse_design(cluster_text(), "cluster.yml", resolved_source="/srv/designs/cluster.yml")
    deployment_id = run.record(design, "me")
    stored = store.stored_design(deployment_id)
    assert stored is not None
    assert (stored.text, stored.digest, stored.resolved_source) == (design.text, design.digest, design.resolved_source)
    assert stored.hosts == design.hosts and "scope" not in stored.options
    status = store.host_status("odin")
    assert status is not None
    assert status.as_dict()["design"] == {"digest": design.digest, "source": "/srv/designs/cluster.yml"}
    validate = next(stage for stage in status.stages if stage.stage == "validate")
    assert validate.detail == f"design from cluster.yml (sha256 {design.digest[:12]})"


def test_an_older_store_gains_the_design_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE deployments (id TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, "
        "requested_by TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL, ended_at REAL)"
    )
    db.execute("INSERT INTO deployments VALUES ('20260101-000000-aaaaaa', 'deploy', 'x.yml', 'me', 'successful', 1, 2)")
    db.commit()
    db.close()
    stored = DeploymentStore(path).stored_design("20260101-000000-aaaaaa")
    assert stored is not None and (stored.text, stored.digest, stored.hosts) == (None, None, [])


# -- which stored design a command acts on -------------------------------------------------------------


def test_redeploy_and_destroy_take_the_host_from_its_last_build(tmp_path: Path) -> None:
    run, store = runner(tmp_path)
    first = parse_design(cluster_text(), "cluster.yml")
    deployed = run.record(first, "me")
    store.set_deployment_state(deployed, "successful")  # done: its hosts are free for the next run
    time.sleep(0.01)
    run.record(parse_design(cluster_text(odin={"size": 2048}), "cluster.yml"), "me", RunOptions(check=True))  # a plan
    time.sleep(0.01)
    destroyed = run.record(pinned_design(store.stored_design(deployed), ["thor"]), "me", RunOptions(kind="destroy"))  # type: ignore[arg-type]

    thor, stored = host_design(store, "thor")
    assert stored.deployment_id == deployed, "a plan built nothing; a destroy neither"
    assert thor.hosts == [h for h in first.hosts if h["hostname"] == "thor"] and thor.partial
    assert (thor.text, thor.digest, thor.source) == (first.text, first.digest, "cluster.yml")
    assert store.stored_design(destroyed).options["scope"] == "host"  # type: ignore[union-attr]
    with pytest.raises(DeploymentError, match="loki: no deployment of it is recorded"):
        host_design(store, "loki")


def test_a_resume_keeps_the_design_of_the_run_it_continues(tmp_path: Path) -> None:
    run, store = runner(tmp_path)
    deployed = run.record(parse_design(cluster_text(), "cluster.yml"), "me")
    store.finish_host(deployed, "thor", "failed", "boom", "dns")
    resumed = run.record_resume("thor", "me")
    stored = store.stored_design(resumed)
    original = store.stored_design(deployed)
    assert stored is not None and original is not None
    assert (stored.text, stored.digest, stored.hostnames) == (original.text, original.digest, ["thor"])
    assert host_design(store, "thor")[1].deployment_id == resumed


def test_the_cluster_forms_find_a_deployment_by_id_or_by_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, store = runner(tmp_path)
    (tmp_path / "designs").mkdir()
    monkeypatch.chdir(tmp_path)
    absolute = str(tmp_path / "designs" / "cluster.yml")  # as chat records a file source
    whole = run.record(parse_design(cluster_text(), absolute), "me")
    store.set_deployment_state(whole, "successful")
    time.sleep(0.01)
    plan = run.record(parse_design(cluster_text(), absolute), "me", RunOptions(check=True))
    time.sleep(0.01)
    pick = run.record(parse_design(cluster_text(), absolute).only(["odin"]), "me", RunOptions(kind="redeploy"))

    by_source, stored = cluster_design(store, "designs/cluster.yml")
    assert stored.deployment_id == whole and by_source.hostnames == ["odin", "thor"], "a per-host pick is no cluster"
    assert not by_source.partial
    assert cluster_design(store, pick)[0].hostnames == ["odin"]
    with pytest.raises(DeploymentError, match=f"deployment {plan} was a plan"):
        cluster_design(store, plan)
    with pytest.raises(DeploymentError, match="no deployment 20990101-000000-abcdef is recorded"):
        cluster_design(store, "20990101-000000-abcdef")
    with pytest.raises(DeploymentError, match="no deployment of the whole design other.yml"):
        cluster_design(store, "other.yml")


def test_a_stored_design_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    run, store = runner(tmp_path)
    deployed = run.record(parse_design(cluster_text(), "cluster.yml"), "me")
    store._db.execute("UPDATE deployments SET design_text = design_text || '#' WHERE id = ?", (deployed,))
    with pytest.raises(DeploymentError, match="does not match its sha256"):
        host_design(store, "odin")


# -- the drift report ------------------------------------------------------------------------------------


def test_host_diff_names_the_keys_that_changed() -> None:
    old = parse_design(cluster_text(), "c").hosts[1]
    new = parse_design(cluster_text(thor={"size": 2048, "image": "ami-0fedcba9876543210"}), "c").hosts[1]
    new = {**new, "mounts": [{**new["mounts"][0], "path": "/data"}]}
    assert host_diff(old, new) == [
        "- image: ami-0123456789abcdef0",
        "+ image: ami-0fedcba9876543210",
        "- mounts[0].path: /srv",
        "+ mounts[0].path: /data",
        f"- size: {old['size']}",
        f"+ size: {new['size']}",
    ]
    assert host_diff(old, old) == []


def test_host_diff_shows_added_and_removed_keys_and_stops_after_a_few_lines() -> None:
    old = {"hostname": "odin", "tags": {"role": "web"}, "ssh_keys": ["a"]}
    new = {"hostname": "odin", "tags": {"role": "db", "tier": "1"}, "ssh_keys": ["a", "b"], "note": " x\n"}
    assert host_diff(old, new) == [
        '+ note: " x\\n"',
        '- ssh_keys: ["a"]',
        '+ ssh_keys: ["a", "b"]',
        "- tags.role: web",
        "+ tags.role: db",
        "+ tags.tier: 1",
    ]
    assert host_diff(old, new, limit=3)[-1] == "(and 3 more lines)"
    assert len(host_diff({"k": "x" * 500}, {"k": "y"})[0]) < 80, "long values are cut"


def test_drift_lines_say_what_changed_and_how_to_take_it() -> None:
    pinned = parse_design(cluster_text(), "https://designs.example/cluster.yml")
    thor = pinned.only(["thor"])
    hint = "'redeploy {} from-source'".format
    assert drift_lines(thor, "D1", parse_design(cluster_text(odin={"size": 4096}), "s"), hint) == [], (
        "odin's is not thor's"
    )
    now = parse_design(cluster_text(thor={"standby": "frigg.websages.com"}), "s")
    changed = drift_lines(thor, "D1", now, hint)
    assert changed[0] == (
        "https://designs.example/cluster.yml now says otherwise about thor than deployment D1 "
        f"(sha256 {pinned.digest[:12]}), which this run uses; 'redeploy thor from-source' takes the new one:"
    )
    assert changed[1:] == ["  - standby: null", "  + standby: frigg.websages.com"]
    gone = Design("s", {}, [h for h in pinned.hosts if h["hostname"] == "odin"])
    assert drift_lines(thor, "D1", gone, hint) == [
        "https://designs.example/cluster.yml no longer has thor; going on with thor as deployment D1 had it"
    ]
    assert drift_lines(thor, "D1", "answered 404 Not Found", hint) == [
        "could not read https://designs.example/cluster.yml now to compare (answered 404 Not Found); "
        "going on with the design of D1"
    ]


def test_reading_the_source_is_bounded_and_says_why_it_failed() -> None:
    def slow(source: str) -> Design:
        time.sleep(2)
        raise AssertionError("never heard")

    started = time.monotonic()
    assert read_source(slow, "x", timeout=0.2) == "no answer within 0.2s"
    assert time.monotonic() - started < 1

    def broken(source: str) -> Design:
        raise DesignError("design", "is not valid YAML")

    assert read_source(broken, "x") == "design: is not valid YAML"
    assert isinstance(read_source(lambda source: parse_design(cluster_text(), source), "x"), Design)
