# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel on the deployed host, behind jarvis.deploy.kernel_upgrade: which one runs, which are
installed, and installing Debian's kernel metapackage with apt-get when the design or a minimum asks."""

from __future__ import annotations

import glob
import math
import os
import re
import time

# Debian's kernel metapackage per `dpkg --print-architecture`: it always depends on the newest kernel.
ARCH_PACKAGES = {
    "amd64": "linux-image-amd64",
    "arm64": "linux-image-arm64",
    "armhf": "linux-image-armmp",
    "i386": "linux-image-686-pae",
    "ppc64el": "linux-image-powerpc64le",
    "s390x": "linux-image-s390x",
}
REBOOT_REQUIRED = "/var/run/reboot-required"
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
MINIMUM_RE = re.compile(r"^[0-9]+(\.[0-9]+)*(-[0-9]+)?$")
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
# "Inst linux-image-amd64 [6.1.170-1] (6.1.176-1 Debian:12.15/oldstable [amd64])" from `apt-get -s install`.
_SIMULATED_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+)")
_KERNEL_PACKAGE = re.compile(r"^linux-image-([0-9]\S*?)(-unsigned)?$")


class KernelError(Exception):
    """A failure whose message names the command that failed and ends with its last lines of output."""


def version_key(text):
    """The numbers of the leading version part of a kernel release or version: 6.1.0-50-amd64 -> (6, 1, 0, 50)."""
    leading = re.match(r"[0-9.-]*", text).group(0)
    return tuple(int(number) for number in re.findall(r"[0-9]+", leading))


def older(release, minimum):
    """Whether kernel RELEASE is older than MINIMUM, comparing numeric parts only (6.1 equals 6.1.0)."""
    have, want = version_key(release), version_key(minimum)
    width = max(len(have), len(want))
    return have + (0,) * (width - len(have)) < want + (0,) * (width - len(want))


def release_of(package):
    """The kernel release a linux-image-<release> package installs, None for metapackages and debug symbols."""
    match = _KERNEL_PACKAGE.match(package)
    if match is None or package.endswith("-dbg"):
        return None
    return match.group(1)


def boot_releases(boot="/boot"):
    """The kernel releases that have an image in BOOT (vmlinuz-<release>), leaving dpkg's leftovers out."""
    releases = []
    for path in glob.glob(os.path.join(boot, "vmlinuz-*")):
        release = os.path.basename(path)[len("vmlinuz-") :]
        if release and ".dpkg-" not in release and not release.endswith((".old", ".bak")):
            releases.append(release)
    return releases


def newest_release(kernels, boot="/boot"):
    """The newest kernel release a reboot could pick: from BOOT's images and the installed packages."""
    releases = set(boot_releases(boot))
    releases.update(r for r in (release_of(k["package"]) for k in kernels) if r)
    if not releases:
        return None
    return max(releases, key=lambda release: (version_key(release), release))


def sorted_kernels(kernels):
    """KERNELS (dicts with package and version) newest version first, then by package name."""
    by_name = sorted(kernels, key=lambda k: k["package"])
    return sorted(by_name, key=lambda k: version_key(k["version"] or ""), reverse=True)


