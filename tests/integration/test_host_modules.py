"""jarvis.deploy.mounts and jarvis.deploy.root_keypair run ON real hosts (sandbox EC2 instances) over SSH."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from sandbox import ec2
from tests.support.ansible import run_module_on
from tests.support.hosts import launch_host
from tests.support.ssh import make_key, ssh

pytestmark = pytest.mark.integration

UNRELATED = "# /dev/vdb2 was swap before the reinstall: keep this note\nproc /proc proc defaults 0 0\n"


@pytest.fixture(scope="module")
def root_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The key root of every host of this file accepts."""
    return make_key(tmp_path_factory.mktemp("host-modules-key"))


@pytest.fixture(scope="module")
def mounts_host(ec2_sandbox: ec2.Ec2Info, root_key: Path) -> str:
    """A host whose fstab starts with a comment and an entry no test asks for."""
    ip = launch_host(ec2_sandbox, "mounts", root_key)
    on_host(ip, root_key, f"printf %s {shlex.quote(UNRELATED)} > /etc/fstab")
    return ip


@pytest.fixture(scope="module")
def keypair_host(ec2_sandbox: ec2.Ec2Info, root_key: Path) -> str:
    return launch_host(ec2_sandbox, "keys", root_key)


def on_host(ip: str, key: Path, command: str) -> str:
    """COMMAND's output on the host; it must succeed."""
    done = ssh(ip, key, command)
    assert done.returncode == 0, f"{command!r} failed on {ip}: {done.stderr}"
    return done.stdout


def run(ip: str, key: Path, module: str, args: dict[str, Any], **kwargs: bool) -> dict[str, Any]:
    """The module's result on IP; it must not have failed."""
    result = run_module_on(ip, key, module, args, **kwargs)
    assert not result.get("failed"), result.get("msg", result)
    return result


def findmnt(ip: str, key: Path, path: str) -> str:
    """SOURCE FSTYPE OPTIONS of what is mounted on PATH, "" when nothing is."""
    return ssh(ip, key, f"findmnt -n -r -o SOURCE,FSTYPE,OPTIONS --mountpoint {path}").stdout.strip()


def fstab_lines(ip: str, key: Path) -> list[str]:
    return on_host(ip, key, "cat /etc/fstab").splitlines()


# --- mounts -------------------------------------------------------------------------------------


def test_a_tmpfs_in_four_beats_is_mounted_and_in_fstab_once(mounts_host: str, root_key: Path) -> None:
    args = {"mounts": [{"src": "tmpfs", "path": "/srv/cache", "fstype": "tmpfs", "opts": "size=16m"}]}

    planned = run(mounts_host, root_key, "mounts", args, check=True, diff=True)
    assert planned["changed"] is True
    assert planned["fstab_changed"] is True
    assert planned["actions"] == [
        "would add /srv/cache to /etc/fstab",
        "would create directory /srv/cache",
        "would mount /srv/cache",
    ]
    assert planned["diff"]["before"] == UNRELATED
    assert planned["diff"]["after"] == UNRELATED + "tmpfs /srv/cache tmpfs size=16m 0 0\n"
    assert fstab_lines(mounts_host, root_key) == UNRELATED.splitlines()
    assert findmnt(mounts_host, root_key, "/srv/cache") == ""
    assert ssh(mounts_host, root_key, "test -e /srv/cache").returncode == 1

    done = run(mounts_host, root_key, "mounts", args)
    assert done["changed"] is True
    assert done["mounted"] == ["/srv/cache"]
    assert done["actions"] == ["added /srv/cache to /etc/fstab", "created directory /srv/cache", "mounted /srv/cache"]
    assert findmnt(mounts_host, root_key, "/srv/cache") == "tmpfs tmpfs rw,relatime,size=16384k"
    assert fstab_lines(mounts_host, root_key) == [*UNRELATED.splitlines(), "tmpfs /srv/cache tmpfs size=16m 0 0"]

    for check in (True, False):
        again = run(mounts_host, root_key, "mounts", args, check=check)
        assert (again["changed"], again["fstab_changed"], again["mounted"], again["actions"]) == (False, False, [], [])
    assert [line for line in fstab_lines(mounts_host, root_key) if "/srv/cache" in line] == [
        "tmpfs /srv/cache tmpfs size=16m 0 0"
    ]


