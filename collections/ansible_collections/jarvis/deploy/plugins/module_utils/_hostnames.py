# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host names as jarvis accepts them, checked with one pattern everywhere (designs, the CMDB, VMs, secrets)."""

from __future__ import annotations

import re

# One label of a host name (RFC 1123): ASCII letters, digits and inner hyphens, at most 63 characters.
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_NAME = 253


def is_host_name(name: str, fqdn: bool = False) -> bool:
    """Whether NAME is labels joined by dots, at most 253 characters; an FQDN has at least two labels."""
    labels = name.split(".")
    return len(name) <= MAX_NAME and len(labels) >= (2 if fqdn else 1) and all(map(HOSTNAME_RE.match, labels))


def owner_identity(value: str | None) -> str | None:
    """A jarvis identity (a host's fqdn) as owner marks and the CMDB hold it: lower case, no trailing dot."""
    text = (value or "").strip().rstrip(".").lower()
    return text or None
