"""A real git server over SSH on loopback holding a gitosis-admin repository, for the key-registration step.

gitosis itself is not packaged in Debian; what the seed relies on is the repository's layout
(``gitosis.conf`` plus ``keydir/<member>.pub``) and a real git push over SSH, and that is what runs here:
OpenSSH's ``sshd`` as root on 127.0.0.1, accepting logins for the system user ``gitosis`` whose login
shell is ``git-shell`` (so only ``git-upload-pack``/``git-receive-pack`` run; no ForceCommand).

The user's home directory (where a remote path like ``gitosis-admin.git`` is looked up) must belong to
this server, not to the machine: sshd runs in its own mount namespace in which ``STATE_DIR/home`` is
bind-mounted over the user's home. So several servers can run at once, each with its own repository,
and the machine's ``/home/gitosis`` is never written. sshd reads ``authorized_keys`` as the user, which
is another reason it lives in that home (``STATE_DIR/home/.ssh/authorized_keys``): pytest's and the
sandbox's state dirs are private to root.

Only the keys in ``authorized_keys`` (jarvis's deploy key and the admin's key) may log in; unlike real
gitosis, keys pushed to ``keydir/`` do not grant access.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandbox import _ssh
from sandbox._process import SandboxError
from sandbox._server import Server

__all__ = ["ADMIN_MEMBER", "GIT_USER", "REPO_NAME", "GitServerInfo", "start", "stop"]

GIT_USER = "gitosis"
REPO_NAME = "gitosis-admin.git"
ADMIN_MEMBER = "admin@websages"
SSHD = "/usr/sbin/sshd"
_GIT_SHELL = "/usr/bin/git-shell"
_START_TIMEOUT = 10.0
_GITOSIS_CONF = f"""[gitosis]

