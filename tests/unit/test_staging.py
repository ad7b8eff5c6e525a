"""Credentials staged under <home>/private: private while in use, gone after, and swept when their owner died."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from orchestrator.staging import owner_prefix, remove_leftovers, staged_dir, staged_file


def test_a_staged_file_is_private_and_removed_after_use(tmp_path: Path) -> None:
    directory = tmp_path / "private"
    with staged_file(directory, "d1", '{"secret": 1}') as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert path.name.startswith(owner_prefix("d1"))
    assert not path.exists()


def test_leftovers_of_a_dead_process_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    directory = tmp_path / "private"
    # A process that stages a file and a directory, then dies without cleaning up.
    code = (
        "import os, sys; from pathlib import Path; from orchestrator.staging import staged_file, staged_dir\n"
        "d = Path(sys.argv[1])\n"
        "held = [staged_file(d, 'dead', 'x'), staged_dir(d, 'dead')]; s = [c.__enter__() for c in held][1]\n"
        "(s / 'extravars').write_text('secret'); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(directory)], check=True)  # noqa: S603
    foreign = directory / "notes.txt"
    foreign.write_text("not jarvis's")
    with staged_file(directory, "alive", "y") as mine, staged_dir(directory, "alive") as my_dir:
        left = {path.name for path in directory.iterdir()}
        assert len(left) == 5
        removed = remove_leftovers(directory)
        assert len(removed) == 2 and all("-dead-" in path.name for path in removed)
        assert mine.exists() and my_dir.exists() and foreign.exists()
    assert sorted(path.name for path in directory.iterdir()) == ["notes.txt"]
