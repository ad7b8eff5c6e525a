# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Root's key pair: public key lines read and written, and the task run against the real ssh-keygen in a temp dir."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._keypair import (
    KeypairError,
    KeypairTask,
    default_path,
    file_mode,
    read_public,
    write_public,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import PublicKey, fingerprint, key_blob

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c root@loki.websages.com"
ED25519_FINGERPRINT = "SHA256:/y/J5eoVRaL+yNMPaAbo4IplkpZAYmMqCulqqhy1R24"  # as ssh-keygen -l printed it

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")


@pytest.mark.parametrize(
    ("line", "key_type", "comment"),
    [
        (ED25519, "ed25519", "root@loki.websages.com"),
        ("ssh-rsa AAAA", "rsa", ""),
        ("ecdsa-sha2-nistp256 AAAA root@x with spaces", "ecdsa", "root@x with spaces"),
    ],
)
def test_type_and_comment_of_a_public_key_line(line, key_type, comment):
    key = PublicKey.from_line(line)
    assert (key.kind, key.comment) == (key_type, comment)


def test_the_fingerprint_is_the_one_ssh_keygen_prints():
    assert fingerprint(key_blob(ED25519.split()[1])) == ED25519_FINGERPRINT


def test_root_keys_live_in_root_s_ssh_directory():
    assert default_path("ed25519").endswith("/.ssh/id_ed25519")
    assert default_path("rsa") == os.path.join(os.path.dirname(default_path("ed25519")), "id_rsa")


def test_public_key_files_are_read_and_written_whole(tmp_path):
    path = str(tmp_path / "id_ed25519.pub")
    assert read_public(path) == ""
    assert file_mode(path) is None
    write_public(path, ED25519)
    assert read_public(path) == ED25519
    assert (tmp_path / "id_ed25519.pub").read_text() == ED25519 + "\n"
    assert file_mode(path) == 0o644
    assert os.listdir(tmp_path) == ["id_ed25519.pub"]


def test_a_public_key_that_cannot_be_written_leaves_no_temporary_file(tmp_path):
    (tmp_path / "id_ed25519.pub").mkdir()
    with pytest.raises(OSError):
        write_public(str(tmp_path / "id_ed25519.pub"), ED25519)
    assert os.listdir(tmp_path) == ["id_ed25519.pub"]


# --- the task, against the host's own ssh-keygen ---------------------------------------------------------


class Module:
    """The parts of AnsibleModule the key pair task uses; commands really run."""

    def __init__(self, check_mode=False, **params):
        self.check_mode = check_mode
        self.params = {"type": "ed25519", "path": None, "comment": "root@odin", "rotate": False, "bits": 3072, **params}

    def get_bin_path(self, name):
        return shutil.which(name)

    def run_command(self, argv, expand_user_and_vars=True):
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
        return completed.returncode, completed.stdout, completed.stderr


def run(path, check_mode=False, **params):
    task = KeypairTask(Module(check_mode=check_mode, path=str(path), **params))
    before, after = task.run()
    return task.actions, before, after


@needs_ssh_keygen
def test_a_key_pair_is_made_once_and_then_left_alone(tmp_path):
    key = tmp_path / ".ssh" / "id_ed25519"
    actions, before, after = run(key, check_mode=True)
    assert actions == [
        f"would create directory {key.parent} (mode 0700)",
        f"would generate an ed25519 key pair at {key}",
    ]
    assert (before, after) == (None, None)
    assert not key.parent.exists()

    actions, before, after = run(key)
    assert actions == [f"created directory {key.parent} (mode 0700)", f"generated an ed25519 key pair at {key}"]
    assert before is None
    assert after["public_key"] == key.with_suffix(".pub").read_text().strip()
    assert after["public_key"].startswith("ssh-ed25519 ") and after["public_key"].endswith(" root@odin")
    assert (file_mode(key), file_mode(f"{key}.pub"), file_mode(key.parent)) == (0o600, 0o644, 0o700)

    assert run(key) == ([], after, after)
    assert run(key, check_mode=True) == ([], after, after)


@needs_ssh_keygen
def test_the_comment_changes_but_never_the_key(tmp_path):
    key = tmp_path / "id_ed25519"
    _actions, _before, made = run(key)
    actions, _before, after = run(key, comment="root@thor")
    assert actions == [f"changed the comment of {key} to root@thor"]
    assert after["public_key"].split()[:2] == made["public_key"].split()[:2]
    assert PublicKey.from_line(after["public_key"]).comment == "root@thor"


@needs_ssh_keygen
def test_rotate_replaces_the_key(tmp_path):
    key = tmp_path / "id_ed25519"
    _actions, _before, made = run(key)
    actions, before, after = run(key, rotate=True)
    assert actions == [f"replaced the key pair at {key} with a new ed25519 key pair"]
    assert before == made
    assert after["public_key"].split()[1] != made["public_key"].split()[1]


@needs_ssh_keygen
def test_a_missing_or_foreign_public_half_is_rewritten_from_the_private_key(tmp_path):
    key = tmp_path / "id_ed25519"
    _actions, _before, made = run(key)
    (tmp_path / "id_ed25519.pub").write_text(ED25519 + "\n")
    actions, before, after = run(key)
    assert before["stale_public"] is True
    assert actions[0] == f"rewrote {key}.pub from the private key"
    assert after == made


@needs_ssh_keygen
def test_a_loose_private_key_is_read_without_touching_it_in_check_mode_then_tightened(tmp_path):
    key = tmp_path / "id_ed25519"
    _actions, _before, made = run(key)
    key.chmod(0o644)
    actions, before, _after = run(key, check_mode=True)
    assert actions == [f"would set mode 0600 on private key {key} (was 0644)"]
    assert before == made
    assert stat.S_IMODE(key.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["id_ed25519", "id_ed25519.pub"]
    actions, _before, _after = run(key)
    assert actions == [f"set mode 0600 on private key {key} (was 0644)"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@needs_ssh_keygen
def test_a_key_of_another_type_is_not_replaced_without_rotate(tmp_path):
    key = tmp_path / "id_ed25519"
    run(key)
    with pytest.raises(KeypairError, match=f"^{key} holds an ed25519 key, not rsa: set rotate to replace it"):
        run(key, type="rsa")


@needs_ssh_keygen
def test_a_directory_where_the_key_should_be_is_refused(tmp_path):
    (tmp_path / "id_ed25519").mkdir()
    with pytest.raises(KeypairError, match="exists but is not a file$"):
        run(tmp_path / "id_ed25519")


@needs_ssh_keygen
def test_garbage_in_the_private_key_file_fails_without_echoing_it(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    with pytest.raises(KeypairError) as caught:
        run(key)
    assert str(caught.value).startswith(f"reading the key pair at {key} failed: ")
    assert "c2VjcmV0LW1hdGVyaWFs" not in str(caught.value)
