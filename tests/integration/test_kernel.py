"""kernel_upgrade ON a real isolated host (a sandbox EC2 instance as a podman host), then a reboot of it.

The host installs Debian's linux-image-amd64 from the Debian mirror, once for the whole module. The
kernel running there is the machine's (newer than any Debian 12 package), so ``minimum: "99.0"``
forces an installation and ``minimum: "1.0"`` asks for nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import ec2, hosts
from tests.support.ansible import run_module_on
from tests.support.hosts import launch_host
from tests.support.ssh import host_key, make_key, ssh

pytestmark = pytest.mark.integration

PACKAGE = "linux-image-amd64"
# The kernel never boots in a container: a small initrd (about 1 s to build instead of 20 s, twice on a
# fresh install) keeps the test quick; the module's notes say a full one builds there just as well.
SMALL_INITRD = (
    "mkdir -p /etc/initramfs-tools/conf.d && echo MODULES=list > /etc/initramfs-tools/conf.d/jarvis-test.conf"
)


@pytest.fixture(scope="module")
def kernel_host(ec2_sandbox: ec2.Ec2Info, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    key = make_key(tmp_path_factory.mktemp("kernel-key"))
    ip = launch_host(ec2_sandbox, "kernel1", key)
    assert ssh(ip, key, SMALL_INITRD).returncode == 0
    return ip, key


def installed_version(ip: str, key: Path, package: str) -> str:
    """PACKAGE's version if dpkg has it installed on the host, else ""."""
    out = ssh(ip, key, f"dpkg-query -W -f='${{Status}} ${{Version}}' {package} 2>/dev/null").stdout
    return out.split()[-1] if out.startswith("install ok installed") else ""


def install_once(ip: str, key: Path) -> dict[str, Any]:
    """The forced installation, which the first test does with its four beats and later ones only need."""
    return run_module_on(ip, key, "kernel_upgrade", {"minimum": "99.0"})


def test_an_old_running_kernel_gets_the_package_in_four_beats(kernel_host: tuple[str, Path]) -> None:
    ip, key = kernel_host
    args = {"minimum": "99.0"}
    planned = run_module_on(ip, key, "kernel_upgrade", args, check=True, diff=True)
    assert planned["changed"] is True, planned.get("msg")
    assert planned["below_minimum"] is True and planned["package"] == PACKAGE
    assert any(a.startswith(f"would install {PACKAGE} ") for a in planned["actions"]), planned["actions"]
    assert planned["reboot_required"] is True  # as it would be after the installation
    assert installed_version(ip, key, PACKAGE) == ""

    done = install_once(ip, key)
    assert done["changed"] is True, done.get("msg")
    version = installed_version(ip, key, PACKAGE)
    assert version and f"installed {PACKAGE} {version}" in done["actions"]
    assert {"package": PACKAGE, "version": version} in done["installed"]
    assert done["newest"] and done["newest"] != done["running"]
    assert ssh(ip, key, f"test -e /boot/vmlinuz-{done['newest']}").returncode == 0
    assert done["reboot_required"] is True

    # The newest available kernel is installed: nothing more to do, though the running one stays older.
    for check in (True, False):
        again = run_module_on(ip, key, "kernel_upgrade", args, check=check)
        assert again["changed"] is False and again["actions"] == [], again
        assert again["below_minimum"] is True and again["reboot_required"] is True


def test_a_new_enough_kernel_needs_nothing(kernel_host: tuple[str, Path]) -> None:
    ip, key = kernel_host
    for check in (True, False):
        result = run_module_on(ip, key, "kernel_upgrade", {"minimum": "1.0"}, check=check)
        assert result["changed"] is False and result["actions"] == [], result
        assert result["below_minimum"] is False
        assert result["running"] == ssh(ip, key, "uname -r").stdout.strip()


def test_reboot_brings_the_same_host_back(kernel_host: tuple[str, Path]) -> None:
    ip, key = kernel_host
    if not installed_version(ip, key, PACKAGE):  # this test alone
        assert install_once(ip, key)["changed"] is True
    boot_before = ssh(ip, key, hosts.BOOT_TIME_COMMAND).stdout
    key_before = host_key(ip)
    started = time.monotonic()
    rebooted = run_module_on(
        ip,
        key,
        "ansible.builtin.reboot",
        {"reboot_command": hosts.REBOOT_COMMAND, "boot_time_command": hosts.BOOT_TIME_COMMAND, "reboot_timeout": 120},
    )
    assert rebooted.get("rebooted") is True and not rebooted.get("failed"), rebooted.get("msg")
    assert time.monotonic() - started < 60
    assert ssh(ip, key, hosts.BOOT_TIME_COMMAND).stdout != boot_before  # PID 1 is a new one
    assert host_key(ip) == key_before
    assert ssh(ip, key, "hostname").stdout.strip() == "kernel1"
    assert installed_version(ip, key, PACKAGE)  # same root filesystem


def test_failures_name_what_failed(kernel_host: tuple[str, Path]) -> None:
    ip, key = kernel_host
    bad_minimum = run_module_on(ip, key, "kernel_upgrade", {"minimum": "six"})
    assert bad_minimum["failed"] is True and "minimum must be a kernel version" in bad_minimum["msg"]
    missing = run_module_on(ip, key, "kernel_upgrade", {"upgrade": True, "package": "linux-image-jarvis-none"})
    assert missing["failed"] is True
    assert missing["msg"].startswith("apt-get install -y --no-install-recommends linux-image-jarvis-none failed")
    assert "Unable to locate package" in missing["msg"]
