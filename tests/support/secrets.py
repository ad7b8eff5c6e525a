"""Looking for secrets where jarvis writes: its home (store, runner artifacts), logs, command output.

The status store is read by a child process, never opened here: POSIX locks belong to a process, so
closing any descriptor of ``jarvis.db`` in this process would drop the SQLite locks that this
process's open stores hold, and another process's writes could then be lost (the store corrupted).
"""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from orchestrator.config import Config
from orchestrator.credentials import SECRET_KEYS

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


def stored_root_secrets(config: Config, fqdn: str) -> dict[str, str]:
    """The root password jarvis keeps, vault-encrypted, for FQDN, and its hash: {root_password, root_password_hash}."""
    vault = VaultLib([("default", VaultSecret(config.vault_password_file.read_bytes().strip()))])  # type: ignore[union-attr]
    document = yaml.safe_load(vault.decrypt((config.secrets_dir / f"{fqdn}.yml").read_bytes()))
    return {key: str(document[key]) for key in ("root_password", "root_password_hash")}


def stored_root_password(config: Config, fqdn: str) -> str:
    """The root password jarvis keeps, vault-encrypted, for FQDN."""
    return stored_root_secrets(config, fqdn)["root_password"]


def known_secrets(config: Config, fqdns: Iterable[str] = ()) -> dict[str, str]:
    """Every secret of CONFIG (what its redactor scrubs) and the root password and hash of each of FQDNS, by name."""
    named = {f"credentials.{group}.{key}": config.credentials.get(group, {}).get(key, "") for group, key in SECRET_KEYS}
    for network in ("irc", "xmpp"):
        named[f"bot.{network}.password"] = str((config.bot.get(network) or {}).get("password") or "")
    named["executor.token"] = str(config.executor.get("token") or "")
    named["vault password"] = config.vault_password()
    secrets = {name: value for name, value in named.items() if len(value) >= 4}
    assert set(config.secret_values()) <= set(secrets.values()), "known_secrets misses a secret of the config"
    assert "vault password" in secrets, f"no vault password in {config.vault_password_file} to look for"
    for fqdn in fqdns:
        stored = stored_root_secrets(config, fqdn)
        secrets[f"root password of {fqdn}"] = stored["root_password"]
        secrets[f"root password hash of {fqdn}"] = stored["root_password_hash"]
    return secrets


def home_files(config: Config) -> list[Path]:
    """Every file under jarvis's home but its (encrypted) secrets, ``secrets/<fqdn>.yml``."""
    return [
        path
        for path in sorted(config.home.rglob("*"))
        if path.is_file() and not (path.parent == config.secrets_dir and path.suffix == ".yml")
    ]


def assert_private_modes(home: Path) -> None:
    """HOME and every directory under it are 0700, every file 0600 (and nothing else lives there)."""
    wrong = []
    for path in [home, *sorted(home.rglob("*"))]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # SQLite removes jarvis.db-wal/-shm when the last connection closes
            continue
        expected = PRIVATE_DIR if stat.S_ISDIR(mode) else PRIVATE_FILE if stat.S_ISREG(mode) else None
        if stat.S_IMODE(mode) != expected:
            wrong.append(f"{oct(stat.S_IMODE(mode))} {path}" if expected else f"not a file nor a directory: {path}")
    assert not wrong, "not private to jarvis's user:\n" + "\n".join(wrong)


def read_safely(path: Path) -> bytes:
    """PATH's bytes; SQLite files are read by `cat` (see the module docstring)."""
    if ".db" in path.name:
        return subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout  # noqa: S603,S607
    return path.read_bytes()


def assert_no_secret(secrets: dict[str, str], places: Iterable[Path], outputs: dict[str, str] | None = None) -> None:
    """No secret (name -> value) in any of the files PLACES nor in OUTPUTS (name -> text)."""
    found = {name: text.encode() for name, text in (outputs or {}).items()}
    found.update({str(place): read_safely(place) for place in places})
    for place, data in found.items():
        for what, secret in secrets.items():
            assert secret.encode() not in data, f"{what} found in {place}"
