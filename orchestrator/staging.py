"""Where credentials wait, briefly and privately, for a playbook run: ``<home>/private``.

Each staged file or directory is named after the process that made it (pid and start time), so that
the next jarvis process can tell what a crashed one left behind and remove it, without touching what
a live process is using right now.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from orchestrator.leases import process_start

_OWNED = re.compile(r"^jarvis-(?P<pid>\d+)\.(?P<start>\d+)-")


def owner_prefix(ident: str) -> str:
    """The name prefix of what this process stages for deployment IDENT."""
    pid = os.getpid()
    return f"jarvis-{pid}.{process_start(pid) or 0}-{ident}-"


def _owner_alive(name: str) -> bool:
    match = _OWNED.match(name)
    if match is None:
        return True  # not ours to judge
    return str(process_start(int(match["pid"]))) == match["start"]


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove what processes that have died staged in DIRECTORY; return what was removed."""
    removed: list[Path] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            if _owner_alive(entry.name):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def staged_file(directory: Path, ident: str, text: str) -> Iterator[Path]:
    """TEXT in a new file of mode 0600 in DIRECTORY (mode 0700), removed when the block ends."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, name = tempfile.mkstemp(dir=directory, prefix=owner_prefix(ident), suffix=".json")
    path = Path(name)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_dir(directory: Path, ident: str) -> Iterator[Path]:
    """A new private directory in DIRECTORY, removed with everything in it when the block ends."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(tempfile.mkdtemp(prefix=owner_prefix(ident), dir=directory))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
