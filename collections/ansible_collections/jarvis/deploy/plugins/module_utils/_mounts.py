# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filesystems in /etc/fstab and mounted, compared with /proc/self/mountinfo, behind jarvis.deploy.mounts."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import stat
import tempfile

MOUNTINFO = "/proc/self/mountinfo"
FSTAB_MODE = 0o644

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


class MountsError(Exception):
    """A failure whose message says which mount, file or command failed and why."""


# --- octal escapes: fstab and mountinfo write a space as \040 -----------------------------------


def unescape(field):
    """FIELD of fstab or mountinfo with its octal escapes (\\040 for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def escape(field):
    """FIELD with the characters that would split an fstab line written as octal escapes."""
    return "".join(f"\\{ord(char):03o}" if char in " \t\n\\" else char for char in field)


# --- /etc/fstab -------------------------------------------------------------------------------


class FstabEntry:
    """One mount as an fstab line states it; equal entries need no rewrite, whatever the spacing."""

    def __init__(self, src, path, fstype, opts="defaults", dump=0, passno=0):
        self.src = src
        self.path = path
        self.fstype = fstype
        self.opts = opts
        self.dump = dump
        self.passno = passno

    @classmethod
    def parse(cls, line):
        """The entry LINE states, or None for comments, blank and malformed lines (kept as they are)."""
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#"):
            return None
        numbers = []
        for field in fields[4:6]:
            if not field.isdigit():
                return None
            numbers.append(int(field))
        numbers += [0] * (2 - len(numbers))
        opts = fields[3] if len(fields) > 3 else "defaults"
        return cls(unescape(fields[0]), unescape(fields[1]), fields[2], opts, numbers[0], numbers[1])

    @property
    def key(self):
        return (self.src, normal_path(self.path), self.fstype, self.opts, self.dump, self.passno)

    def __eq__(self, other):
        return isinstance(other, FstabEntry) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def line(self):
        fields = (escape(self.src), escape(self.path), self.fstype, self.opts, str(self.dump), str(self.passno))
        return " ".join(fields)


def normal_path(path):
    """PATH without a trailing slash or ``..`` parts, so /srv/cache/ and /srv/cache name one mount point."""
    return os.path.normpath(path) if path.startswith("/") else path


def read_text(path):
    """The text of PATH, or "" when it does not exist yet."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise MountsError(f"cannot read {path}: {exc.strerror or exc}") from None


def edit_fstab(text, wanted, removed):
    """TEXT with one line per WANTED entry and none for the REMOVED mount points; other lines untouched.

    A line for a wanted mount point that already says the same is kept as written; one that differs is
    replaced where it stands; further lines for that mount point go; new entries are appended.
    """
    by_path = {normal_path(entry.path): entry for entry in wanted}
    gone = {normal_path(path) for path in removed}
    placed = set()
    lines = []
    for line in text.splitlines(keepends=True):
        entry = FstabEntry.parse(line)
        path = normal_path(entry.path) if entry else None
        if path in gone:
            continue
        if path in by_path:
            if path in placed:
                continue
            placed.add(path)
            if entry != by_path[path]:
                line = by_path[path].line() + "\n"
        lines.append(line)
    new = [entry.line() + "\n" for path, entry in by_path.items() if path not in placed]
    if new and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines + new)


def fstab_paths(text):
    """The mount points TEXT has an entry for."""
    entries = (FstabEntry.parse(line) for line in text.splitlines())
    return {normal_path(entry.path) for entry in entries if entry}


def write_atomically(path, text):
    """Replace PATH with TEXT through a temporary file and a rename, keeping its owner and mode (0644 if new)."""
    directory = os.path.dirname(path) or "."
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    except OSError as exc:
        raise MountsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    except OSError as exc:
        raise MountsError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if current is not None:
                os.fchown(handle.fileno(), current.st_uid, current.st_gid)
            os.fchmod(handle.fileno(), stat.S_IMODE(current.st_mode) if current else FSTAB_MODE)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise MountsError(f"cannot write {path}: {exc.strerror or exc}") from None


