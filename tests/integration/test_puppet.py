"""puppet_bootstrap and puppet_run ON a real isolated host (a sandbox EC2 instance as a podman host).

The host installs Debian's puppet-agent from the Debian mirror, through the sandbox network's NAT.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import ec2
from tests.support.ansible import run_module_on
from tests.support.hosts import launch_host
from tests.support.ssh import make_key, ssh

pytestmark = pytest.mark.integration

MANIFEST = "file { '/etc/jarvis-puppet-test': content => \"applied by puppet\\n\", mode => '0644' }\n"


@pytest.fixture(scope="module")
def puppet_host(ec2_sandbox: ec2.Ec2Info, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    key = make_key(tmp_path_factory.mktemp("puppet-key"))
    return launch_host(ec2_sandbox, "puppet1", key), key


def test_bootstrap_installs_and_configures_in_four_beats(puppet_host: tuple[str, Path]) -> None:
    ip, key = puppet_host
    args = {"server": "puppet.websages.com", "environment": "staging"}
    planned = run_module_on(ip, key, "puppet_bootstrap", args, check=True, diff=True)
    assert planned["changed"] is True and "install puppet-agent" in planned["actions"]
    done = run_module_on(ip, key, "puppet_bootstrap", args)
    assert done["changed"] is True, done.get("msg")
    assert done["version"]
    for check in (True, False):
        again = run_module_on(ip, key, "puppet_bootstrap", args, check=check)
        assert again["changed"] is False and again["actions"] == []
    conf = ssh(ip, key, "cat /etc/puppet/puppet.conf").stdout
    assert "server = puppet.websages.com" in conf and "environment = staging" in conf


def test_run_applies_a_manifest_then_changes_nothing(puppet_host: tuple[str, Path]) -> None:
    ip, key = puppet_host
    run_module_on(ip, key, "puppet_bootstrap", {})
    noop = run_module_on(ip, key, "puppet_run", {"manifest": MANIFEST}, check=True)
    assert noop["changed"] is True, noop
    assert ssh(ip, key, "test -e /etc/jarvis-puppet-test || echo absent").stdout.strip() == "absent"
    applied = run_module_on(ip, key, "puppet_run", {"manifest": MANIFEST})
    assert applied["changed"] is True, applied.get("msg")
    assert "Applied catalog" in applied["summary"]
    assert ssh(ip, key, "cat /etc/jarvis-puppet-test").stdout == "applied by puppet\n"
    again = run_module_on(ip, key, "puppet_run", {"manifest": MANIFEST})
    assert again["changed"] is False and again["exit_code"] == 0


def test_a_failing_run_fails_with_puppets_summary(puppet_host: tuple[str, Path]) -> None:
    ip, key = puppet_host
    run_module_on(ip, key, "puppet_bootstrap", {})
    failed = run_module_on(ip, key, "puppet_run", {"manifest": "file { '/nonexistent/dir/x': content => 'x' }\n"})
    assert failed["failed"] is True
    assert failed["msg"].startswith("puppet apply failed (exit ")
    assert "Error" in failed["summary"]
