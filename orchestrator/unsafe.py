"""The one door through which jarvis hands data to Ansible: every string marked unsafe.

Designs, chat identities, CMDB attributes, provider facts and stored facts are written by people
jarvis does not trust. ansible-core renders any trusted string that holds ``{{ }}`` or ``{% %}``,
and it trusts the inventory and vars files that jarvis (through ansible-runner) writes. So every
string jarvis puts there carries Ansible's unsafe mark, in its JSON form
(``{"__ansible_unsafe": "..."}``, which survives ``json.dumps``, ansible-runner's ``transmit``
and the remote worker), and lands literally: a tag ``{{ 6*7 }}`` stays that text. Mapping keys
are never rendered by Ansible, so they stay plain.
"""

from __future__ import annotations

import json
from typing import Any

UNSAFE_KEY = "__ansible_unsafe"


def mark_unsafe(value: Any) -> Any:
    """VALUE with every string in it (at any depth) marked unsafe, ready for ``json.dumps``."""
    if isinstance(value, str):
        return {UNSAFE_KEY: value}
    if isinstance(value, dict):
        return {str(key): mark_unsafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mark_unsafe(item) for item in value]
    return value


def unmark(value: Any) -> Any:
    """The plain data behind a value built by :func:`mark_unsafe`: what Ansible will see, for checks of it."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE_KEY}:
            return value[UNSAFE_KEY]
        return {key: unmark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unmark(item) for item in value]
    return value


def vars_file_text(variables: dict[str, Any]) -> str:
    """A vars file (for ``-e @file`` or ansible-runner's ``env/extravars``) whose strings are all unsafe."""
    return json.dumps(mark_unsafe(variables))
