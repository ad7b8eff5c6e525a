# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files replaced whole: the mode asked for or the replaced file's, and never a temporary file left behind."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._files import existing, read_text, write_atomically


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_missing_file_reads_as_empty_and_has_no_stat(tmp_path):
    assert read_text(str(tmp_path / "missing")) == ""
    assert existing(str(tmp_path / "missing")) is None


def test_other_read_failures_are_raised(tmp_path):
    with pytest.raises(IsADirectoryError):
        read_text(str(tmp_path))


@pytest.mark.parametrize(("data", "written"), [("text ✓\n", "text ✓\n".encode()), (b"\x00bytes", b"\x00bytes")])
def test_text_is_written_as_utf8_and_bytes_as_they_are(tmp_path, data, written):
    path = tmp_path / "file"
    write_atomically(str(path), data, 0o600)
    assert path.read_bytes() == written
    assert mode(path) == 0o600
    assert os.listdir(tmp_path) == ["file"]


def test_a_replaced_file_keeps_the_mode_it_had_when_asked_to(tmp_path):
    path = tmp_path / "fstab"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    write_atomically(str(path), "new\n", 0o644, like=existing(str(path)))
    assert (path.read_text(), mode(path)) == ("new\n", 0o640)
    write_atomically(str(path), "newer\n", 0o644)
    assert (path.read_text(), mode(path)) == ("newer\n", 0o644)


def test_a_failed_rename_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_atomically(str(target), "text", 0o644)
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert (target / "inside").read_text() == "kept"


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("before")
    with pytest.raises(TypeError):
        write_atomically(str(path), 42, 0o644)
    assert os.listdir(tmp_path) == ["file"]
    assert path.read_text() == "before"


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(str(tmp_path / "no" / "file"), "text", 0o644)
    assert os.listdir(tmp_path) == []
