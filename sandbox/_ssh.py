"""What the sandbox's own sshd servers (the git server, the remote worker) share: keys and a locked-down config."""

from __future__ import annotations

import subprocess
from pathlib import Path


def keypair(path: Path, comment: str) -> Path:
    """An ed25519 key pair at PATH (private) and PATH.pub, generated once."""
    if not path.exists():
        subprocess.run(  # noqa: S603 - fixed argv
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
        )
    return path


def public_line(private_key: Path) -> str:
    """The public half of PRIVATE_KEY, as an authorized_keys/known_hosts line."""
    return private_key.with_name(private_key.name + ".pub").read_text().strip()


def sshd_config(purpose: str, port: int, host_key: Path, *, user: str, authorized_keys: str) -> str:
    """An sshd on 127.0.0.1:PORT letting only USER in, by key only, with no forwarding or TTY."""
    lines = [
        f"# Written by the jarvis sandbox: {purpose}.",
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        "PidFile none",
        f"AuthorizedKeysFile {authorized_keys}",
        f"AllowUsers {user}",
        f"PermitRootLogin {'prohibit-password' if user == 'root' else 'no'}",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTTY no",
        "PrintMotd no",
        "",
    ]
    return "\n".join(lines)
