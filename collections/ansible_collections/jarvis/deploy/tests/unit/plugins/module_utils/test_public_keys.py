# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH public key lines: split, checked against their type, fingerprinted as ssh-keygen does."""

from __future__ import annotations

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import (
    KEY_KINDS,
    KEY_TYPES,
    PublicKey,
    PublicKeyError,
    fingerprint,
    key_blob,
    parse_public_key,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c root@loki.websages.com"


def test_a_line_splits_into_type_data_and_the_whole_comment():
    key = PublicKey.from_line("ssh-rsa  AAAA  a comment  with spaces")
    assert key == ("ssh-rsa", "AAAA", "a comment  with spaces")
    assert key.line() == "ssh-rsa AAAA a comment  with spaces"
    assert PublicKey.from_line("") == ("", "", "")
    assert PublicKey.from_line("ssh-ed25519 AAAA").line() == "ssh-ed25519 AAAA"


@pytest.mark.parametrize(
    ("key_type", "kind"),
    [
        ("ssh-ed25519", "ed25519"),
        ("ssh-rsa", "rsa"),
        ("ecdsa-sha2-nistp384", "ecdsa"),
        ("sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com"),
    ],
)
def test_the_kind_is_ssh_keygen_s_name(key_type, kind):
    assert PublicKey(key_type, "", "").kind == kind


def test_every_kind_ssh_keygen_makes_is_a_type_jarvis_accepts():
    assert set(KEY_KINDS) <= {PublicKey(key_type, "", "").kind for key_type in KEY_TYPES}


def test_a_parsed_key_is_one_trimmed_line_of_a_known_type():
    assert parse_public_key(f"  {ED25519}\n") == PublicKey.from_line(ED25519)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "the key is empty"),
        ("ssh-foo AAAA", f"the key does not start with a known key type ({', '.join(KEY_TYPES)})"),
        ("ssh-ed25519", "the key has no key data after its type"),
        ("ssh-ed25519 !!!!", "the key's key data is not valid base64"),
        ("ssh-ed25519 AAAA", "the key's key data is not a ssh-ed25519 key"),
    ],
)
def test_what_is_refused_is_named_as_the_caller_calls_it(text, message):
    with pytest.raises(PublicKeyError) as refused:
        parse_public_key(text, "the key")
    assert str(refused.value) == message


def test_the_fingerprint_is_the_one_ssh_keygen_prints():
    assert fingerprint(key_blob(ED25519.split()[1])) == "SHA256:/y/J5eoVRaL+yNMPaAbo4IplkpZAYmMqCulqqhy1R24"


def test_data_that_is_not_base64_is_a_value_error():
    with pytest.raises(ValueError):
        key_blob("AAAAC3NzaC1lZDI1NTE5A")
