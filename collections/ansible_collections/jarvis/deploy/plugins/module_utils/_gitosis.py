# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Register a host's SSH key in a gitosis-admin repository with git over SSH, behind jarvis.deploy.gitosis_key.

This is the plumbing: the options checked, git and ssh run with nothing of the user's configuration, the
change pushed with retries. What the change is, as text, is worked out in _gitosis_conf.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from ansible_collections.jarvis.deploy.plugins.module_utils._gitosis_conf import CONF_FILE, file_diffs, key_file, plan
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import PublicKeyError, parse_public_key

# gitosis accepts a key file only when its member name matches this (gitosis/ssh.py).
MEMBER_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]*(@[a-zA-Z][a-zA-Z0-9.-]*)?$")
GROUP_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.@-]*$")

_SCP_REMOTE_RE = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s\[\]]+|\[[^\]\s/]+\]):(?P<path>[^\s]+)$")
_SSH_URL_RE = re.compile(
    r"^ssh://(?:(?P<user>[^@/\s]+)@)?(?P<host>[^@/:\s\[\]]+|\[[^\]\s/]+\])(?::(?P<port>\d+))?/(?P<path>[^\s]*)$"
)
# ssh reads these in a path given with -o or -i: whitespace splits it, % and ~ are expanded, quotes unquoted.
_SSH_PATH_UNSAFE_RE = re.compile(r"[\s\"'\\%~]")
# A push that lost a race: the branch moved (client side) or its ref could not be updated (server side).
_STALE_PUSH_RE = re.compile(r"\[rejected\]|\[remote rejected\].*(lock|failed to update ref|incorrect old value)")
_URL_PASSWORD_RE = re.compile(r"(://[^/@:\s]+):[^/@\s]+@")


class GitosisError(Exception):
    """A failure whose message is safe to show: git's own words, with URL passwords masked."""


# --- validation -------------------------------------------------------------------------------


def check_member(member):
    """MEMBER names the key file, so it may hold no path separator, whitespace or other surprise."""
    if not MEMBER_RE.fullmatch(member or ""):
        raise GitosisError(
            f"member {member!r} is not a valid gitosis member name: it must look like user or user@host"
            " (letters, digits, '.', '_', '-'; no path separators, no whitespace)"
        )


def check_group(group):
    if not GROUP_RE.fullmatch(group or ""):
        raise GitosisError(f"group {group!r} is not a valid group name (letters, digits, '.', '_', '@', '-')")


def normalise_public_key(public_key):
    """The one OpenSSH public key line in PUBLIC_KEY, whitespace-trimmed; GitosisError when it is not one."""
    try:
        return parse_public_key(public_key, "public_key").line()
    except PublicKeyError as exc:
        raise GitosisError(str(exc)) from None


def check_remote(remote):
    """Only SSH remotes: scp-like ``user@host:path`` or ``ssh://user@host[:port]/path``.

    No part of it (user, host, path) may start with '-', so that ssh and git never read it as an option.
    Returns the port written in an ssh:// URL, or None.
    """
    if remote.startswith("-"):
        raise GitosisError(f"remote {remote!r} must not start with '-'")
    parts = _SSH_URL_RE.fullmatch(remote)
    if parts is None and "://" not in remote and "::" not in remote:
        parts = _SCP_REMOTE_RE.fullmatch(remote)
    if parts is None or any(ord(char) < 32 or ord(char) == 127 for char in remote):
        raise GitosisError(
            f"remote {remote!r} is not an SSH remote: write it as user@host:path.git (or ssh://user@host/path.git)"
        )
    for part in ("user", "host", "path"):
        if (parts.group(part) or "").startswith("-"):
            raise GitosisError(f"remote {remote!r}: its {part} must not start with '-'")
    port = parts.groupdict().get("port")
    return int(port) if port else None


def check_ssh_file(option, path):
    """PATH (of the option OPTION) names a readable file that ssh takes literally; GitosisError otherwise."""
    if not path:
        raise GitosisError(f"{option} is required")
    if not os.path.isabs(path) or _SSH_PATH_UNSAFE_RE.search(path) or any(ord(char) < 32 for char in path):
        raise GitosisError(
            f"{option} {path!r} must be an absolute path without whitespace, quotes, '\\', '%' or '~'"
            " (ssh would split or expand it)"
        )
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise GitosisError(f"{option} {path} is not a readable file")