class KernelTask:
    """One run of the module: look at the running and installed kernels, decide, then act unless in check mode."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.upgrade = params["upgrade"]
        self.minimum = params["minimum"]
        self.timeout = params["timeout"]
        self.deadline = time.monotonic() + self.timeout  # one budget for every apt-get call
        if self.minimum is not None and not MINIMUM_RE.match(self.minimum):
            raise KernelError(f"minimum must be a kernel version like 6.1 or 6.1.0, not {self.minimum!r}")
        self.package = params["package"] or self.default_package()
        if not PACKAGE_RE.match(self.package):
            raise KernelError(f"package: not a Debian package name: {self.package!r}")
        self.actions = []

    def default_package(self):
        rc, out, err = self.module.run_command(["dpkg", "--print-architecture"])
        arch = out.strip()
        if rc != 0 or not arch:
            raise KernelError(f"dpkg --print-architecture failed: {(err or out).strip() or f'exit code {rc}'}")
        if arch not in ARCH_PACKAGES:
            raise KernelError(f"no Debian kernel metapackage known for architecture {arch}: set package")
        return ARCH_PACKAGES[arch]

    def installed(self):
        """The installed linux-image-* packages as [{package, version}], newest first."""
        fmt = "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"
        rc, out, err = self.module.run_command(["dpkg-query", "-W", f"-f={fmt}", "linux-image-*"])
        if rc not in (0, 1):  # 1: no package matches the pattern
            raise KernelError(f"dpkg-query failed: {(err or out).strip()}")
        kernels = []
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) == 3 and fields[2][1:2] == "i":  # "ii ", "hi ": unpacked and configured
                kernels.append({"package": fields[0], "version": fields[1]})
        return sorted_kernels(kernels)

    def apt_get(self, *args):
        """Run apt-get ARGS within what is left of the time budget, waiting that long for dpkg's lock too."""
        left = math.ceil(self.deadline - time.monotonic())
        if left <= 0:
            raise KernelError(f"apt-get {args[0]}: no time left of the {self.timeout}s budget")
        argv = ["timeout", "--kill-after=10", str(left), "apt-get", "-q", "-o", f"DPkg::Lock::Timeout={left}", *args]
        rc, out, err = self.module.run_command(argv, environ_update=APT_ENV)
        if rc == 124:
            raise KernelError(f"apt-get {' '.join(args)} took longer than the {self.timeout}s budget")
        if rc != 0:
            tail = "\n".join((err.strip() or out.strip()).splitlines()[-8:])
            raise KernelError(f"apt-get {' '.join(args)} failed (exit {rc}): {tail}")
        return out

    def simulate(self, before):
        """What installing the package would do to the linux-image-* packages, from the host's current lists.

        Check mode changes nothing, not even the package lists, as ansible.builtin.apt does.
        """
        try:
            out = self.apt_get("-s", "install", "--no-install-recommends", self.package)
        except KernelError as exc:
            if any(k["package"] == self.package for k in before):
                self.module.warn(f"cannot tell whether {self.package} has an upgrade: {exc}")
                return before
            return before + [{"package": self.package, "version": None}]
        after = {k["package"]: k["version"] for k in before}
        for line in out.splitlines():
            match = _SIMULATED_INST.match(line)
            if match and match.group(1).startswith("linux-image-"):
                after[match.group(1)] = match.group(3)
        return [{"package": name, "version": version} for name, version in after.items()]

    def install(self):
        self.apt_get("update")
        self.apt_get("install", "-y", "--no-install-recommends", self.package)
        return self.installed()

    def record(self, before, after):
        """One action line per linux-image-* package that appeared or changed version."""
        old = {k["package"]: k["version"] for k in before}
        prefix = "would " if self.module.check_mode else ""
        for kernel in after:
            name, version = kernel["package"], kernel["version"]
            if name not in old:
                verb = "install" if prefix else "installed"
                self.actions.append(f"{prefix}{verb} {name}" + (f" {version}" if version else ""))
            elif old[name] != version:
                verb = "upgrade" if prefix else "upgraded"
                self.actions.append(f"{prefix}{verb} {name} from {old[name]} to {version}")

    def run(self):
        running = os.uname().release
        below_minimum = self.minimum is not None and older(running, self.minimum)
        before = self.installed()
        after = before
        if self.upgrade or below_minimum:
            after = sorted_kernels(self.simulate(before) if self.module.check_mode else self.install())
        self.record(before, after)
        newest = newest_release(after)
        result = {
            "changed": bool(self.actions),
            "actions": self.actions,
            "package": self.package,
            "running": running,
            "below_minimum": below_minimum,
            "installed": after,
            "newest": newest,
            "reboot_required": (newest is not None and newest != running) or os.path.exists(REBOOT_REQUIRED),
        }
        if self.module._diff:
            result["diff"] = {
                "before": "".join(f"{k['package']} {k['version']}\n" for k in before),
                "after": "".join(f"{k['package']} {k['version'] or '(candidate)'}\n" for k in after),
                "before_header": "linux-image-* packages",
                "after_header": "linux-image-* packages",
            }
        return result


def run_kernel_upgrade(module):
    """The module's whole run; every failure becomes fail_json with the command that failed."""
    task = None
    try:
        task = KernelTask(module)
        result = task.run()
    except KernelError as exc:
        module.fail_json(msg=str(exc), actions=task.actions if task else [])
    module.exit_json(**result)