def test_new_options_remount_and_replace_the_line_where_it_stands(mounts_host: str, root_key: Path) -> None:
    mount = {"src": "tmpfs", "path": "/srv/scratch", "fstype": "tmpfs", "opts": "size=16m"}
    run(mounts_host, root_key, "mounts", {"mounts": [mount]})
    on_host(mounts_host, root_key, "echo '# after scratch' >> /etc/fstab; echo kept > /srv/scratch/file")
    lines = fstab_lines(mounts_host, root_key)

    bigger = {"mounts": [{**mount, "opts": "size=32m,noexec"}]}
    planned = run(mounts_host, root_key, "mounts", bigger, check=True)
    assert planned["actions"] == [
        "would update /srv/scratch in /etc/fstab",
        "would remount /srv/scratch (size=32m,noexec)",
    ]
    done = run(mounts_host, root_key, "mounts", bigger)
    assert done["changed"] is True
    assert done["remounted"] == ["/srv/scratch"]
    assert done["mounted"] == []
    assert done["actions"] == ["updated /srv/scratch in /etc/fstab", "remounted /srv/scratch (size=32m,noexec)"]
    assert findmnt(mounts_host, root_key, "/srv/scratch") == "tmpfs tmpfs rw,noexec,relatime,size=32768k"
    assert on_host(mounts_host, root_key, "cat /srv/scratch/file") == "kept\n", "a remount keeps the contents"
    assert fstab_lines(mounts_host, root_key) == [
        "tmpfs /srv/scratch tmpfs size=32m,noexec 0 0" if "/srv/scratch" in line else line for line in lines
    ]
    assert run(mounts_host, root_key, "mounts", bigger)["changed"] is False


def test_a_bind_mount_shows_its_source_and_goes_read_only(mounts_host: str, root_key: Path) -> None:
    on_host(mounts_host, root_key, "mkdir -p /srv/data && echo hello > /srv/data/greeting")
    bind = {"src": "/srv/data", "path": "/mnt/data", "fstype": "none", "opts": "bind"}

    done = run(mounts_host, root_key, "mounts", {"mounts": [bind]})
    assert done["actions"] == ["added /mnt/data to /etc/fstab", "created directory /mnt/data", "mounted /mnt/data"]
    assert on_host(mounts_host, root_key, "cat /mnt/data/greeting") == "hello\n"
    assert run(mounts_host, root_key, "mounts", {"mounts": [bind]})["changed"] is False

    read_only = {"mounts": [{**bind, "opts": "bind,ro"}]}
    done = run(mounts_host, root_key, "mounts", read_only)
    assert done["actions"] == ["updated /mnt/data in /etc/fstab", "remounted /mnt/data (ro)"]
    assert findmnt(mounts_host, root_key, "/mnt/data").split()[2].startswith("ro,")
    assert ssh(mounts_host, root_key, "touch /mnt/data/new").returncode != 0
    assert run(mounts_host, root_key, "mounts", read_only)["changed"] is False


def test_absent_unmounts_and_removes_only_its_line(mounts_host: str, root_key: Path) -> None:
    mount = {"src": "tmpfs", "path": "/srv/old", "fstype": "tmpfs", "opts": "size=8m"}
    run(mounts_host, root_key, "mounts", {"mounts": [mount]})
    lines = fstab_lines(mounts_host, root_key)
    args = {"mounts": [mount], "state": "absent"}

    planned = run(mounts_host, root_key, "mounts", args, check=True)
    assert planned["actions"] == ["would remove /srv/old from /etc/fstab", "would unmount /srv/old"]
    assert findmnt(mounts_host, root_key, "/srv/old") != ""

    done = run(mounts_host, root_key, "mounts", args, diff=True)
    assert done["changed"] is True
    assert done["unmounted"] == ["/srv/old"]
    assert done["actions"] == ["removed /srv/old from /etc/fstab", "unmounted /srv/old"]
    assert findmnt(mounts_host, root_key, "/srv/old") == ""
    assert fstab_lines(mounts_host, root_key) == [line for line in lines if "/srv/old" not in line]
    assert fstab_lines(mounts_host, root_key)[:2] == UNRELATED.splitlines()
    assert done["diff"]["after"].splitlines() == fstab_lines(mounts_host, root_key)

    assert run(mounts_host, root_key, "mounts", args)["changed"] is False


