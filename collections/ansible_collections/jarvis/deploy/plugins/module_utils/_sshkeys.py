# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for a host's SSH server and read its host keys, behind the jarvis.deploy.ssh_hostkeys module."""

from __future__ import annotations

import hashlib
import math
import os
import socket
import time

from ansible_collections.jarvis.deploy.plugins.module_utils._files import read_text, write_atomically
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import KEY_KINDS, fingerprint, key_blob

# SSHFP algorithm numbers (RFC 4255, 6594, 7479); the fingerprint type is always 2 (SHA-256).
SSHFP_ALGORITHMS = {
    "ssh-rsa": 1,
    "ssh-dss": 2,
    "ecdsa-sha2-nistp256": 3,
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "ssh-ed25519": 4,
}

_RETRY_PAUSE = 0.25


class SshWaitError(Exception):
    """SSH did not answer, or gave no keys, within the time budget."""


def host_key_facts(key_type, key):
    """Type, blob, public key line, SHA256 fingerprint and SSHFP value of one host key."""
    blob = key_blob(key)
    return {
        "type": key_type,
        "key": key,
        "public_key": f"{key_type} {key}",
        "fingerprint": fingerprint(blob),
        "sshfp": f"{SSHFP_ALGORITHMS[key_type]} 2 {hashlib.sha256(blob).hexdigest()}",
    }


def parse_keyscan(output):
    """Host key facts from ssh-keyscan's output, one per key type, sorted by type."""
    keys = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#") or fields[1] not in SSHFP_ALGORITHMS:
            continue
        try:
            keys.setdefault(fields[1], host_key_facts(fields[1], fields[2]))
        except ValueError:  # not base64 (binascii.Error)
            continue
    return [keys[key_type] for key_type in sorted(keys)]


def wait_for_ssh_banner(host, port, deadline):
    """Return once HOST:PORT accepts TCP and greets with an SSH- banner; raise at DEADLINE."""
    last_error = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SshWaitError(last_error)
        try:
            with socket.create_connection((host, port), timeout=min(remaining, 5.0)) as sock:
                banner = _read_banner(sock)
            if banner.startswith(b"SSH-"):
                return
            last_error = f"no SSH banner, got {banner[:40]!r}" if banner else "closed without an SSH banner"
        except OSError as exc:
            last_error = exc.strerror or str(exc) or type(exc).__name__
        time.sleep(min(_RETRY_PAUSE, max(0.0, deadline - time.monotonic())))


def _read_banner(sock):
    """The first line starting with SSH- (RFC 4253 lets a server send other lines before it)."""
    data = b""
    while len(data) < 8192:
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
        for line in data.split(b"\n")[:-1]:
            if line.startswith(b"SSH-"):
                return line.rstrip(b"\r")
    return data.split(b"\n", 1)[0]


def scan_host_keys(module, keyscan, host, port, key_types, deadline):
    """Run ssh-keyscan until it yields keys or DEADLINE passes."""
    last_error = "ssh-keyscan printed no keys"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SshWaitError(last_error)
        argv = [
            keyscan,
            "-T",
            str(max(1, math.ceil(remaining))),
            "-p",
            str(port),
            "-t",
            ",".join(key_types),
            host,
        ]
        rc, out, err = module.run_command(argv)
        keys = parse_keyscan(out)
        if keys:
            return keys
        errors = [line for line in err.splitlines() if line.strip() and not line.startswith("#")]
        if errors:
            last_error = "ssh-keyscan: " + errors[-1].strip()
        elif rc != 0:
            last_error = f"ssh-keyscan exited with {rc}"
        time.sleep(min(_RETRY_PAUSE, max(0.0, deadline - time.monotonic())))


def run_ssh_hostkeys(module):
    """Wait for SSH on the host, scan its host keys and exit the module with them; changes nothing."""
    params = module.params
    host, port, timeout = params["host"], params["port"], params["timeout"]
    key_types = list(dict.fromkeys(params["key_types"]))
    if not key_types:
        module.fail_json(msg="key_types must name at least one of " + ", ".join(KEY_KINDS))
    keyscan = module.get_bin_path("ssh-keyscan", required=True)
    started = time.monotonic()
    deadline = started + timeout
    try:
        wait_for_ssh_banner(host, port, deadline)
        keys = scan_host_keys(module, keyscan, host, port, key_types, deadline)
    except SshWaitError as exc:
        module.fail_json(
            msg=f"SSH on {host}:{port} did not answer within {timeout} s ({exc})",
            elapsed=round(time.monotonic() - started, 3),
        )
    if params.get("known_hosts"):
        try:
            record_known_hosts(params["known_hosts"], host, port, keys)
        except OSError as exc:
            module.fail_json(msg=f"cannot record the host keys in {params['known_hosts']}: {exc.strerror}")
    module.exit_json(
        changed=False,
        host_keys=keys,
        sshfp=[key["sshfp"] for key in keys],
        fingerprints=[key["fingerprint"] for key in keys],
        elapsed=round(time.monotonic() - started, 3),
    )


def known_hosts_lines(host, port, keys):
    """The known_hosts text that accepts exactly KEYS for HOST:PORT (``[host]:port`` off port 22)."""
    name = host if port == 22 else f"[{host}]:{port}"
    return "".join(f"{name} {key['public_key']}\n" for key in keys)


def record_known_hosts(path, host, port, keys):
    """Replace PATH with the known_hosts lines of KEYS, unless it holds them already."""
    text = known_hosts_lines(host, port, keys)
    if read_text(path) == text:
        return
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    write_atomically(path, text, 0o600)
