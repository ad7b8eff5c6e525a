# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fstab lines and mountinfo, read and written, and which wanted options a mounted filesystem visibly lacks."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._fstab import (
    FstabEntry,
    edit_fstab,
    escape,
    fstab_paths,
    normal_path,
    unescape,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._mountinfo import (
    Mounted,
    is_bind,
    option_differences,
    same_fstype,
    same_source,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._mounts import (
    MountsError,
    read_mountinfo,
    read_text,
    wanted_entries,
    write_atomically,
)

FSTAB = """\
# /etc/fstab: static file system information.
UUID=0a1b / ext4 errors=remount-ro 0 1

tmpfs   /srv/cache/   tmpfs   size=64m   0   0
/dev/sdb1 /data ext4 defaults 0 2
"""

TMPFS = "28 27 0:25 / /srv/cache rw,nosuid,relatime shared:1 master:2 - tmpfs tmpfs rw,size=65536k,mode=755"


def mount(**changes):
    """One item of the module's mounts option."""
    return {
        "src": "tmpfs",
        "path": "/srv/cache",
        "fstype": "tmpfs",
        "opts": "size=64m",
        "dump": 0,
        "passno": 0,
        **changes,
    }


# --- octal escapes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "escaped"),
    [("/mnt/my disk", "/mnt/my\\040disk"), ("a\tb", "a\\011b"), ("back\\slash", "back\\134slash"), ("/srv", "/srv")],
)
def test_fields_with_blanks_are_octal_escaped_and_back(field, escaped):
    assert escape(field) == escaped
    assert unescape(escaped) == field


@pytest.mark.parametrize("field", ["/srv/a b\tc\nd\\e", "\\040 literal", "UUID=0a1b", ""])
def test_escaping_round_trips(field):
    assert unescape(escape(field)) == field


# --- fstab ----------------------------------------------------------------------------------------


def test_an_fstab_line_with_every_field():
    entry = FstabEntry.parse("/dev/disk/by-label/my\\040data /mnt/my\\040data ext4 noatime,nofail 1 2\n")
    assert (entry.src, entry.path, entry.fstype, entry.opts, entry.dump, entry.passno) == (
        "/dev/disk/by-label/my data",
        "/mnt/my data",
        "ext4",
        "noatime,nofail",
        1,
        2,
    )
    assert entry.line() == "/dev/disk/by-label/my\\040data /mnt/my\\040data ext4 noatime,nofail 1 2"


def test_missing_fields_take_fstab_defaults():
    entry = FstabEntry.parse("tmpfs /srv tmpfs")
    assert (entry.opts, entry.dump, entry.passno) == ("defaults", 0, 0)
    assert entry.line() == "tmpfs /srv tmpfs defaults 0 0"


@pytest.mark.parametrize(
    "line",
    ["# tmpfs /srv tmpfs defaults 0 0", "", "   ", "tmpfs /srv", "tmpfs /srv tmpfs defaults x 0", "a b c d 0 two"],
)
def test_comments_blank_and_malformed_lines_are_no_entries(line):
    assert FstabEntry.parse(line) is None


def test_entries_are_equal_whatever_the_spacing_and_trailing_slash():
    entry = FstabEntry("tmpfs", "/srv/cache", "tmpfs", "size=64m")
    assert FstabEntry.parse("tmpfs\t/srv/cache/   tmpfs size=64m 0 0") == entry
    assert FstabEntry("tmpfs", "/srv", "tmpfs", "size=64m") != FstabEntry("tmpfs", "/srv", "tmpfs", "size=32m")
    assert len({FstabEntry("tmpfs", "/srv/", "tmpfs"), FstabEntry("tmpfs", "/srv", "tmpfs")}) == 1


@pytest.mark.parametrize(
    ("path", "normal"), [("/srv/cache/", "/srv/cache"), ("/srv/./x/../cache", "/srv/cache"), ("none", "none")]
)
def test_normal_paths(path, normal):
    assert normal_path(path) == normal


def test_an_entry_already_there_is_left_as_written():
    assert edit_fstab(FSTAB, [FstabEntry("tmpfs", "/srv/cache", "tmpfs", "size=64m")], []) == FSTAB