def test_a_failing_mount_fails_with_mounts_error(mounts_host: str, root_key: Path) -> None:
    """The host has no NFS client: the mount fails, with mount's own words; fstab already says what is wanted."""
    nfs = {"src": "10.201.0.1:/export/home", "path": "/mnt/home", "fstype": "nfs", "opts": "ro,soft"}
    result = run_module_on(mounts_host, root_key, "mounts", {"mounts": [nfs]})
    assert result["failed"] is True
    assert result["msg"].startswith("mounting 10.201.0.1:/export/home on /mnt/home failed: mount: /mnt/home:")
    assert "unknown filesystem type 'nfs'" in result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert result["actions"] == ["added /mnt/home to /etc/fstab", "created directory /mnt/home"]
    assert (result["changed"], result["fstab_changed"], result["mounted"]) == (True, True, [])
    assert "10.201.0.1:/export/home /mnt/home nfs ro,soft 0 0" in fstab_lines(mounts_host, root_key)

    gone = run(mounts_host, root_key, "mounts", {"mounts": [nfs], "state": "absent"})
    assert gone["actions"] == ["removed /mnt/home from /etc/fstab"]


def test_another_filesystem_on_the_mount_point_fails_before_any_change(mounts_host: str, root_key: Path) -> None:
    on_host(mounts_host, root_key, "mkdir -p /srv/busy /srv/data && mount -t tmpfs -o size=1m other /srv/busy")
    before = fstab_lines(mounts_host, root_key)
    bind = {"src": "/srv/data", "path": "/srv/busy", "fstype": "none", "opts": "bind"}
    for state in ("present", "absent"):
        result = run_module_on(mounts_host, root_key, "mounts", {"mounts": [bind], "state": state})
        assert result["failed"] is True
        assert result["msg"].startswith("/srv/busy is ")
        assert "mounted from other (tmpfs), not /srv/data (none)" in result["msg"]
        assert result["changed"] is False
    assert fstab_lines(mounts_host, root_key) == before
    assert findmnt(mounts_host, root_key, "/srv/busy") == "other tmpfs rw,relatime,size=1024k"


# --- root_keypair -------------------------------------------------------------------------------


def keygen_fingerprint(ip: str, key: Path, public: str) -> str:
    return on_host(ip, key, f"ssh-keygen -l -E sha256 -f {public}").split()[1]


def test_root_keypair_in_four_beats(keypair_host: str, root_key: Path) -> None:
    args = {"comment": "root@keys.websages.com"}
    path = "/root/.ssh/id_ed25519"

    planned = run(keypair_host, root_key, "root_keypair", args, check=True, diff=True)
    assert planned["changed"] is True
    assert planned["actions"] == [f"would generate an ed25519 key pair at {path}"]
    assert (planned["public_key"], planned["fingerprint"]) == ("", "")
    assert planned["diff"]["before"]["public_key"] == ""
    assert ssh(keypair_host, root_key, f"test -e {path}").returncode == 1

    done = run(keypair_host, root_key, "root_keypair", args, diff=True)
    assert done["changed"] is True
    assert done["actions"] == [f"generated an ed25519 key pair at {path}"]
    assert done["path"] == path
    assert done["public_key"] == on_host(keypair_host, root_key, f"cat {path}.pub").strip()
    assert done["public_key"].startswith("ssh-ed25519 AAAA")
    assert done["public_key"].endswith(" root@keys.websages.com")
    assert done["fingerprint"] == keygen_fingerprint(keypair_host, root_key, f"{path}.pub")
    assert done["diff"]["after"]["fingerprint"] == done["fingerprint"]
    assert on_host(keypair_host, root_key, f"stat -c %a /root/.ssh {path} {path}.pub").split() == ["700", "600", "644"]
    private = on_host(keypair_host, root_key, f"cat {path}").splitlines()
    assert private[0] == "-----BEGIN OPENSSH PRIVATE KEY-----"
    assert not any(line in done["_stdout"] for line in private[1:-1]), "the private key left the host"

    for check in (True, False):
        again = run(keypair_host, root_key, "root_keypair", args, check=check)
        assert (again["changed"], again["actions"]) == (False, [])
        assert (again["public_key"], again["fingerprint"]) == (done["public_key"], done["fingerprint"])


