# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of jarvis.deploy.mounts: fstab and mountinfo compared with the mounts asked for, then mended."""

from __future__ import annotations

import os

from ansible_collections.jarvis.deploy.plugins.module_utils import _files
from ansible_collections.jarvis.deploy.plugins.module_utils._fstab import (
    FstabEntry,
    edit_fstab,
    entries_for,
    fstab_paths,
    normal_path,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._mountinfo import (
    MOUNTINFO,
    is_bind,
    option_differences,
    parse_mountinfo,
    same_source,
)

FSTAB_MODE = 0o644


class MountsError(Exception):
    """A failure whose message says which mount, file or command failed and why."""


def read_text(path):
    """The text of PATH, or "" when it does not exist yet."""
    try:
        return _files.read_text(path)
    except OSError as exc:
        raise MountsError(f"cannot read {path}: {exc.strerror or exc}") from None


def write_atomically(path, text):
    """Replace PATH with TEXT through a temporary file and a rename, keeping its owner and mode (0644 if new)."""
    try:
        current = _files.existing(path)
    except OSError as exc:
        raise MountsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        _files.write_atomically(path, text, FSTAB_MODE, like=current)
    except OSError as exc:
        raise MountsError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_mountinfo(path=MOUNTINFO):
    """Mount point → what is visibly mounted there (the last, topmost, of stacked mounts)."""
    return parse_mountinfo(read_text(path))


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
            elif entries_for(before, entry.path) != [entry]:
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