# --- /proc/self/mountinfo -----------------------------------------------------------------------


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


def read_mountinfo(path=MOUNTINFO):
    """Mount point → what is visibly mounted there (the last, topmost, of stacked mounts)."""
    mounted = {}
    for line in read_text(path).splitlines():
        if line.strip():
            entry = Mounted(line)
            mounted[entry.path] = entry
    return mounted


# --- comparing wanted options with what the kernel reports ----------------------------------------


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


# --- the run ----------------------------------------------------------------------------------


def wanted_entries(mounts):
    """The fstab entries the MOUNTS option asks for; fails on relative or repeated mount points."""
    entries = []
    seen = set()
    for mount in mounts:
        path = normal_path(mount["path"])
        if not path.startswith("/"):
            raise MountsError(f"mount point {mount['path']!r} is not an absolute path")
        if path in seen:
            raise MountsError(f"mount point {path} is listed more than once")
        seen.add(path)
        if not mount["src"]:
            raise MountsError(f"src of mount {path} must not be empty")
        for option in ("fstype", "opts"):
            if not mount[option] or any(char.isspace() for char in mount[option]):
                raise MountsError(f"{option} of mount {path} must be one non-empty word, not {mount[option]!r}")
        entries.append(FstabEntry(mount["src"], path, mount["fstype"], mount["opts"], mount["dump"], mount["passno"]))
    return entries


