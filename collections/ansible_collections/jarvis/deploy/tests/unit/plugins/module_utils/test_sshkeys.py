# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host key facts (fingerprints and SSHFP exactly as ssh-keygen prints them), keyscan output and SSH banners."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._sshkeys import (
    SshWaitError,
    _read_banner,
    host_key_facts,
    parse_keyscan,
    record_known_hosts,
    wait_for_ssh_banner,
)

# Three keys with what `ssh-keygen -l` and `ssh-keygen -r` (the SHA-256 line) printed for them.
KEYS = {
    "ssh-ed25519": (
        "AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c",
        "SHA256:/y/J5eoVRaL+yNMPaAbo4IplkpZAYmMqCulqqhy1R24",
        "4 2 ff2fc9e5ea1545a2fec8d30f6806e8e08a6592964062632a0ae96aaa1cb5476e",
    ),
    "ecdsa-sha2-nistp256": (
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFySIG2E0cqndWpeSjqhma/lY2iLi3ZxpTyquDu3x22+sBIkjG/W7yyY8vjwZMN/cEsPBvJNyyZvoUyUrcY+dxk=",
        "SHA256:YUnqeAxLqDXdrGcXOb0Fn9OcXFbXlCqSdftToZvcNiY",
        "3 2 6149ea780c4ba835ddac671739bd059fd39c5c56d7942a9275fb53a19bdc3626",
    ),
    "ssh-rsa": (
        "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCoSPE446fLeFuP+wUXMv7Y/G0DLOadd9rpyWqsMB7GMksqrSHpkH3utgDU+ESLfGRC4WskzKHqzxhNfEVL"
        "TwXPUGCQWBA4ybWoyIteYphaHoVsuaVD/T2sTPfwxzBt7jxAPy3BswvFzmGREFHdzLDcEjOzryYB/OHZ/PajfTKIhQ==",
        "SHA256:SqCkQy27h9S5XI0eOqlyYc6Xyem+ww0qLlexjD8tPCE",
        "1 2 4aa0a4432dbb87d4b95c8d1e3aa97261ce97c9e9bec30d2a2e57b18c3f2d3c21",
    ),
}


@pytest.mark.parametrize("key_type", sorted(KEYS))
def test_fingerprint_and_sshfp_match_ssh_keygen(key_type):
    key, fingerprint, sshfp = KEYS[key_type]
    assert host_key_facts(key_type, key) == {
        "type": key_type,
        "key": key,
        "public_key": f"{key_type} {key}",
        "fingerprint": fingerprint,
        "sshfp": sshfp,
    }


def test_keyscan_output_gives_one_key_per_type_sorted_by_type():
    ed25519, ecdsa, rsa = KEYS["ssh-ed25519"][0], KEYS["ecdsa-sha2-nistp256"][0], KEYS["ssh-rsa"][0]
    output = "\n".join(
        [
            "# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
            f"[127.0.0.1]:2222 ssh-rsa {rsa}",
            f"[127.0.0.1]:2222 ssh-ed25519 {ed25519}",
            f"[127.0.0.1]:2222 ecdsa-sha2-nistp256 {ecdsa}",
            f"[127.0.0.1]:2222 ssh-ed25519 {ed25519}",
            "",
        ]
    )
    keys = parse_keyscan(output)
    assert [key["type"] for key in keys] == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    assert [key["sshfp"] for key in keys] == [KEYS[key["type"]][2] for key in keys]


@pytest.mark.parametrize(
    "line",
    [
        "# host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        "host ssh-rsa !!not-base64!!",
        "host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5A",  # bad padding
        "host ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c",
        "host ssh-ed25519",
        "write (host): Connection refused",
        "",
    ],
)
def test_lines_that_are_not_host_keys_are_skipped(line):
    assert parse_keyscan(line) == []


@pytest.mark.parametrize(
    ("sent", "banner"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", b"SSH-2.0-OpenSSH_9.2"),
        (b"Welcome\r\nto loki\r\nSSH-2.0-x\r\n", b"SSH-2.0-x"),  # RFC 4253 allows lines before the banner
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", b"HTTP/1.1 400 Bad Request\r"),
        (b"", b""),
    ],
)
def test_the_banner_is_the_first_line_starting_with_ssh(sent, banner):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(sent)
        theirs.shutdown(socket.SHUT_WR)
        assert _read_banner(ours) == banner


class Greeter:
    """A TCP server on 127.0.0.1 that sends GREETING to every client and hangs up."""

    def __init__(self, greeting):
        self.greeting = greeting
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                client, _address = self.sock.accept()
            except OSError:
                return
            with client:
                client.sendall(self.greeting)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def greeter(request):
    server = Greeter(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("greeter", [b"SSH-2.0-OpenSSH_9.2p1\r\n"], indirect=True)
def test_waiting_ends_at_the_banner(greeter):
    wait_for_ssh_banner("127.0.0.1", greeter.port, time.monotonic() + 30)


@pytest.mark.parametrize("greeter", [b"220 smtp.websages.com ESMTP\r\n"], indirect=True)
def test_a_server_that_is_not_ssh_is_named_in_the_error(greeter):
    with pytest.raises(SshWaitError, match="^no SSH banner, got b'220 smtp.websages.com ESMTP"):
        wait_for_ssh_banner("127.0.0.1", greeter.port, time.monotonic() + 0.3)


def test_nobody_listening_is_reported_as_such():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SshWaitError, match="^Connection refused$"):
        wait_for_ssh_banner("127.0.0.1", port, time.monotonic() + 0.3)


def test_a_spent_budget_fails_without_trying():
    with pytest.raises(SshWaitError, match="^no answer$"):
        wait_for_ssh_banner("127.0.0.1", 9, time.monotonic() - 1)


def test_the_known_hosts_record_accepts_exactly_the_keys_read_and_is_private(tmp_path):
    keys = [{"public_key": "ssh-ed25519 AAAAC3Nz"}, {"public_key": "ssh-rsa AAAAB3Nz"}]
    path = tmp_path / "known_hosts" / "loki.websages.com"
    record_known_hosts(str(path), "10.0.0.5", 22, keys)
    assert path.read_text() == "10.0.0.5 ssh-ed25519 AAAAC3Nz\n10.0.0.5 ssh-rsa AAAAB3Nz\n"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    before = path.stat().st_mtime_ns
    record_known_hosts(str(path), "10.0.0.5", 22, keys)
    assert path.stat().st_mtime_ns == before
    record_known_hosts(str(path), "10.0.0.5", 2222, keys[:1])
    assert path.read_text() == "[10.0.0.5]:2222 ssh-ed25519 AAAAC3Nz\n"
