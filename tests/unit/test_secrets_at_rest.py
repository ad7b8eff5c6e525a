"""Secrets at rest: jarvis's home is private whatever the umask, and the redactor knows every secret.

The last test runs a real ``jarvis deploy`` against a real slapd and named and moto's EC2, which refuses the
design's AMI: the run passes production_check (which reads all three), the credentials stage makes a real root
password, and the run ends at the instance stage.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from orchestrator.config import Config, load_config
from orchestrator.design import parse_design
from orchestrator.job import CancelCheck, EventHandler, Job
from orchestrator.runner import DeploymentRunner, StoredRootPasswords, make_redactor
from orchestrator.store import DeploymentStore
from sandbox import named, slapd
from sandbox._process import free_port, wait_for_port
from tests.support.secrets import assert_no_secret, assert_private_modes, home_files, known_secrets

REPO = Path(__file__).resolve().parents[2]
TASKS = "/x/ansible_collections/jarvis/deploy/roles/pipeline/tasks"
VAULT_PASSWORD = "vault-password-never-shown"
DESIGN = """
instance: {hostname: loki, fqdn: loki.websages.com, provider: EC2, guestid: ami-0123456789abcdef0,
           datacenter: Atlanta, size: 512}
"""


@pytest.fixture(autouse=True)
def keep_umask() -> Iterator[None]:
    """Each test may set the umask (a DeploymentRunner does): give the next one the umask it found."""
    found = os.umask(0o022)
    os.umask(found)
    yield
    os.umask(found)


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def site(tmp_path: Path) -> Config:
    vault_password_file = tmp_path / "etc" / "vault-password"
    vault_password_file.parent.mkdir()
    vault_password_file.write_text(f"  {VAULT_PASSWORD}\n")
    return Config(home=tmp_path / "home", vault_password_file=vault_password_file)


def keep_root_password(config: Config, fqdn: str, password: str) -> None:
    """What the credentials stage writes: the password and its hash, vault-encrypted."""
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    document = yaml.safe_dump({"root_password": password, "root_password_hash": f"$6$salt${password[::-1]}"})
    config.secrets_dir.mkdir(parents=True, exist_ok=True)
    temporary = config.secrets_dir / f".{fqdn}.tmp"
    temporary.write_bytes(vault.encrypt(document))
    temporary.replace(config.secrets_dir / f"{fqdn}.yml")  # as the plugin does: a new file, never rewritten


def event(kind: str, stage: str, **res: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": "loki", "task_path": f"{TASKS}/{stage}.yml:3", "res": res}}


# --- the redactor ------------------------------------------------------------------------------------


def test_the_redactor_also_hides_secrets_found_later_longest_first() -> None:
    later: list[str] = []
    redact = make_redactor(["token-1234", ""], lambda: later)
    assert redact("a token-1234 b") == "a ******** b"
    later += ["root-pw-1", "root-pw-12", ""]
    assert redact("root-pw-12 root-pw-1 token-1234") == "******** ******** ********"
    assert redact("nothing here") == "nothing here"


def test_the_config_s_secrets_include_the_vault_password(tmp_path: Path) -> None:
    config = site(tmp_path)
    assert VAULT_PASSWORD in config.secret_values()
    assert f"  {VAULT_PASSWORD}" not in config.secret_values()  # as the collection reads it: blanks dropped
    config.vault_password_file = tmp_path / "missing"
    assert config.secret_values() == []


def test_root_passwords_are_read_from_the_vault_once_per_version_of_their_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site(tmp_path)
    passwords = StoredRootPasswords(config.secrets_dir, config.vault_password_file)
    passwords.watch(["Loki.websages.com", "odin.websages.com"])
    assert passwords() == set()  # nothing made yet
    decrypted: list[Path] = []
    decrypt = passwords._decrypt
    monkeypatch.setattr(passwords, "_decrypt", lambda path: decrypted.append(path) or decrypt(path))
    keep_root_password(config, "loki.websages.com", "first-root-password")
    assert passwords() == {"first-root-password", "$6$salt$drowssap-toor-tsrif"}
    assert passwords() == {"first-root-password", "$6$salt$drowssap-toor-tsrif"}
    assert len(decrypted) == 1, "an unchanged file is not decrypted again"
    keep_root_password(config, "loki.websages.com", "rotated-root-password")  # a redeploy rotates it
    assert {"first-root-password", "rotated-root-password"} <= passwords()
    keep_root_password(config, "thor.websages.com", "not-watched-password")
    assert "not-watched-password" not in passwords()


def test_unreadable_secrets_are_skipped_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = site(tmp_path)
    keep_root_password(config, "loki.websages.com", "the-root-password")
    (config.secrets_dir / "odin.websages.com.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\nnot really\n")
    wrong = tmp_path / "wrong-password"
    wrong.write_text("another-password")
    for vault_password_file in (wrong, tmp_path / "missing", None):
        passwords = StoredRootPasswords(config.secrets_dir, vault_password_file)
        passwords.watch(["loki.websages.com", "odin.websages.com"])
        assert passwords() == set()
    assert caplog.records == []


class CredentialsThenFailure:
    """An executor whose run makes loki's root password, then rotates it, then fails quoting every secret."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def execute(self, job: Job, on_event: EventHandler, canceled: CancelCheck) -> str:
        keep_root_password(self.config, "loki.websages.com", "first-root-password")
        on_event(event("runner_on_start", "credentials"))
        on_event(event("runner_on_ok", "credentials", changed=True, actions=["made first-root-password"]))
        keep_root_password(self.config, "loki.websages.com", "second-root-password")
        on_event(event("runner_on_start", "instance"))
        msg = f"leaked {VAULT_PASSWORD}, first-root-password, second-root-password, $6$salt$drowssap-toor-dnoces"
        on_event(event("runner_on_failed", "instance", msg=msg))
        return "failed"