class MountsTask:
    """One run of the module: plan every step from fstab and mountinfo, then take them unless in check mode."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.fstab = self.params["fstab"]
        self.actions = []
        self.mounted = []
        self.remounted = []
        self.unmounted = []
        self.fstab_changed = False
        self._mount_bin = None

    def _act(self, done, planned):
        self.actions.append(f"would {planned}" if self.module.check_mode else done)

    @property
    def mount_bin(self):
        if self._mount_bin is None:
            self._mount_bin = self.module.get_bin_path("mount")
            if self._mount_bin is None:
                raise MountsError("mount is not installed on the host: install the mount package")
        return self._mount_bin

    def run(self):
        entries = wanted_entries(self.params["mounts"])
        before = read_text(self.fstab)
        mountinfo = read_mountinfo()
        if self.params["state"] == "present":
            steps = [self._plan_present(entry, mountinfo) for entry in entries]
            after = edit_fstab(before, entries, [])
        else:
            steps = [self._plan_absent(entry, mountinfo) for entry in reversed(entries)]
            after = edit_fstab(before, [], [entry.path for entry in entries])
        self.fstab_changed = after != before
        if self.fstab_changed:
            self._change_fstab(before, after, entries)
        for step in steps:
            step()
        return {
            "changed": bool(self.actions),
            "fstab_changed": self.fstab_changed,
            "mounted": self.mounted,
            "remounted": self.remounted,
            "unmounted": self.unmounted,
            "actions": self.actions,
        }, {"before": before, "after": after, "before_header": self.fstab, "after_header": self.fstab}

    def _change_fstab(self, before, after, entries):
        had = fstab_paths(before)
        for entry in entries:
            if self.params["state"] == "absent":
                if entry.path in had:
                    self._act(f"removed {entry.path} from {self.fstab}", f"remove {entry.path} from {self.fstab}")
            elif entry.path not in had:
                self._act(f"added {entry.path} to {self.fstab}", f"add {entry.path} to {self.fstab}")
            elif _entries_for(before, entry.path) != [entry]:
                self._act(f"updated {entry.path} in {self.fstab}", f"update {entry.path} in {self.fstab}")
        if not self.module.check_mode:
            write_atomically(self.fstab, after)

    def _plan_present(self, entry, mountinfo):
        """Check ENTRY against what is mounted now (failing before any change) and return its step."""
        path = entry.path
        mounted = mountinfo.get(os.path.realpath(path)) if os.path.exists(path) else None
        if mounted is None:
            if is_bind(entry.opts) and not os.path.exists(entry.src):
                raise MountsError(f"cannot bind-mount {entry.src} on {path}: {entry.src} does not exist")
            if not os.path.isdir(path) and not self.params["create_dirs"]:
                raise MountsError(f"mount point {path} is not a directory and create_dirs is false")
            return lambda: self._mount(entry)
        if not same_source(entry, mounted):
            raise MountsError(
                f"{path} is already mounted from {mounted.describe()}, not {entry.src} ({entry.fstype}):"
                " unmount it first, or change the mount in the design"
            )
        differences = option_differences(entry.opts, mounted, is_bind(entry.opts))
        if differences:
            return lambda: self._remount(entry, differences)
        return lambda: None

    def _plan_absent(self, entry, mountinfo):
        path = entry.path
        mounted = mountinfo.get(os.path.realpath(path)) if os.path.exists(path) else None
        if mounted is None:
            return lambda: None
        if not same_source(entry, mounted):
            raise MountsError(
                f"{path} is mounted from {mounted.describe()}, not {entry.src} ({entry.fstype}): not unmounting it"
            )
        return lambda: self._unmount(entry)

    def _mount(self, entry):
        if not os.path.isdir(entry.path):
            if not self.module.check_mode:
                try:
                    os.makedirs(entry.path, mode=0o755, exist_ok=True)
                except OSError as exc:
                    raise MountsError(f"cannot create mount point {entry.path}: {exc.strerror or exc}") from None
            self._act(f"created directory {entry.path}", f"create directory {entry.path}")
        if not self.module.check_mode:
            argv = [self.mount_bin]
            if not is_bind(entry.opts) and entry.fstype != "auto":
                argv += ["-t", entry.fstype]
            self._run([*argv, "-o", entry.opts, entry.src, entry.path], f"mounting {entry.src} on {entry.path}")
        self._act(f"mounted {entry.path}", f"mount {entry.path}")
        self.mounted.append(entry.path)

    def _remount(self, entry, differences):
        if not self.module.check_mode:
            opts = "remount," + entry.opts
            what = f"remounting {entry.path} with {entry.opts}"
            self._run([self.mount_bin, "-o", opts, entry.src, entry.path], what)
            mounted = read_mountinfo().get(os.path.realpath(entry.path))
            left = option_differences(entry.opts, mounted, is_bind(entry.opts)) if mounted else differences
            if left:
                raise MountsError(
                    f"remounting {entry.path} did not apply {','.join(left)}: the filesystem cannot change"
                    " that while mounted; unmount it and run again"
                )
        listed = ",".join(differences)
        self._act(f"remounted {entry.path} ({listed})", f"remount {entry.path} ({listed})")
        self.remounted.append(entry.path)

    def _unmount(self, entry):
        if not self.module.check_mode:
            umount = self.module.get_bin_path("umount")
            if umount is None:
                raise MountsError("umount is not installed on the host: install the mount package")
            self._run([umount, entry.path], f"unmounting {entry.path}")
        self._act(f"unmounted {entry.path}", f"unmount {entry.path}")
        self.unmounted.append(entry.path)

    def _run(self, argv, what):
        rc, out, err = self.module.run_command(argv, expand_user_and_vars=False)
        if rc != 0:
            detail = (err or out).strip() or f"exit code {rc}"
            raise MountsError(f"{what} failed: {detail}")


def _entries_for(text, path):
    """The entries of fstab TEXT for mount point PATH, in order (more than one is a mistake to mend)."""
    entries = (FstabEntry.parse(line) for line in text.splitlines())
    return [entry for entry in entries if entry and normal_path(entry.path) == path]


def run_mounts(module):
    """Entry point of the module: exit_json with the result, or fail_json naming what failed."""
    task = MountsTask(module)
    try:
        result, diff = task.run()
    except MountsError as exc:
        done = [] if module.check_mode else task.actions
        module.fail_json(
            msg=str(exc),
            changed=bool(done),
            fstab_changed=task.fstab_changed and not module.check_mode,
            mounted=task.mounted,
            remounted=task.remounted,
            unmounted=task.unmounted,
            actions=done,
        )
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)
