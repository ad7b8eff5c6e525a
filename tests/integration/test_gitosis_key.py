"""jarvis.deploy.gitosis_key against a real sshd and a real git push, through ansible-playbook.

The bare repository is read straight from disk (``git --git-dir``), not through the module, to see
what the server really holds.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sandbox._process import free_port
from sandbox.gitserver import GitServerInfo
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration

REAL_SSH = "/usr/bin/ssh"


def public_key(tmp_path: Path, name: str) -> str:
    """A fresh ed25519 public key line, as a host's root would have."""
    path = tmp_path / "keys" / name
    path.parent.mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path.with_name(name + ".pub").read_text().strip()


def module_args(server: GitServerInfo, member: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "remote": server.remote,
        "port": server.port,
        "member": member,
        "ssh_private_key": server.private_key,
        "known_hosts": server.known_hosts,
        "timeout": 30,
        **extra,
    }
    if key is not None:
        args["public_key"] = key
    return args


def assert_ok(result: dict[str, Any], changed: bool) -> None:
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is changed, result


def git(server: GitServerInfo, *args: str) -> str:
    """Git on the server's bare repository on disk, as root (an explicit git dir skips the ownership check)."""
    done = subprocess.run(["git", "--git-dir", server.repo_path, *args], capture_output=True, text=True, check=True)
    return done.stdout


def head(server: GitServerInfo) -> str:
    return git(server, "rev-parse", "HEAD").strip()


