# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kernel has mounted (/proc/self/mountinfo), and whether it is the filesystem and options wanted."""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat

from ansible_collections.jarvis.deploy.plugins.module_utils._fstab import unescape

MOUNTINFO = "/proc/self/mountinfo"

# Options mount(8) or the boot process use, which the kernel never reports back.
_UNREPORTED = frozenset(
    (
        "defaults",
        "auto",
        "noauto",
        "user",
        "nouser",
        "users",
        "owner",
        "group",
        "nofail",
        "_netdev",
        "bind",
        "rbind",
        "loop",
        "remount",
        "silent",
        "loud",
        "iversion",
        "noiversion",
        "nostrictatime",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "private",
        "rprivate",
        "unbindable",
        "runbindable",
    )
)
_UNREPORTED_PREFIXES = ("x-", "comment=", "helper=", "loop=", "offset=", "sizelimit=", "encryption=")
# Flags the kernel reports by name when set.
_FLAGS = frozenset(("ro", "rw", "nosuid", "nodev", "noexec", "noatime", "relatime", "nodiratime", "sync", "dirsync"))
_FLAGS |= frozenset(("lazytime", "mand"))
# Flags that mean "the opposite flag is not set".
_CLEARED = {
    "suid": ("nosuid",),
    "dev": ("nodev",),
    "exec": ("noexec",),
    "atime": ("noatime",),
    "diratime": ("nodiratime",),
    "async": ("sync",),
    "nolazytime": ("lazytime",),
    "nomand": ("mand",),
    "norelatime": ("relatime",),
    "strictatime": ("noatime", "relatime"),
}
# The only flags a bind mount can change: the rest belongs to the filesystem it shows.
_BIND_FLAGS = frozenset(("ro", "rw", "nosuid", "nodev", "noexec", "noatime", "relatime", "nodiratime"))
_BIND_FLAGS |= frozenset(_CLEARED) - {"async", "nolazytime", "nomand"}
_SIZE_KEYS = frozenset(("size", "nr_blocks", "nr_inodes"))
_SIZE = re.compile(r"^(\d+)([kmgtpe]?)$", re.IGNORECASE)
_NFS_TYPES = frozenset(("nfs", "nfs4"))
_DEVICE_TAGS = {"UUID": "by-uuid", "LABEL": "by-label", "PARTUUID": "by-partuuid", "PARTLABEL": "by-partlabel"}


class Mounted:
    """One line of mountinfo: what is mounted where, with which options."""

    def __init__(self, line):
        fields = line.split()
        separator = fields.index("-", 6)
        self.device = tuple(int(number) for number in fields[2].split(":"))
        self.root = unescape(fields[3])
        self.path = unescape(fields[4])
        self.mount_options = fields[5].split(",")
        self.fstype = fields[separator + 1]
        self.source = unescape(fields[separator + 2])
        self.super_options = fields[separator + 3].split(",") if len(fields) > separator + 3 else []

    def describe(self):
        if self.root != "/":
            return f"{self.source}[{self.root}] ({self.fstype})"
        return f"{self.source} ({self.fstype})"


def parse_mountinfo(text):
    """Mount point → what is visibly mounted there (the last, topmost, of stacked mounts), from mountinfo TEXT."""
    mounted = {}
    for line in text.splitlines():
        if line.strip():
            entry = Mounted(line)
            mounted[entry.path] = entry
    return mounted


def _size(value):
    match = _SIZE.match(value)
    if not match:
        return None
    return int(match.group(1)) * 1024 ** "_kmgtpe".index(match.group(2).lower() or "_")


def _id(value, lookup):
    if value.isdigit():
        return int(value)
    try:
        return lookup(value)
    except KeyError:
        return None


def _normal_value(key, value):
    """VALUE as the kernel would report it, or None when that cannot be told (size=50%, unknown user)."""
    if key in _SIZE_KEYS:
        return _size(value)
    if key == "mode":
        try:
            return int(value, 8)
        except ValueError:
            return None
    if key == "uid":
        return _id(value, lambda name: pwd.getpwnam(name).pw_uid)
    if key == "gid":
        return _id(value, lambda name: grp.getgrnam(name).gr_gid)
    return value


def option_differences(opts, mounted, bind):
    """The options of OPTS that MOUNTED visibly lacks; options the kernel does not report are not checked."""
    reported = set(mounted.mount_options) | set(mounted.super_options)
    values = {}
    for option in mounted.super_options:
        key, has_value, value = option.partition("=")
        if has_value:
            values[key] = value
    wanted = [option for option in opts.split(",") if option]
    if "ro" not in wanted and "rw" not in wanted:
        wanted.append("rw")
    differences = []
    for option in wanted:
        if option in _UNREPORTED or option.startswith(_UNREPORTED_PREFIXES):
            continue
        if bind and option not in _BIND_FLAGS:
            continue
        if option in _FLAGS:
            if option not in mounted.mount_options and option not in mounted.super_options:
                differences.append(option)
        elif option in _CLEARED:
            if any(flag in reported for flag in _CLEARED[option]):
                differences.append(option)
        else:
            key, value = option.partition("=")[::2]
            if key not in values:
                continue
            want, have = _normal_value(key, value), _normal_value(key, values[key])
            if want is not None and want != have:
                differences.append(option)
    return differences


def is_bind(opts):
    return bool({"bind", "rbind"} & set(opts.split(",")))


def _block_device(src):
    """The device node SRC names (UUID=... and the like through /dev/disk), or None if it names none here."""
    tag, has_tag, value = src.partition("=")
    if has_tag and tag in _DEVICE_TAGS:
        src = os.path.join("/dev/disk", _DEVICE_TAGS[tag], value)
    try:
        if stat.S_ISBLK(os.stat(src).st_mode):
            return os.path.realpath(src)
    except (OSError, ValueError):
        pass
    return None


def same_fstype(wanted, mounted):
    """Whether a filesystem of type MOUNTED is one of type WANTED (auto and none take any; nfs is nfs4 too)."""
    if wanted in ("auto", "none") or wanted == mounted:
        return True
    return wanted in _NFS_TYPES and mounted in _NFS_TYPES


def same_source(entry, mounted):
    """Whether MOUNTED is ENTRY's filesystem: a bind of its source, its device, or its source and type."""
    if is_bind(entry.opts):
        try:
            want, have = os.stat(entry.src), os.stat(entry.path)
        except OSError:
            return False
        return (want.st_dev, want.st_ino) == (have.st_dev, have.st_ino)
    if not same_fstype(entry.fstype, mounted.fstype):
        return False
    device = _block_device(entry.src)
    if device is not None:
        if os.path.realpath(mounted.source) == device:
            return True
        try:
            number = os.stat(device).st_rdev
        except OSError:
            return False
        return (os.major(number), os.minor(number)) == mounted.device
    if mounted.fstype in _NFS_TYPES:
        return entry.src.rstrip("/") == mounted.source.rstrip("/")
    return entry.src == mounted.source
