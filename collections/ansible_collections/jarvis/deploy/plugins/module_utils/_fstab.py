# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lines of /etc/fstab: read, compared and written again, every other line kept as it was."""

from __future__ import annotations

import os
import re


def unescape(field):
    """FIELD of fstab or mountinfo with its octal escapes (a space is written \\040) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def escape(field):
    """FIELD with the characters that would split an fstab line written as octal escapes."""
    return "".join(f"\\{ord(char):03o}" if char in " \t\n\\" else char for char in field)


class FstabEntry:
    """One mount as an fstab line states it; equal entries need no rewrite, whatever the spacing."""

    def __init__(self, src, path, fstype, opts="defaults", dump=0, passno=0):
        self.src = src
        self.path = path
        self.fstype = fstype
        self.opts = opts
        self.dump = dump
        self.passno = passno

    @classmethod
    def parse(cls, line):
        """The entry LINE states, or None for comments, blank and malformed lines (kept as they are)."""
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#"):
            return None
        numbers = []
        for field in fields[4:6]:
            if not field.isdigit():
                return None
            numbers.append(int(field))
        numbers += [0] * (2 - len(numbers))
        opts = fields[3] if len(fields) > 3 else "defaults"
        return cls(unescape(fields[0]), unescape(fields[1]), fields[2], opts, numbers[0], numbers[1])

    @property
    def key(self):
        return (self.src, normal_path(self.path), self.fstype, self.opts, self.dump, self.passno)

    def __eq__(self, other):
        return isinstance(other, FstabEntry) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def line(self):
        fields = (escape(self.src), escape(self.path), self.fstype, self.opts, str(self.dump), str(self.passno))
        return " ".join(fields)


def normal_path(path):
    """PATH without a trailing slash or ``..`` parts, so /srv/cache/ and /srv/cache name one mount point."""
    return os.path.normpath(path) if path.startswith("/") else path


def edit_fstab(text, wanted, removed):
    """TEXT with one line per WANTED entry and none for the REMOVED mount points; other lines untouched.

    A line for a wanted mount point that already says the same is kept as written; one that differs is
    replaced where it stands; further lines for that mount point go; new entries are appended.
    """
    by_path = {normal_path(entry.path): entry for entry in wanted}
    gone = {normal_path(path) for path in removed}
    placed = set()
    lines = []
    for line in text.splitlines(keepends=True):
        entry = FstabEntry.parse(line)
        path = normal_path(entry.path) if entry else None
        if path in gone:
            continue
        if path in by_path:
            if path in placed:
                continue
            placed.add(path)
            if entry != by_path[path]:
                line = by_path[path].line() + "\n"
        lines.append(line)
    new = [entry.line() + "\n" for path, entry in by_path.items() if path not in placed]
    if new and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines + new)


def fstab_paths(text):
    """The mount points TEXT has an entry for."""
    entries = (FstabEntry.parse(line) for line in text.splitlines())
    return {normal_path(entry.path) for entry in entries if entry}


def entries_for(text, path):
    """The entries of fstab TEXT for mount point PATH, in order (more than one is a mistake to mend)."""
    entries = (FstabEntry.parse(line) for line in text.splitlines())
    return [entry for entry in entries if entry and normal_path(entry.path) == path]