# --- git -----------------------------------------------------------------------------------------


def clean_output(text, limit=20):
    """Git's messages as one string: blank lines and hints dropped, URL passwords masked, the tail kept."""
    lines = [
        _URL_PASSWORD_RE.sub(r"\1:***@", line.strip())
        for line in text.splitlines()
        if line.strip() and not line.startswith("hint:")
    ]
    return " / ".join(lines[-limit:]) or "no message"


class Git:
    """The git command in one working directory, with one environment and one time budget for every call."""

    def __init__(self, git, env, deadline, timeout):
        self.git = git
        self.env = env
        self.deadline = deadline
        self.timeout = timeout
        self.cwd = None

    def run(self, args, what, check=True):
        """(rc, stdout, stderr) of ``git ARGS``; GitosisError on failure (when CHECK) or when time runs out."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise GitosisError(f"timed out after {self.timeout} s before {what}")
        process = subprocess.Popen(
            [self.git, *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a timeout ends ssh too, not only git
        )
        try:
            out, err = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise GitosisError(f"timed out after {self.timeout} s while {what}") from None
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        if check and process.returncode != 0:
            raise GitosisError(f"{what} failed: {clean_output(err or out)}")
        return process.returncode, out, err


def ssh_command(ssh, port, private_key, known_hosts, connect_timeout):
    """The GIT_SSH_COMMAND: no ssh_config, batch mode, only the deploy key, the host key checked against KNOWN_HOSTS.

    ``-F none`` keeps the user's and the system's ssh_config (proxies, other keys) out; no agent is asked;
    a host key not in KNOWN_HOSTS fails the connection, and KNOWN_HOSTS is never written.
    """
    parts = [
        ssh,
        "-F",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        "LogLevel=ERROR",
    ]
    if port is not None:
        parts += ["-p", str(port)]
    parts += [
        "-i",
        private_key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "UpdateHostKeys=no",
    ]
    return " ".join(shlex.quote(part) for part in parts)


def git_env(ssh_cmd, author_name, author_email):
    """The caller's environment without GIT_* surprises (GIT_DIR, hooks, config), plus ours."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    env.update(
        GIT_SSH_COMMAND=ssh_cmd,
        GIT_SSH_VARIANT="ssh",
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=author_name,
        GIT_AUTHOR_EMAIL=author_email,
        GIT_COMMITTER_NAME=author_name,
        GIT_COMMITTER_EMAIL=author_email,
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


def _safe_path(work, relative):
    """The absolute path of RELATIVE in the clone, refusing symlinks: the repository must not redirect writes."""
    path = work
    for part in relative.split("/"):
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise GitosisError(f"{relative} in the repository is (or lies under) a symbolic link; refusing to use it")
    return path


def read_files(work, paths):
    files = {}
    for relative in paths:
        path = _safe_path(work, relative)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                files[relative] = handle.read()
        else:
            files[relative] = None
    return files


def write_changes(git, work, changes):
    for relative, text in changes.items():
        path = _safe_path(work, relative)
        if text is None:
            git.run(["rm", "--quiet", "--", relative], f"removing {relative}")
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)
        git.run(["add", "--", relative], f"adding {relative}")


def _ref_exists(git, ref):
    return git.run(["rev-parse", "--verify", "--quiet", ref], f"looking up {ref}", check=False)[0] == 0


