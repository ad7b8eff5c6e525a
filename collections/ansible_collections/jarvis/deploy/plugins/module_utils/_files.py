# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files read whole and replaced whole, so that no reader ever sees half of one and no temporary file stays."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


def read_text(path: str) -> str:
    """The UTF-8 text of PATH, or "" when it does not exist (yet); other failures raise OSError."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def existing(path: str) -> os.stat_result | None:
    """PATH's stat, or None when there is no such file; other failures raise OSError."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def write_atomically(path: str, data: str | bytes, mode: int, like: os.stat_result | None = None) -> None:
    """Replace PATH with DATA (text is written as UTF-8) through a temporary file beside it and a rename.

    The new file gets MODE, or, given LIKE (the stat of the file it replaces), that file's owner and mode.
    Whatever fails, the temporary file is removed and the error raised; PATH is then left as it was.
    """
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            if like is not None:
                os.fchown(handle.fileno(), like.st_uid, like.st_gid)
            os.fchmod(handle.fileno(), stat.S_IMODE(like.st_mode) if like is not None else mode)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
