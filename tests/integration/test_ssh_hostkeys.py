"""jarvis.deploy.ssh_hostkeys against a real sshd, compared with what ssh-keygen says of its key files."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from sandbox._process import free_port
from tests.integration.fixtures_dns import SshdServer
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration


def keygen(*args: str) -> str:
    return subprocess.run(["ssh-keygen", *args], capture_output=True, text=True, check=True).stdout


def test_reads_all_three_host_keys(sshd_server: SshdServer) -> None:
    result = run_module("ssh_hostkeys", {"host": sshd_server.host, "port": sshd_server.port, "timeout": 30})
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is False
    keys = {key["type"]: key for key in result["host_keys"]}
    assert list(keys) == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    assert result["sshfp"] == [key["sshfp"] for key in result["host_keys"]]
    assert result["fingerprints"] == [key["fingerprint"] for key in result["host_keys"]]
    assert 0 <= result["elapsed"] < 30

    for private in sshd_server.host_keys.values():
        public = private.with_name(private.name + ".pub")
        key_type_name, blob = public.read_text().split()[:2]
        key = keys[key_type_name]
        assert key["key"] == blob
        assert key["public_key"] == f"{key_type_name} {blob}"
        assert key["fingerprint"] == keygen("-l", "-f", str(public)).split()[1]
        sshfp = [line.split(" SSHFP ")[1] for line in keygen("-r", "loki", "-f", str(public)).splitlines()]
        assert key["sshfp"] in sshfp
        assert key["sshfp"].split()[1] == "2"


def test_check_mode_scans_only_the_asked_types(sshd_server: SshdServer) -> None:
    args = {"host": sshd_server.host, "port": sshd_server.port, "timeout": 30, "key_types": ["ed25519"]}
    result = run_module("ssh_hostkeys", args, check=True)
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is False
    assert [key["type"] for key in result["host_keys"]] == ["ssh-ed25519"]
    assert result["sshfp"][0].startswith("4 2 ")


def test_waits_for_an_sshd_that_starts_late(sshd_server: SshdServer, tmp_path: Path) -> None:
    """The host is still booting when the module starts: it must wait, then scan, in one budget."""
    port = free_port()
    run_dir = next(iter(sshd_server.host_keys.values())).parent
    config = tmp_path / "sshd_config"
    config.write_text(
        (run_dir / "sshd_config")
        .read_text()
        .replace(f"Port {sshd_server.port}", f"Port {port}")
        .replace(str(run_dir / "sshd.run.pid"), str(tmp_path / "sshd.run.pid"))
    )
    late: list[subprocess.Popen[bytes]] = []
    timer = threading.Timer(
        1.5, lambda: late.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)]))
    )
    timer.start()
    try:
        result = run_module("ssh_hostkeys", {"host": "127.0.0.1", "port": port, "timeout": 30})
    finally:
        timer.cancel()
        for proc in late:
            proc.terminate()
            proc.wait(timeout=5)
    assert not result.get("failed"), result.get("msg", result)
    assert len(result["host_keys"]) == 3
    assert 0 < result["elapsed"] < 30


def test_a_closed_port_fails_clearly_within_the_budget() -> None:
    port = free_port()
    started = time.monotonic()
    result = run_module("ssh_hostkeys", {"host": "127.0.0.1", "port": port, "timeout": 2})
    took = time.monotonic() - started
    assert result.get("failed"), result
    assert result["msg"].startswith(f"SSH on 127.0.0.1:{port} did not answer within 2 s"), result["msg"]
    assert "refused" in result["msg"]
    assert 2 <= result["elapsed"] < 3
    assert took < 10
