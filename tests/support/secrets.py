"""Looking for secrets where jarvis writes: its home (store, runner artifacts), logs, command output.

The status store is read by a child process, never opened here: POSIX locks belong to a process, so
closing any descriptor of ``jarvis.db`` in this process would drop the SQLite locks that this
process's open stores hold, and another process's writes could then be lost (the store corrupted).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from orchestrator.config import Config


def stored_root_password(config: Config, fqdn: str) -> str:
    """The root password jarvis keeps, vault-encrypted, for FQDN."""
    vault = VaultLib([("default", VaultSecret(config.vault_password_file.read_bytes().strip()))])  # type: ignore[union-attr]
    return str(yaml.safe_load(vault.decrypt((config.secrets_dir / f"{fqdn}.yml").read_bytes()))["root_password"])


def home_files(config: Config) -> list[Path]:
    """Every file under jarvis's home but its (encrypted) secrets."""
    return [path for path in config.home.rglob("*") if path.is_file() and "secrets" not in path.parts]


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