def test_a_differing_entry_is_replaced_where_it_stands():
    text = edit_fstab(FSTAB, [FstabEntry("tmpfs", "/srv/cache", "tmpfs", "size=128m")], [])
    assert text.splitlines() == [
        "# /etc/fstab: static file system information.",
        "UUID=0a1b / ext4 errors=remount-ro 0 1",
        "",
        "tmpfs /srv/cache tmpfs size=128m 0 0",
        "/dev/sdb1 /data ext4 defaults 0 2",
    ]


def test_further_lines_for_one_mount_point_go():
    doubled = FSTAB + "tmpfs /srv/cache tmpfs size=32m 0 0\n"
    assert edit_fstab(doubled, [FstabEntry("tmpfs", "/srv/cache", "tmpfs", "size=64m")], []) == FSTAB


def test_new_entries_are_appended_even_after_a_last_line_without_newline():
    text = edit_fstab(FSTAB.rstrip("\n"), [FstabEntry("tmpfs", "/mnt/my disk", "tmpfs")], [])
    assert text == FSTAB + "tmpfs /mnt/my\\040disk tmpfs defaults 0 0\n"
    assert edit_fstab("", [FstabEntry("tmpfs", "/srv", "tmpfs")], []) == "tmpfs /srv tmpfs defaults 0 0\n"


def test_removed_mount_points_lose_every_line_and_nothing_else_changes():
    text = edit_fstab(FSTAB + "tmpfs /srv/cache tmpfs size=32m 0 0\n", [], ["/srv/cache"])
    assert text == FSTAB.replace("tmpfs   /srv/cache/   tmpfs   size=64m   0   0\n", "")
    assert edit_fstab(FSTAB, [], ["/nowhere"]) == FSTAB


def test_the_mount_points_of_an_fstab():
    assert fstab_paths(FSTAB) == {"/", "/srv/cache", "/data"}


def test_wanted_entries_from_the_module_options():
    (entry,) = wanted_entries([mount(path="/srv/cache/", dump=1, passno=2)])
    assert entry == FstabEntry("tmpfs", "/srv/cache", "tmpfs", "size=64m", 1, 2)


@pytest.mark.parametrize(
    ("mounts", "message"),
    [
        ([mount(path="srv")], "mount point 'srv' is not an absolute path"),
        ([mount(), mount(path="/srv/cache/")], "mount point /srv/cache is listed more than once"),
        ([mount(src="")], "src of mount /srv/cache must not be empty"),
        ([mount(fstype="")], "fstype of mount /srv/cache must be one non-empty word, not ''"),
        ([mount(opts="size=64m 0 0")], "opts of mount /srv/cache must be one non-empty word, not 'size=64m 0 0'"),
        ([mount(opts="a\nb")], "opts of mount /srv/cache must be one non-empty word"),
    ],
)
def test_bad_mounts_are_refused_naming_the_mount(mounts, message):
    with pytest.raises(MountsError) as caught:
        wanted_entries(mounts)
    assert str(caught.value).startswith(message)


