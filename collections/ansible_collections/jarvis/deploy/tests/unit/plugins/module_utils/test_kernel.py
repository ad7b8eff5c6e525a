# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel versions compared, kernel packages and /boot images read, and apt-get's answers turned into actions."""

from __future__ import annotations

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._kernel import (
    KernelError,
    KernelTask,
    boot_releases,
    newest_release,
    older,
    release_of,
    sorted_kernels,
    version_key,
)

# What `apt-get -s install --no-install-recommends linux-image-amd64` prints on Debian 12 with a newer kernel out.
APT_SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
The following NEW packages will be installed:
  linux-image-6.1.0-51-amd64
Inst linux-image-6.1.0-51-amd64 (6.1.176-1 Debian-Security:12/stable-security [amd64])
Inst linux-image-amd64 [6.1.170-1] (6.1.176-1 Debian-Security:12/stable-security [amd64])
Inst zstd (1.5.4+dfsg2-5 Debian:12.12/stable [amd64])
Conf linux-image-6.1.0-51-amd64 (6.1.176-1 Debian-Security:12/stable-security [amd64])
"""

# `dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' 'linux-image-*'`
DPKG_QUERY = (
    "linux-image-6.1.0-50-amd64\t6.1.170-1\tii \n"
    "linux-image-6.1.0-9-amd64\t6.1.27-1\trc \n"
    "linux-image-amd64\t6.1.170-1\tii \n"
    "linux-image-6.1.0-49-amd64\t6.1.160-1\thi \n"
    "linux-image-cloud-amd64\t\tun \n"
)


class Module:
    """The parts of AnsibleModule the kernel task uses, with apt-get's and dpkg's answers given in advance."""

    def __init__(self, check_mode=False, answers=None, **params):
        self.params = {"upgrade": False, "minimum": None, "timeout": 600, "package": "linux-image-amd64", **params}
        self.check_mode = check_mode
        self._diff = False
        self.answers = answers or {}
        self.commands = []
        self.warnings = []

    def run_command(self, argv, environ_update=None):
        self.commands.append(argv)
        program = argv[3] if argv[0] == "timeout" else argv[0]
        return self.answers.get(program, (0, "", ""))

    def warn(self, warning):
        self.warnings.append(warning)


# --- versions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("6.1.0-50-amd64", (6, 1, 0, 50)),
        ("6.1.170-1", (6, 1, 170, 1)),
        ("6.1.0+deb12u1", (6, 1, 0)),
        ("6.12.10-cloud-amd64", (6, 12, 10)),
        ("", ()),
        ("amd64", ()),
    ],
)
def test_version_keys_are_the_leading_numbers(text, key):
    assert version_key(text) == key


@pytest.mark.parametrize(
    ("release", "minimum", "is_older"),
    [
        ("5.10.0-30-amd64", "6.1", True),
        ("6.1.0-50-amd64", "6.1", False),
        ("6.1.0-50-amd64", "6.1.0-51", True),
        ("6.1", "6.1.0", False),  # missing parts count as zero
        ("6.9.0", "6.10", True),  # numerically, not as text
        ("6.12.1-amd64", "6.2", False),
    ],
)
def test_a_release_is_older_than_a_minimum_numerically(release, minimum, is_older):
    assert older(release, minimum) is is_older


@pytest.mark.parametrize(
    ("package", "release"),
    [
        ("linux-image-6.1.0-50-amd64", "6.1.0-50-amd64"),
        ("linux-image-6.1.0-50-amd64-unsigned", "6.1.0-50-amd64"),
        ("linux-image-amd64", None),
        ("linux-image-cloud-amd64", None),
        ("linux-image-6.1.0-50-amd64-dbg", None),
        ("linux-headers-6.1.0-50-amd64", None),
    ],
)
def test_the_release_a_package_installs(package, release):
    assert release_of(package) == release


def test_boot_images_without_dpkg_leftovers(tmp_path):
    for name in ("vmlinuz-6.1.0-50-amd64", "vmlinuz-6.1.0-49-amd64", "vmlinuz-6.1.0-51-amd64.dpkg-tmp"):
        (tmp_path / name).write_text("")
    for name in ("vmlinuz-5.10.0-1-amd64.old", "vmlinuz-5.10.0-2-amd64.bak", "vmlinuz-", "initrd.img-6.1.0-52-amd64"):
        (tmp_path / name).write_text("")
    assert sorted(boot_releases(str(tmp_path))) == ["6.1.0-49-amd64", "6.1.0-50-amd64"]


def test_the_newest_release_a_reboot_could_pick(tmp_path):
    (tmp_path / "vmlinuz-6.1.0-50-amd64").write_text("")
    (tmp_path / "vmlinuz-6.1.0-9-amd64").write_text("")
    kernels = [{"package": "linux-image-amd64", "version": "6.1.176-1"}]
    assert newest_release(kernels, str(tmp_path)) == "6.1.0-50-amd64"
    kernels.append({"package": "linux-image-6.1.0-51-amd64", "version": "6.1.176-1"})
    assert newest_release(kernels, str(tmp_path)) == "6.1.0-51-amd64"
    assert newest_release([], str(tmp_path / "empty")) is None


def test_kernels_newest_first_then_by_name():
    kernels = [
        {"package": "linux-image-amd64", "version": "6.1.170-1"},
        {"package": "linux-image-6.1.0-9-amd64", "version": "6.1.27-1"},
        {"package": "linux-image-6.1.0-50-amd64", "version": "6.1.170-1"},
        {"package": "linux-image-new", "version": None},
    ]
    assert [kernel["package"] for kernel in sorted_kernels(kernels)] == [
        "linux-image-6.1.0-50-amd64",
        "linux-image-amd64",
        "linux-image-6.1.0-9-amd64",
        "linux-image-new",
    ]


# --- the task -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"minimum": "6.1-rc1"}, "minimum must be a kernel version like 6.1 or 6.1.0, not '6.1-rc1'"),
        ({"minimum": "6.1; reboot"}, "minimum must be a kernel version"),
        ({"package": "linux-image-amd64 sl"}, "package: not a Debian package name: 'linux-image-amd64 sl'"),
        ({"package": "-oAPT::Update=x"}, "package: not a Debian package name"),
    ],
)
def test_bad_parameters_fail_before_any_command(params, message):
    module = Module(**params)
    with pytest.raises(KernelError) as caught:
        KernelTask(module)
    assert str(caught.value).startswith(message)
    assert module.commands == []


@pytest.mark.parametrize(
    ("architecture", "package"), [("amd64\n", "linux-image-amd64"), ("arm64\n", "linux-image-arm64")]
)
def test_the_default_package_follows_the_architecture(architecture, package):
    assert KernelTask(Module(package=None, answers={"dpkg": (0, architecture, "")})).package == package


def test_an_unknown_architecture_asks_for_the_package():
    message = "^no Debian kernel metapackage known for architecture mips64el: set package$"
    with pytest.raises(KernelError, match=message):
        KernelTask(Module(package=None, answers={"dpkg": (0, "mips64el\n", "")}))


def test_installed_kernels_are_the_configured_ones_newest_first():
    task = KernelTask(Module(answers={"dpkg-query": (0, DPKG_QUERY, "")}))
    assert task.installed() == [
        {"package": "linux-image-6.1.0-50-amd64", "version": "6.1.170-1"},
        {"package": "linux-image-amd64", "version": "6.1.170-1"},
        {"package": "linux-image-6.1.0-49-amd64", "version": "6.1.160-1"},
    ]


def test_no_kernel_package_at_all_is_an_empty_list():
    assert KernelTask(Module(answers={"dpkg-query": (1, "", "dpkg-query: no packages found")})).installed() == []


def test_check_mode_predicts_from_apt_get_s():
    before = [{"package": "linux-image-amd64", "version": "6.1.170-1"}]
    task = KernelTask(Module(check_mode=True, answers={"apt-get": (0, APT_SIMULATION, "")}))
    after = task.simulate(before)
    assert sorted_kernels(after) == [
        {"package": "linux-image-6.1.0-51-amd64", "version": "6.1.176-1"},
        {"package": "linux-image-amd64", "version": "6.1.176-1"},
    ]
    task.record(before, sorted_kernels(after))
    assert task.actions == [
        "would install linux-image-6.1.0-51-amd64 6.1.176-1",
        "would upgrade linux-image-amd64 from 6.1.170-1 to 6.1.176-1",
    ]


def test_check_mode_without_package_lists_still_predicts_the_install():
    module = Module(check_mode=True, answers={"apt-get": (100, "", "E: Unable to locate package")})
    task = KernelTask(module)
    assert task.simulate([]) == [{"package": "linux-image-amd64", "version": None}]
    before = [{"package": "linux-image-amd64", "version": "6.1.170-1"}]
    assert task.simulate(before) == before
    assert module.warnings == [
        "cannot tell whether linux-image-amd64 has an upgrade: apt-get -s install --no-install-recommends"
        " linux-image-amd64 failed (exit 100): E: Unable to locate package"
    ]


def test_actions_after_a_real_install():
    task = KernelTask(Module())
    before = [{"package": "linux-image-amd64", "version": "6.1.170-1"}]
    task.record(before, before + [{"package": "linux-image-6.1.0-51-amd64", "version": "6.1.176-1"}])
    assert task.actions == ["installed linux-image-6.1.0-51-amd64 6.1.176-1"]
    task.actions.clear()
    task.record(before, before)
    assert task.actions == []


def test_apt_get_runs_within_what_is_left_of_the_budget_and_waits_for_the_lock_as_long():
    module = Module()
    KernelTask(module).apt_get("update")
    (argv,) = module.commands
    assert argv[:2] == ["timeout", "--kill-after=10"]
    left = int(argv[2])
    assert 0 < left <= 600
    assert argv[3:] == ["apt-get", "-q", "-o", f"DPkg::Lock::Timeout={left}", "update"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((124, "", ""), "apt-get update took longer than the 600s budget"),
        (
            (100, "Reading package lists...", "\n".join(f"E: line {n}" for n in range(12))),
            "apt-get update failed (exit 100): " + "\n".join(f"E: line {n}" for n in range(4, 12)),
        ),
        ((100, "Reading package lists...\nE: only on stdout\n", ""), "apt-get update failed (exit 100): "),
    ],
)
def test_apt_get_failures_name_the_command_and_keep_the_last_lines(answer, message):
    with pytest.raises(KernelError) as caught:
        KernelTask(Module(answers={"apt-get": answer})).apt_get("update")
    assert str(caught.value).startswith(message)
    if answer[0] == 100 and not answer[2]:
        assert str(caught.value).endswith("Reading package lists...\nE: only on stdout")


def test_a_spent_budget_runs_nothing():
    module = Module(timeout=0)
    with pytest.raises(KernelError, match="^apt-get update: no time left of the 0s budget$"):
        KernelTask(module).apt_get("update")
    assert module.commands == []