def served_file(server: GitServerInfo, path: str) -> str | None:
    done = subprocess.run(
        ["git", "--git-dir", server.repo_path, "show", f"HEAD:{path}"], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def members(server: GitServerInfo, group: str) -> list[str]:
    """Members of a group as gitosis reads gitosis.conf (a ConfigParser)."""
    parser = configparser.RawConfigParser()
    parser.read_string(served_file(server, "gitosis.conf") or "")
    section = f"group {group}"
    return parser.get(section, "members").split() if parser.has_option(section, "members") else []


def test_present_in_four_beats_then_the_commit(git_server: GitServerInfo, tmp_path: Path) -> None:
    member = "root@loki.websages.com"
    key = public_key(tmp_path, "loki")
    args = module_args(git_server, member, key)
    start = head(git_server)
    had_hosts = "[group hosts]" in (served_file(git_server, "gitosis.conf") or "")  # other tests ran first?

    check = run_module("gitosis_key", args, check=True, diff=True)
    assert_ok(check, changed=True)
    assert check["commit"] is None
    group_action = (
        f"add {member} to group hosts in gitosis.conf"
        if had_hosts
        else f"create group hosts with member {member} in gitosis.conf"
    )
    assert check["actions"] == [f"add keydir/{member}.pub", group_action]
    diffs = {entry["after_header"]: entry for entry in check["diff"]}
    assert diffs[f"keydir/{member}.pub"] == {
        "before_header": f"keydir/{member}.pub",
        "after_header": f"keydir/{member}.pub",
        "before": "",
        "after": key + "\n",
    }
    if not had_hosts:
        assert diffs["gitosis.conf"]["after"].endswith(f"\n[group hosts]\nmembers = {member}\n")
    assert head(git_server) == start

    run = run_module("gitosis_key", args)
    assert_ok(run, changed=True)
    assert run["commit"] == head(git_server) != start
    assert run["actions"][-1].startswith(f"commit {run['commit'][:12]} (jarvis: add {member}) and push it to ")
    assert run["attempts"] == 1

    again = run_module("gitosis_key", args, check=True, diff=True)
    assert_ok(again, changed=False)
    assert again["actions"] == [] and again["diff"] == [] and again["commit"] is None
    last = run_module("gitosis_key", args)
    assert_ok(last, changed=False)
    assert last["commit"] is None
    assert head(git_server) == run["commit"]

    # The latest commit, read from the bare repository itself.
    author = git(git_server, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s").strip()
    assert author == f"jarvis <jarvis@localhost>|jarvis <jarvis@localhost>|jarvis: add {member}"
    changed_files = git(git_server, "diff", "--name-status", f"{start}..HEAD").split("\n")
    assert f"A\tkeydir/{member}.pub" in changed_files and "M\tgitosis.conf" in changed_files
    assert served_file(git_server, f"keydir/{member}.pub") == key + "\n"
    assert member in members(git_server, "hosts")
    # What was there before is kept as it was.
    conf = served_file(git_server, "gitosis.conf") or ""
    assert conf.startswith("[gitosis]\n\n[group gitosis-admin]\nmembers = admin@websages\nwritable = gitosis-admin\n")
    assert served_file(git_server, "keydir/admin@websages.pub")


def test_second_member_keeps_the_first_and_a_new_key_is_a_change(git_server: GitServerInfo, tmp_path: Path) -> None:
    first, second = "root@odin.websages.com", "root@thor.websages.com"
    assert_ok(run_module("gitosis_key", module_args(git_server, first, public_key(tmp_path, "odin"))), changed=True)
    result = run_module("gitosis_key", module_args(git_server, second, public_key(tmp_path, "thor")))
    assert_ok(result, changed=True)
    hosts = members(git_server, "hosts")
    assert hosts.index(first) < hosts.index(second)
    assert served_file(git_server, f"keydir/{first}.pub")

    new_key = public_key(tmp_path, "thor-new")
    replaced = run_module("gitosis_key", module_args(git_server, second, new_key), diff=True)
    assert_ok(replaced, changed=True)
    assert replaced["actions"][0] == f"replace the key in keydir/{second}.pub"
    assert [entry["after_header"] for entry in replaced["diff"]] == [f"keydir/{second}.pub"]
    assert served_file(git_server, f"keydir/{second}.pub") == new_key + "\n"
    assert git(git_server, "log", "-1", "--format=%s").strip() == f"jarvis: update {second}"
    assert members(git_server, "hosts") == hosts


def test_absent_removes_key_and_membership(git_server: GitServerInfo, tmp_path: Path) -> None:
    member = "root@baldr.websages.com"
    assert_ok(run_module("gitosis_key", module_args(git_server, member, public_key(tmp_path, "baldr"))), changed=True)
    assert_ok(
        run_module("gitosis_key", module_args(git_server, member, public_key(tmp_path, "b2"), group="admins")),
        changed=True,
    )
    assert member in members(git_server, "hosts") and member in members(git_server, "admins")

    args = module_args(git_server, member, state="absent")
    check = run_module("gitosis_key", args, check=True)
    assert_ok(check, changed=True)
    assert served_file(git_server, f"keydir/{member}.pub")
    removed = run_module("gitosis_key", args)
    assert_ok(removed, changed=True)
    assert removed["actions"][:3] == [
        f"remove keydir/{member}.pub",
        f"remove {member} from group hosts in gitosis.conf",
        f"remove {member} from group admins in gitosis.conf",
    ]
    assert served_file(git_server, f"keydir/{member}.pub") is None
    assert member not in members(git_server, "hosts") + members(git_server, "admins")
    assert "admin@websages" in members(git_server, "gitosis-admin")
    assert git(git_server, "log", "-1", "--format=%s").strip() == f"jarvis: remove {member}"
    assert_ok(run_module("gitosis_key", args), changed=False)


def test_push_race_is_retried_on_top_of_the_other_push(git_server: GitServerInfo, tmp_path: Path) -> None:
    """Right before the module's push, a rival pushes a commit touching the same members line."""
    assert_ok(
        run_module("gitosis_key", module_args(git_server, "root@frigg.websages.com", public_key(tmp_path, "frigg"))),
        changed=True,
    )
    rival_env = {**os.environ, "GIT_SSH_COMMAND": git_server.ssh_command(REAL_SSH)}
    rival = tmp_path / "rival"
    subprocess.run(["git", "clone", "-q", git_server.remote, str(rival)], env=rival_env, check=True)
    conf = (rival / "gitosis.conf").read_text()
    conf, count = re.subn(r"(?m)^(\[group hosts\]\nmembers = .*)$", r"\1 root@rival.websages.com", conf)
    assert count == 1
    (rival / "gitosis.conf").write_text(conf)
    (rival / "keydir" / "root@rival.websages.com.pub").write_text(public_key(tmp_path, "rival") + "\n")
    identity = ["-c", "user.name=rival", "-c", "user.email=rival@localhost"]
    subprocess.run(["git", "-C", str(rival), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(rival), *identity, "commit", "-q", "-m", "rival: add rival"], check=True)

    # A stand-in for ssh, first on PATH: the module's first push pushes the rival's commit just before.
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "ssh"
    rival_push = f"GIT_SSH_COMMAND='{git_server.ssh_command(REAL_SSH)}' git -C '{rival}' push -q origin HEAD:master"
    shim.write_text(
        "#!/bin/sh\n"
        'case "$*" in *git-receive-pack*)\n'
        f'  if mkdir "{tmp_path}/raced" 2>/dev/null; then\n'
        f"    {rival_push} || exit 1\n"
        "  fi;;\n"
        "esac\n"
        f'exec {REAL_SSH} "$@"\n'
    )
    shim.chmod(0o755)
    member = "root@heimdall.websages.com"
    result = run_module(
        "gitosis_key",
        module_args(git_server, member, public_key(tmp_path, "heimdall")),
        env={"PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    assert (tmp_path / "raced").is_dir(), "the rival did not push"
    assert_ok(result, changed=True)
    assert result["attempts"] == 2
    assert any(action.startswith("push rejected") for action in result["actions"])
    assert result["commit"] == head(git_server)
    subjects = git(git_server, "log", "-3", "--format=%s").split("\n")
    assert subjects[:2] == [f"jarvis: add {member}", "rival: add rival"]
    hosts = members(git_server, "hosts")
    assert hosts.index("root@frigg.websages.com") < hosts.index("root@rival.websages.com") < hosts.index(member)
    assert served_file(git_server, "keydir/root@rival.websages.com.pub")
    assert served_file(git_server, f"keydir/{member}.pub")


def test_unreachable_remote_wrong_host_key_and_bad_member_fail_clearly(
    git_server: GitServerInfo, tmp_path: Path
) -> None:
    key = public_key(tmp_path, "njord")
    member = "root@njord.websages.com"
    port = free_port()
    closed = run_module("gitosis_key", module_args(git_server, member, key, port=port))
    assert closed.get("failed"), closed
    assert f"cloning gitosis@127.0.0.1:gitosis-admin.git (port {port}) failed" in closed["msg"]
    assert "Connection refused" in closed["msg"]
    assert "Traceback" not in closed["_stdout"]

    other_known_hosts = tmp_path / "known_hosts"
    other_known_hosts.write_text(f"[127.0.0.1]:{git_server.port} {public_key(tmp_path, 'not-the-host')}\n")
    spoofed = run_module("gitosis_key", module_args(git_server, member, key, known_hosts=str(other_known_hosts)))
    assert spoofed.get("failed"), spoofed
    assert "Host key verification failed" in spoofed["msg"]

    bad = run_module("gitosis_key", module_args(git_server, "../root@njord", key))
    assert bad.get("failed"), bad
    assert "no path separators" in bad["msg"]
    assert served_file(git_server, f"keydir/{member}.pub") is None