[group gitosis-admin]
members = {ADMIN_MEMBER}
writable = gitosis-admin
"""
# Inside its mount namespace: bind the server's home over the user's, then become sshd.
_ENTER = 'mount --bind "$0" "$1" && exec "$2" -D -e -f "$3"'


@dataclass(frozen=True)
class GitServerInfo:
    """Where the git server listens, the repository it serves and the client files that may push to it."""

    host: str
    port: int
    user: str
    repo_path: str  # the bare repository on disk (owned by the git user)
    remote: str  # scp-like, as the seed writes it; the port goes to ssh separately
    private_key: str  # jarvis's deploy key: may clone and push
    known_hosts: str  # the server's host key, for StrictHostKeyChecking=yes

    def ssh_command(self, ssh: str = "ssh") -> str:
        """A GIT_SSH_COMMAND that reaches this server with the deploy key, host key checked."""
        return (
            f"{shlex.quote(ssh)} -i {shlex.quote(self.private_key)} -p {self.port}"
            " -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes"
            f" -o UserKnownHostsFile={shlex.quote(self.known_hosts)}"
        )


_SERVER = Server("gitserver-sshd", "gitserver.json", GitServerInfo, lambda info: info.port)


def start(state_dir: Path) -> GitServerInfo:
    """Start the git server of STATE_DIR (creating user, keys and repository when missing); reuse a running one."""
    state_dir = state_dir.resolve()
    previous = _SERVER.recorded(state_dir)
    if previous is not None and _SERVER.running(state_dir):
        return previous
    _SERVER.stop(state_dir)
    _check_tools()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    user = _ensure_git_user()

    home = state_dir / "home"
    home.mkdir(exist_ok=True)
    host_key = _ssh.keypair(state_dir / "ssh_host_ed25519_key", "")
    deploy_key = _ssh.keypair(state_dir / "jarvis_deploy_key", "jarvis@sandbox")
    admin_key = _ssh.keypair(state_dir / "admin_key", ADMIN_MEMBER)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    authorized = [_ssh.public_line(deploy_key), _ssh.public_line(admin_key)]
    (ssh_dir / "authorized_keys").write_text("\n".join(authorized) + "\n")
    repo = home / REPO_NAME
    if not repo.exists():
        _create_repository(repo, _ssh.public_line(admin_key))
    _chown_tree(home, user)

    port = _SERVER.port_again(previous)
    known_hosts = state_dir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {_ssh.public_line(host_key)}\n")
    config = state_dir / "sshd_config"
    config.write_text(
        _ssh.sshd_config(
            "git over SSH for the gitosis-admin repository",
            port,
            host_key,
            user=GIT_USER,
            authorized_keys="%h/.ssh/authorized_keys",
        )
    )
    info = GitServerInfo(
        host="127.0.0.1",
        port=port,
        user=GIT_USER,
        repo_path=str(repo),
        remote=f"{GIT_USER}@127.0.0.1:{REPO_NAME}",
        private_key=str(deploy_key),
        known_hosts=str(known_hosts),
    )
    _SERVER.record(state_dir, info)

    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation directory
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _ENTER]
    _SERVER.launch(state_dir, [*argv, str(home), user.pw_dir, SSHD, str(config)], port, _START_TIMEOUT)
    return info


def stop(state_dir: Path) -> None:
    """Stop the git server of STATE_DIR; its repository and keys stay for the next start."""
    _SERVER.stop(state_dir)


def _check_tools() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the git server needs root: it runs sshd and a mount namespace")
    missing = [tool for tool in ("git", "ssh-keygen", "unshare", "useradd") if shutil.which(tool) is None]
    missing += [path for path in (SSHD, _GIT_SHELL) if not Path(path).exists()]
    if missing:
        raise SandboxError(
            f"missing {', '.join(missing)}: apt-get install git openssh-server openssh-client util-linux passwd"
        )


def _ensure_git_user() -> pwd.struct_passwd:
    """The system user ``gitosis`` (login shell git-shell), created when missing; its password unlocked.

    Without PAM, sshd refuses accounts whose password field starts with ``!`` (useradd's default), so
    the field becomes ``*``: no password can match, but key logins work.
    """
    try:
        user = pwd.getpwnam(GIT_USER)
    except KeyError:
        created = subprocess.run(
            ["useradd", "--system", "--create-home", "--shell", _GIT_SHELL, "--password", "*", GIT_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        try:  # another process may have created it meanwhile
            user = pwd.getpwnam(GIT_USER)
        except KeyError:
            raise SandboxError(f"cannot create user {GIT_USER}: {created.stderr.strip()}") from None
    if user.pw_shell != _GIT_SHELL:
        raise SandboxError(f"user {GIT_USER} exists with login shell {user.pw_shell}, not {_GIT_SHELL}")
    if not Path(user.pw_dir).is_dir():
        raise SandboxError(f"home directory {user.pw_dir} of user {GIT_USER} is missing")
    if _shadow_password(GIT_USER).startswith("!"):
        subprocess.run(["usermod", "--password", "*", GIT_USER], check=True, capture_output=True)
    return user


def _shadow_password(user: str) -> str:
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user and len(fields) > 1:
            return fields[1]
    return ""


def _create_repository(repo: Path, admin_public_key: str) -> None:
    """A bare repository with gitosis's initial layout, committed by the sandbox on branch master."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "jarvis sandbox",
        "GIT_AUTHOR_EMAIL": "sandbox@localhost",
        "GIT_COMMITTER_NAME": "jarvis sandbox",
        "GIT_COMMITTER_EMAIL": "sandbox@localhost",
    }

    def git(*args: str, cwd: Path) -> None:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SandboxError(f"git {' '.join(args)} failed: {done.stderr.strip()}")

    tmp_repo = repo.with_name(repo.name + ".new")
    shutil.rmtree(tmp_repo, ignore_errors=True)
    git("init", "--quiet", "--bare", "--initial-branch=master", str(tmp_repo), cwd=repo.parent)
    with tempfile.TemporaryDirectory(prefix="gitosis-admin-") as work_dir:
        work = Path(work_dir)
        git("init", "--quiet", "--initial-branch=master", cwd=work)
        (work / "gitosis.conf").write_text(_GITOSIS_CONF)
        (work / "keydir").mkdir()
        (work / "keydir" / f"{ADMIN_MEMBER}.pub").write_text(admin_public_key + "\n")
        git("add", "gitosis.conf", "keydir", cwd=work)
        git("commit", "--quiet", "-m", "gitosis-admin: initial configuration", cwd=work)
        git("push", "--quiet", str(tmp_repo), "master", cwd=work)
    tmp_repo.replace(repo)


def _chown_tree(top: Path, user: pwd.struct_passwd) -> None:
    """Hand TOP and everything below to USER: git-receive-pack writes the repository as that user."""
    for path in [top, *top.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)
