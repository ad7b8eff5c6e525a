"""The memory of a process and all its descendants, sampled while a benchmark runs."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType


def descendants(root: int, pruned: frozenset[int] = frozenset()) -> list[int]:
    """ROOT and every process below it, from /proc's parent links, leaving out the subtrees of PRUNED."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(child for child in children.get(pid, []) if child not in pruned)
    return found


def tree_memory(root: int, pruned: frozenset[int] = frozenset()) -> tuple[int, int]:
    """(RSS, PSS) in bytes summed over ROOT's tree but PRUNED's subtrees; PSS shares copy-on-write pages fairly."""
    rss = pss = 0
    for pid in descendants(root, pruned):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


class PeakMemory:
    """The highest RSS and PSS of this process's tree while the ``with`` block runs, sampled every INTERVAL s.

    Processes that were already below this one when the block began (the sandbox's servers, and what they
    start, such as the hosts) are not counted: only jarvis, ansible and its forks.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._pruned: frozenset[int] = frozenset()
        self.rss = self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss, pss = tree_memory(os.getpid(), self._pruned)
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)

    def __enter__(self) -> PeakMemory:
        self._pruned = frozenset(descendants(os.getpid())) - {os.getpid()}
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
