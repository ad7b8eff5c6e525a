"""jarvis.deploy.root_credentials: a root password that exists only vault-encrypted."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.support.ansible import run_module

VAULT_PASSWORD = "correct horse battery staple"


def stored(path: Path) -> dict[str, str]:
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    return yaml.safe_load(vault.decrypt(path.read_bytes()))


def test_four_beats_and_rotation(tmp_path: Path) -> None:
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    args = {
        "name": "loki.websages.com",
        "secrets_dir": str(tmp_path / "secrets"),
        "vault_password_file": str(password_file),
    }
    secret = tmp_path / "secrets" / "loki.websages.com.yml"

    planned = run_module("root_credentials", args, check=True)
    assert planned["changed"] is True and not secret.exists()
    made = run_module("root_credentials", args)
    assert made["changed"] is True and made["path"] == str(secret)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    content = stored(secret)
    assert made["password_hash"] == content["root_password_hash"] and made["password_hash"].startswith("$6$")
    assert content["root_password"] not in secret.read_text()
    assert content["root_password"] not in made["_stdout"]
    for check in (True, False):
        again = run_module("root_credentials", args, check=check)
        assert again["changed"] is False and again["password_hash"] == made["password_hash"]

    rotated = run_module("root_credentials", {**args, "rotate": True})
    assert rotated["changed"] is True and rotated["password_hash"] != made["password_hash"]
    assert stored(secret)["root_password"] != content["root_password"]


def test_a_wrong_vault_password_fails_without_touching_the_file(tmp_path: Path) -> None:
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    args = {"name": "odin.websages.com", "secrets_dir": str(tmp_path / "s"), "vault_password_file": str(password_file)}
    run_module("root_credentials", args)
    before = (tmp_path / "s" / "odin.websages.com.yml").read_bytes()
    password_file.write_text("another password")
    failed = run_module("root_credentials", args)
    assert failed["failed"] is True and "cannot keep the root password" in failed["msg"]
    assert (tmp_path / "s" / "odin.websages.com.yml").read_bytes() == before


def test_names_cannot_escape_the_secrets_dir(tmp_path: Path) -> None:
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    args = {"name": "../etc/passwd", "secrets_dir": str(tmp_path / "s"), "vault_password_file": str(password_file)}
    failed = run_module("root_credentials", args)
    assert failed["failed"] is True and "host name" in failed["msg"]
    assert not (tmp_path / "s").exists()


def test_a_returned_password_is_hidden_from_output(tmp_path: Path) -> None:
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    args = {"name": "vidar.websages.com", "secrets_dir": str(tmp_path), "vault_password_file": str(password_file)}
    result = run_module("root_credentials", {**args, "return_password": True})
    password = stored(tmp_path / "vidar.websages.com.yml")["root_password"]
    assert "password" not in result or result["password"] != password
    assert password not in result["_stdout"]