def test_writing_replaces_the_file_and_keeps_its_mode(tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text("old\n")
    fstab.chmod(0o600)
    write_atomically(str(fstab), FSTAB)
    assert fstab.read_text() == FSTAB
    assert stat.S_IMODE(fstab.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["fstab"]


def test_a_new_file_is_world_readable(tmp_path):
    fstab = tmp_path / "fstab"
    write_atomically(str(fstab), FSTAB)
    assert stat.S_IMODE(fstab.stat().st_mode) == 0o644


def test_a_missing_file_reads_as_empty_and_an_unwritable_place_says_so(tmp_path):
    assert read_text(str(tmp_path / "missing")) == ""
    with pytest.raises(MountsError, match="^cannot write .*/no/such/dir/fstab: No such file or directory"):
        write_atomically(str(tmp_path / "no" / "such" / "dir" / "fstab"), FSTAB)


# --- mountinfo --------------------------------------------------------------------------------------


def test_a_mountinfo_line_with_optional_fields_and_escapes():
    mounted = Mounted("36 35 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 - ext3 /dev/root rw,errors=continue")
    assert (mounted.device, mounted.root, mounted.path, mounted.fstype, mounted.source) == (
        (98, 0),
        "/mnt1",
        "/mnt/my disk",
        "ext3",
        "/dev/root",
    )
    assert mounted.mount_options == ["rw", "noatime"]
    assert mounted.super_options == ["rw", "errors=continue"]
    assert mounted.describe() == "/dev/root[/mnt1] (ext3)"
    assert Mounted(TMPFS).describe() == "tmpfs (tmpfs)"


def test_the_topmost_of_stacked_mounts_is_what_shows(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        "30 1 0:30 / /srv/cache rw - tmpfs first rw\n"
        "\n"
        "31 30 0:31 / /srv/cache rw - tmpfs second rw\n"
    )
    mounted = read_mountinfo(str(mountinfo))
    assert sorted(mounted) == ["/proc", "/srv/cache"]
    assert mounted["/srv/cache"].source == "second"


def test_this_machine_s_mountinfo_parses():
    assert "/" in read_mountinfo()


# --- options -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opts",
    [
        "size=64m,mode=0755,relatime",
        "size=65536k,mode=755,rw",
        "size=67108864",
        "defaults,noauto,nofail,x-systemd.automount,comment=x,_netdev",
        "size=50%",  # cannot be told from the kernel's report, so not a difference
        "uid=0,gid=0",  # not reported by this mount, so not checked
        "dev,exec,suid,atime",
    ],
)
def test_options_the_mount_shows_are_no_difference(opts):
    mounted = Mounted(TMPFS.replace("rw,nosuid,relatime", "rw,relatime"))
    assert option_differences(opts, mounted, bind=False) == []


@pytest.mark.parametrize(
    ("opts", "differences"),
    [
        ("size=32m", ["size=32m"]),
        ("mode=0700", ["mode=0700"]),
        ("ro", ["ro"]),
        ("noexec,nodev", ["noexec", "nodev"]),
        ("suid", ["suid"]),  # nosuid is set
        ("strictatime", ["strictatime"]),  # relatime is set
        ("size=64m,mode=0755", []),
    ],
)
def test_options_the_mount_lacks_are_listed(opts, differences):
    assert option_differences(opts, Mounted(TMPFS), bind=False) == differences


def test_a_bind_mount_is_only_checked_for_the_flags_a_bind_can_change():
    assert option_differences("bind,size=1m,mode=0700,nosuid", Mounted(TMPFS), bind=True) == []
    assert option_differences("bind,ro,noexec", Mounted(TMPFS), bind=True) == ["ro", "noexec"]


@pytest.mark.parametrize(("opts", "bind"), [("bind", True), ("rbind,ro", True), ("defaults", False), ("bindx", False)])
def test_bind_mounts(opts, bind):
    assert is_bind(opts) is bind


@pytest.mark.parametrize(
    ("wanted", "mounted", "same"),
    [
        ("tmpfs", "tmpfs", True),
        ("auto", "ext4", True),
        ("none", "tmpfs", True),
        ("nfs", "nfs4", True),
        ("nfs4", "nfs", True),
        ("ext4", "xfs", False),
        ("nfs", "cifs", False),
    ],
)
def test_filesystem_types(wanted, mounted, same):
    assert same_fstype(wanted, mounted) is same


def test_a_virtual_filesystem_is_the_same_by_source_and_type():
    mounted = Mounted(TMPFS)
    assert same_source(FstabEntry("tmpfs", "/srv/cache", "tmpfs"), mounted)
    assert not same_source(FstabEntry("cache", "/srv/cache", "tmpfs"), mounted)
    assert not same_source(FstabEntry("tmpfs", "/srv/cache", "ramfs"), mounted)


def test_nfs_sources_match_with_or_without_a_trailing_slash():
    mounted = Mounted("40 27 0:50 / /mnt/nfs rw,relatime - nfs4 nas:/export/ rw,vers=4.2")
    assert same_source(FstabEntry("nas:/export", "/mnt/nfs", "nfs"), mounted)
    assert not same_source(FstabEntry("nas:/other", "/mnt/nfs", "nfs"), mounted)


def test_a_bind_mount_is_the_same_when_both_paths_are_one_directory(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.symlink_to(source)
    mounted = Mounted(TMPFS)
    assert same_source(FstabEntry(str(source), str(target), "none", "bind"), mounted)
    assert not same_source(FstabEntry(str(tmp_path), str(target), "none", "bind"), mounted)
    assert not same_source(FstabEntry(str(tmp_path / "missing"), str(target), "none", "bind"), mounted)