def test_rotate_gives_a_new_key_and_check_mode_keeps_the_old(keypair_host: str, root_key: Path) -> None:
    path = "/root/.ssh/id_ed25519"
    old = run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.websages.com"})

    planned = run(
        keypair_host, root_key, "root_keypair", {"comment": "root@keys.websages.com", "rotate": True}, check=True
    )
    assert planned["actions"] == [f"would replace the key pair at {path} with a new ed25519 key pair"]
    assert keygen_fingerprint(keypair_host, root_key, f"{path}.pub") == old["fingerprint"]

    rotated = run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.websages.com", "rotate": True})
    assert rotated["changed"] is True
    assert rotated["actions"] == [f"replaced the key pair at {path} with a new ed25519 key pair"]
    assert rotated["fingerprint"] != old["fingerprint"]
    assert rotated["fingerprint"] == keygen_fingerprint(keypair_host, root_key, path)
    assert rotated["public_key"] == on_host(keypair_host, root_key, f"cat {path}.pub").strip()
    assert on_host(keypair_host, root_key, f"stat -c %a {path}; ls -a /root/.ssh").split() == [
        "600",
        ".",
        "..",
        "authorized_keys",
        "id_ed25519",
        "id_ed25519.pub",
    ], "no staging files are left behind"


def test_an_existing_key_is_kept_and_mended(keypair_host: str, root_key: Path) -> None:
    """New comment, lost .pub, loose modes: all put right without a new key."""
    path = "/root/.ssh/id_ed25519"
    key = run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.websages.com"})
    on_host(keypair_host, root_key, f"rm {path}.pub; chmod 755 /root/.ssh; chmod 640 {path}")

    planned = run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.example.org"}, check=True)
    assert len(planned["actions"]) == 4
    assert all(action.startswith("would ") for action in planned["actions"])
    assert planned["fingerprint"] == key["fingerprint"], "a key too open for ssh-keygen is still read in check mode"
    assert on_host(keypair_host, root_key, f"stat -c %a /root/.ssh {path}; ls {path}.pub || true").split() == [
        "755",
        "640",
    ]

    mended = run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.example.org"})
    assert mended["actions"] == [
        "set mode 0700 on directory /root/.ssh (was 0755)",
        f"set mode 0600 on private key {path} (was 0640)",
        f"rewrote {path}.pub from the private key",
        f"changed the comment of {path} to root@keys.example.org",
    ]
    assert mended["fingerprint"] == key["fingerprint"]
    assert mended["public_key"] == on_host(keypair_host, root_key, f"cat {path}.pub").strip()
    assert mended["public_key"].endswith(" root@keys.example.org")
    assert on_host(keypair_host, root_key, f"stat -c %a /root/.ssh {path} {path}.pub").split() == ["700", "600", "644"]
    assert run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.example.org"})["changed"] is False


def test_defaults_follow_the_type_and_the_hosts_name(keypair_host: str, root_key: Path) -> None:
    made = run(keypair_host, root_key, "root_keypair", {"type": "ecdsa"})
    fqdn = on_host(keypair_host, root_key, "python3 -c 'import socket; print(socket.getfqdn())'").strip()
    assert made["path"] == "/root/.ssh/id_ecdsa"
    assert made["public_key"].startswith("ecdsa-sha2-nistp256 ")
    assert made["public_key"].endswith(f" root@{fqdn}")


def test_a_key_of_another_type_is_not_replaced_silently(keypair_host: str, root_key: Path) -> None:
    run(keypair_host, root_key, "root_keypair", {"comment": "root@keys.websages.com"})
    result = run_module_on(keypair_host, root_key, "root_keypair", {"type": "rsa", "path": "/root/.ssh/id_ed25519"})
    assert result["failed"] is True
    assert result["msg"] == (
        "/root/.ssh/id_ed25519 holds an ed25519 key, not rsa: set rotate to replace it, or give another path"
    )


def test_without_ssh_keygen_the_module_names_the_package(keypair_host: str, root_key: Path) -> None:
    on_host(keypair_host, root_key, "mv /usr/bin/ssh-keygen /usr/bin/ssh-keygen.away")
    try:
        result = run_module_on(keypair_host, root_key, "root_keypair", {})
    finally:
        on_host(keypair_host, root_key, "mv /usr/bin/ssh-keygen.away /usr/bin/ssh-keygen")
    assert result["failed"] is True
    assert result["msg"] == "ssh-keygen is not installed on the host: install the openssh-client package"