class GitosisAdmin:
    """One clone of the gitosis-admin repository, brought to the wanted state and pushed, with retries."""

    def __init__(self, git, remote, port, work):
        self.git = git
        self.remote = remote
        self.where = f"{remote} (port {port})"
        self.work = work
        self.branch = None

    def clone(self):
        self.git.run(
            ["clone", "--quiet", "--no-tags", "--origin", "origin", "--", self.remote, self.work],
            f"cloning {self.where}",
        )
        self.git.cwd = self.work
        self.branch = self.git.run(["symbolic-ref", "--short", "HEAD"], "reading the cloned branch")[1].strip()

    def refresh(self):
        """Start again from what the remote holds now (after someone else pushed first)."""
        self.git.run(["fetch", "--quiet", "--no-tags", "--", "origin"], f"fetching {self.where}")
        upstream = f"refs/remotes/origin/{self.branch}"
        if _ref_exists(self.git, upstream):
            self.git.run(["reset", "--quiet", "--hard", upstream], f"resetting to {upstream}")

    def push(self):
        """True when pushed; False when the push lost a race with another push; GitosisError otherwise."""
        rc, out, err = self.git.run(
            ["push", "--porcelain", "--", "origin", f"HEAD:refs/heads/{self.branch}"],
            f"pushing to {self.where}",
            check=False,
        )
        if rc == 0:
            return True
        if _STALE_PUSH_RE.search(out):
            return False
        raise GitosisError(f"pushing to {self.where} failed: {clean_output(err + out)}")


def sync(module, admin, member, public_key, group, state, retries):
    """Apply the wanted state on a fresh clone and push it, re-applying on top when someone pushed first."""
    git = admin.git
    admin.clone()
    attempts, notes = 0, []
    while True:
        attempts += 1
        files = read_files(admin.work, [CONF_FILE, key_file(member)])
        change = plan(files, member, public_key, group, state)
        result = {
            "changed": bool(change["actions"]),
            "commit": None,
            "actions": notes + change["actions"],
            "attempts": attempts,
            "diff": file_diffs(files, change["files"]),
        }
        if not change["actions"] or module.check_mode:
            return result
        write_changes(git, admin.work, change["files"])
        git.run(["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", change["message"]], "committing")
        if admin.push():
            sha = git.run(["rev-parse", "HEAD"], "reading the new commit")[1].strip()
            result["commit"] = sha
            result["actions"].append(f"commit {sha[:12]} ({change['message']}) and push it to {admin.remote}")
            return result
        if attempts > retries:
            raise GitosisError(
                f"pushing to {admin.where} was rejected {attempts} times because others pushed first; giving up"
            )
        notes.append(f"push rejected: {admin.remote} changed meanwhile; fetch and apply again")
        admin.refresh()


def run_gitosis_key(module):
    """Bring the member's key and group membership to the wanted state and exit the module."""
    params = module.params
    member, group, state = params["member"], params["group"], params["state"]
    try:
        check_member(member)
        check_group(group)
        public_key = normalise_public_key(params["public_key"]) if state == "present" else None
        url_port = check_remote(params["remote"])
        if params["retries"] < 0:
            raise GitosisError("retries must be 0 or more")
        if params["timeout"] <= 0:
            raise GitosisError("timeout must be more than 0 seconds")
        check_ssh_file("known_hosts", params["known_hosts"])
        check_ssh_file("ssh_private_key", params["ssh_private_key"])
        if os.path.getsize(params["known_hosts"]) == 0:
            raise GitosisError(f"known_hosts {params['known_hosts']} is empty: it must hold the server's host key")
    except GitosisError as exc:
        module.fail_json(msg=str(exc))

    git_bin = module.get_bin_path("git", required=True)
    ssh_bin = module.get_bin_path("ssh", required=True)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="jarvis-gitosis-")
    try:
        ssh_cmd = ssh_command(
            ssh_bin,
            None if url_port is not None else params["port"],
            params["ssh_private_key"],
            params["known_hosts"],
            max(1, min(params["timeout"], 30)),
        )
        env = git_env(ssh_cmd, params["author_name"], params["author_email"])
        git = Git(git_bin, env, started + params["timeout"], params["timeout"])
        port = url_port if url_port is not None else params["port"]
        admin = GitosisAdmin(git, params["remote"], port, os.path.join(tmp, "gitosis-admin"))
        try:
            result = sync(module, admin, member, public_key, group, state, params["retries"])
        except GitosisError as exc:
            module.fail_json(msg=f"gitosis_key {member} ({state}): {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(member=member, group=group, key_file=key_file(member), **result)
