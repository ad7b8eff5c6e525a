# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH public key lines (``type base64-data comment``): the one parser of the collection.

Pure Python on purpose: root_keypair and gitosis_key run on deployed hosts, whose Debian python3 has no
``cryptography``, and that library's ``load_ssh_public_key`` refuses the security-key (``sk-``) types
gitosis accepts.
"""

from __future__ import annotations

import base64
import hashlib
from typing import NamedTuple

# The public key types jarvis accepts, in the order an error lists them.
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
# The kinds of key ssh-keygen makes and ssh-keyscan asks for, as their -t option names them.
KEY_KINDS = ("ed25519", "ecdsa", "rsa")


class PublicKeyError(ValueError):
    """Why a text is not one OpenSSH public key line; the message starts with what the caller calls it."""


class PublicKey(NamedTuple):
    """The fields of a public key line; a missing one is empty."""

    type: str
    data: str
    comment: str

    @classmethod
    def from_line(cls, line: str) -> PublicKey:
        """LINE split at runs of whitespace into type, data and the comment (kept whole); nothing is checked."""
        fields = line.split(None, 2)
        return cls(*fields, *[""] * (3 - len(fields)))

    def line(self) -> str:
        """The fields joined by single spaces, as ssh-keygen writes them."""
        return " ".join(field for field in self if field)

    @property
    def kind(self) -> str:
        """ed25519, rsa or ecdsa (ssh-keygen's -t name) for the types ssh-keygen makes; the type itself else."""
        if self.type.startswith("ecdsa-"):
            return "ecdsa"
        return self.type[4:] if self.type.startswith("ssh-") else self.type


def parse_public_key(text: str | None, what: str = "public key") -> PublicKey:
    """The one public key line TEXT (surrounding whitespace trimmed), its data checked against its type.

    PublicKeyError, naming WHAT, when TEXT is empty, several lines, of an unknown type, or its data is
    not base64 of a key of that type.
    """
    text = (text or "").strip()
    if not text:
        raise PublicKeyError(f"{what} is empty")
    if "\n" in text or "\r" in text:
        raise PublicKeyError(f"{what} must be exactly one OpenSSH public key line")
    key = PublicKey.from_line(text)
    if key.type not in KEY_TYPES:
        raise PublicKeyError(f"{what} does not start with a known key type ({', '.join(KEY_TYPES)})")
    if not key.data:
        raise PublicKeyError(f"{what} has no key data after its type")
    try:
        blob = key_blob(key.data)
    except ValueError:
        raise PublicKeyError(f"{what}'s key data is not valid base64") from None
    name_length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + name_length] != key.type.encode():
        raise PublicKeyError(f"{what}'s key data is not a {key.type} key")
    return key


def key_blob(data: str) -> bytes:
    """The key blob the base64 DATA of a key line encodes; binascii.Error (a ValueError) when it is not base64."""
    return base64.b64decode(data, validate=True)


def fingerprint(blob: bytes) -> str:
    """The SHA256:... fingerprint of a key blob, exactly as ssh-keygen -l prints it (unpadded base64)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
