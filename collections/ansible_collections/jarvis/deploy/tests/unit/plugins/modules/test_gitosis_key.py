# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jarvis.deploy.gitosis_key's arguments: the server's host key is always checked and only the deploy key offered."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.jarvis.deploy.plugins.module_utils import _gitosis
from ansible_collections.jarvis.deploy.plugins.modules import gitosis_key

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c root@loki.websages.com"


@pytest.fixture
def files(tmp_path):
    """A deploy key and a known_hosts file holding the server's host key."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("[127.0.0.1]:2222 " + KEY + "\n")
    private_key = tmp_path / "deploy_key"
    private_key.write_text("not read by these tests\n")
    return {"known_hosts": str(known_hosts), "ssh_private_key": str(private_key)}


def args(**extra):
    return {
        "remote": "gitosis@127.0.0.1:gitosis-admin.git",
        "port": 2222,
        "member": "root@loki.websages.com",
        "public_key": KEY,
        **extra,
    }


def run(capsys, module_args):
    """(exit code, result) of one run of the module with MODULE_ARGS."""
    with patch_module_args(module_args), pytest.raises(SystemExit) as exited:
        gitosis_key.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def no_git(monkeypatch):
    """Fail the test if the module got as far as cloning."""

    def sync(*_args, **_kwargs):
        raise AssertionError("the module must fail before it runs git")

    monkeypatch.setattr(_gitosis, "sync", sync)


@pytest.mark.parametrize("missing", ["known_hosts", "ssh_private_key"])
def test_without_known_hosts_or_a_deploy_key_nothing_connects(capsys, files, no_git, missing):
    del files[missing]
    code, result = run(capsys, args(**files))
    assert code == 1
    assert result["msg"] == f"missing required arguments: {missing}"


@pytest.mark.parametrize("option", ["known_hosts", "ssh_private_key"])
def test_an_unreadable_file_fails_naming_its_option(capsys, files, no_git, tmp_path, option):
    files[option] = str(tmp_path / "nowhere")
    code, result = run(capsys, args(**files))
    assert code == 1
    assert result["msg"] == f"{option} {tmp_path}/nowhere is not a readable file"


def test_an_empty_known_hosts_fails(capsys, files, no_git):
    Path(files["known_hosts"]).write_text("")
    code, result = run(capsys, args(**files))
    assert code == 1
    assert result["msg"] == f"known_hosts {files['known_hosts']} is empty: it must hold the server's host key"


def test_a_known_hosts_path_ssh_would_split_fails(capsys, files, no_git, tmp_path):
    spaced = tmp_path / "known hosts"
    spaced.write_text(Path(files["known_hosts"]).read_text())
    code, result = run(capsys, args(**{**files, "known_hosts": str(spaced)}))
    assert code == 1
    assert "must be an absolute path without whitespace" in result["msg"]


def test_a_remote_whose_host_reads_as_an_option_fails(capsys, files, no_git):
    code, result = run(capsys, args(**files, remote="gitosis@-oProxyCommand=x:gitosis-admin.git"))
    assert code == 1
    assert result["msg"] == "remote 'gitosis@-oProxyCommand=x:gitosis-admin.git': its host must not start with '-'"


def test_ssh_checks_the_given_known_hosts_only_and_no_other_file_is_made(capsys, files, monkeypatch):
    seen = {}

    def sync(module, admin, member, public_key, group, state, retries):
        seen["ssh"] = shlex.split(admin.git.env["GIT_SSH_COMMAND"])
        seen["work"] = admin.work
        return {"changed": False, "commit": None, "actions": [], "attempts": 1, "diff": []}

    monkeypatch.setattr(_gitosis, "sync", sync)
    code, result = run(capsys, args(**files))
    assert code == 0, result
    words = seen["ssh"]
    assert words[1:3] == ["-F", "none"]
    assert f"UserKnownHostsFile={files['known_hosts']}" in words
    assert "StrictHostKeyChecking=yes" in words and "IdentityAgent=none" in words
    assert words[words.index("-i") + 1] == files["ssh_private_key"]
    assert not any("accept-new" in word for word in words)
    assert seen["work"].endswith("/gitosis-admin")