def test_a_deployment_s_store_never_holds_the_vault_password_nor_its_hosts_root_passwords(tmp_path: Path) -> None:
    config = site(tmp_path)
    store = DeploymentStore(config.store_path)
    runner = DeploymentRunner(config, store, CredentialsThenFailure(config))
    assert runner.redact(f"the vault password is {VAULT_PASSWORD}") == "the vault password is ********"
    running = runner.start(parse_design(DESIGN, "test"), "pytest")
    assert running.wait(timeout=30) == "failed"
    host = store.deployment_hosts(running.id)[0]
    stages = {stage.stage: stage for stage in host.stages}
    assert stages["credentials"].actions == ["made ********"]
    assert host.reason == "leaked ********, ********, ********, ********"
    store.close()


# --- modes -------------------------------------------------------------------------------------------


def test_the_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0)
    home = tmp_path / "home"
    store = DeploymentStore(home / "jarvis.db")
    store.create_deployment([], [], source="t", requested_by="me")
    assert {path.name for path in home.iterdir()} >= {"jarvis.db", "jarvis.db-wal", "jarvis.db-shm"}
    assert_private_modes(home)
    store.close()


def test_an_older_store_readable_by_others_is_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    DeploymentStore(home / "jarvis.db").close()
    (home / "jarvis.db").chmod(0o644)
    DeploymentStore(home / "jarvis.db").close()
    assert stat.S_IMODE((home / "jarvis.db").stat().st_mode) == 0o600


def test_every_entry_point_makes_what_it_writes_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import app
    from orchestrator import cli, worker

    config = tmp_path / "config.yml"
    config.write_text("{}\n")
    monkeypatch.setenv("JARVIS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JARVIS_CONFIG", str(config))
    os.umask(0)
    assert cli.main(["status", "nobody"]) == 2  # nothing recorded, but the store is made
    assert umask() == 0o077
    assert_private_modes(tmp_path / "home")
    os.umask(0)
    assert app.main([]) == 2  # no chat network configured
    assert umask() == 0o077
    os.umask(0)
    with pytest.raises(Exception, match="no deployment"):
        worker.main(["20260101-000000-nothing"])
    assert umask() == 0o077


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The credentials of a real slapd, a real named and moto's EC2 (validating AMIs), for one test."""
    ldap = slapd.start(tmp_path / "slapd")
    dns = named.start(tmp_path / "named")
    port = free_port()
    moto = subprocess.Popen(  # noqa: S603 - moto's own server, beside this interpreter
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "MOTO_ENABLE_AMI_VALIDATION": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 30)
        yield {
            "ldap": {"uri": ldap.uri, "bind_dn": ldap.bind_dn, "bind_password": ldap.bind_password},
            "hosts_dn": ldap.hosts_dn,
            "dns": {"server": dns.server, "port": dns.port, "key_name": dns.tsig_key_name},
            "tsig": {"key_secret": dns.tsig_secret, "key_algorithm": dns.tsig_algorithm},
            # moto refuses the design's AMI: the instance stage fails
            "aws": {"endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1"},
        }
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        named.stop(tmp_path / "named")
        slapd.stop(tmp_path / "slapd")


def test_a_deployment_under_umask_0_leaves_only_private_files_and_no_secret(
    tmp_path: Path, servers: dict[str, Any]
) -> None:
    """The real pipeline: credentials made (root password, hash, vault password), artifacts written."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "vault-password").write_text(VAULT_PASSWORD + "\n")
    (etc / "design.yml").write_text(DESIGN)
    aws = {"access_key": "AKIAEXAMPLE", "secret_key": "aws-secret-key-never-shown", **servers["aws"]}
    credentials = {
        "aws": aws,
        "ldap": {**servers["ldap"], "hosts_dn": servers["hosts_dn"]},
        "dns": {**servers["dns"], **servers["tsig"]},
    }
    config_file = etc / "config.yml"
    config_file.touch(mode=0o600)
    config_file.write_text(
        yaml.safe_dump(
            {"vault_password_file": str(etc / "vault-password"), "credentials": credentials, "zones": ["websages.com"]}
        )
    )
    home = tmp_path / "home"
    env = {
        **os.environ,
        "JARVIS_HOME": str(home),
        "JARVIS_CONFIG": str(config_file),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }

    def jarvis(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "orchestrator.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            preexec_fn=lambda: os.umask(0),  # noqa: PLW1509 - the umask is the point
            timeout=300,
        )

    deployed = jarvis("deploy", str(etc / "design.yml"))
    assert deployed.returncode == 1, deployed.stdout + deployed.stderr
    status = json.loads(jarvis("status", "loki", "--json").stdout)
    stages = {stage["stage"]: stage for stage in status["stages"]}
    assert (status["state"], status["stage"]) == ("failed", "instance"), status
    # The credentials stage shows what it did: its result has no secret in it, so it is not censored.
    assert stages["credentials"]["state"] == "changed"
    assert stages["credentials"]["actions"] == [
        f"create the root password of loki.websages.com, vault-encrypted in {home}/secrets/loki.websages.com.yml"
    ]

    assert_private_modes(home)
    config = load_config(str(config_file))
    config.home = home
    secrets = known_secrets(config, ["loki.websages.com"])
    assert {"vault password", "root password of loki.websages.com", "root password hash of loki.websages.com"} <= set(
        secrets
    )
    places = home_files(config)
    assert any("job_events" in path.parts for path in places) and any(path.name == "jarvis.db" for path in places)
    assert not any(path.parent == config.secrets_dir for path in places)
    assert_no_secret(secrets, places, {"stdout": deployed.stdout, "stderr": deployed.stderr})
