# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of root_credentials: the password hash, the vault password file, the private secrets file."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest
from ansible.errors import AnsibleError
from ansible_collections.jarvis.deploy.plugins.action.root_credentials import (
    _read_vault_password,
    _sha512_crypt,
    _write_private,
)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_the_hash_is_sha512_crypt_of_the_password_with_a_fresh_salt():
    password = "correct horse:battery+staple"
    first, second = _sha512_crypt(password), _sha512_crypt(password)
    assert first.startswith("$6$") and first != second
    assert password not in first
    salt = first.split("$")[2]

    def crypt(text):
        command = ["openssl", "passwd", "-6", "-salt", salt, "-stdin"]
        return subprocess.run(command, input=text, capture_output=True, text=True, check=True).stdout.strip()

    assert crypt(password) == first
    assert crypt(password + "x") != first


def test_the_vault_password_is_the_file_s_text_without_surrounding_blanks(tmp_path):
    path = tmp_path / "vault"
    path.write_bytes(b"  s3cret \n")
    assert _read_vault_password(str(path)) == b"s3cret"


def test_an_empty_vault_password_file_is_refused(tmp_path):
    path = tmp_path / "vault"
    path.write_bytes(b"\n")
    with pytest.raises(AnsibleError, match="the vault password file is empty"):
        _read_vault_password(str(path))


def test_secrets_are_written_for_the_owner_only(tmp_path):
    path = tmp_path / "secrets" / "loki.websages.com.yml"
    _write_private(str(path), b"$ANSIBLE_VAULT;1.1;AES256\n")
    _write_private(str(path), b"$ANSIBLE_VAULT;1.1;AES256\nnew\n")
    assert path.read_bytes() == b"$ANSIBLE_VAULT;1.1;AES256\nnew\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [child.name for child in path.parent.iterdir()] == ["loki.websages.com.yml"]


def test_a_secrets_file_that_cannot_be_replaced_leaves_no_temporary_file(tmp_path):
    (tmp_path / "loki.websages.com.yml").mkdir()
    with pytest.raises(OSError):
        _write_private(str(tmp_path / "loki.websages.com.yml"), b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert [child.name for child in tmp_path.iterdir()] == ["loki.websages.com.yml"]
