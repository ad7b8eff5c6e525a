# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One time budget per task, shared by every wait in it (never reset per wait)."""

from __future__ import annotations

import time


class Budget:
    """The one wait_timeout of a task, shared by every wait in it."""

    def __init__(self, seconds):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self):
        return self._end - time.monotonic()
