# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gitosis-admin edits: names and keys checked, gitosis.conf changed line by line, git's words made safe to show."""

from __future__ import annotations

import os
import shlex
import time

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._gitosis import (
    Git,
    GitosisError,
    check_group,
    check_member,
    check_remote,
    check_ssh_file,
    clean_output,
    git_env,
    normalise_public_key,
    read_files,
    ssh_command,
)
from ansible_collections.jarvis.deploy.plugins.module_utils._gitosis_conf import (
    CONF_FILE,
    add_member,
    file_diffs,
    key_file,
    plan,
    remove_member,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsmwFOiWPRUMO2B4Z8enCQs9to5Fw1LOq4ub+I6Ow5c root@loki.websages.com"

CONF = """\
[gitosis]

[group gitosis-admin]
writable = gitosis-admin
members = jdoe@laptop ; the admins
  alice@desk
  bob@desk

[group hosts]
members = loki
writable = puppet
"""


# --- names, keys, remotes ---------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["loki", "root@loki", "root@loki.websages.com", "a_b.c-d", "Loki2"])
def test_member_names_gitosis_accepts(member):
    check_member(member)


@pytest.mark.parametrize(
    "member", ["", None, "../loki", "keydir/loki", "lo ki", "loki\n", "-loki", "1loki", "root@", "@loki", "a@b@c", "*"]
)
def test_member_names_that_could_escape_keydir_are_refused(member):
    with pytest.raises(GitosisError, match="is not a valid gitosis member name"):
        check_member(member)


@pytest.mark.parametrize("group", ["hosts", "gitosis-admin", "web_1", "ops@dc1"])
def test_group_names(group):
    check_group(group)


@pytest.mark.parametrize("group", ["", "two words", "x]", "[group x", "a\nb", "-x"])
def test_group_names_that_would_break_the_section_header_are_refused(group):
    with pytest.raises(GitosisError, match="is not a valid group name"):
        check_group(group)


def test_a_public_key_line_is_trimmed_and_checked():
    assert normalise_public_key(f"  {ED25519}\n") == ED25519
    assert normalise_public_key("ssh-ed25519   " + ED25519.split()[1]) == "ssh-ed25519 " + ED25519.split()[1]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "public_key is empty"),
        (None, "public_key is empty"),
        (ED25519 + "\n" + ED25519, "public_key must be exactly one OpenSSH public key line"),
        (ED25519 + "\rcommand", "public_key must be exactly one OpenSSH public key line"),
        ("ssh-foo AAAA", "public_key does not start with a known key type"),
        ('command="sh" ' + ED25519, "public_key does not start with a known key type"),
        ("ssh-ed25519", "public_key has no key data after its type"),
        ("ssh-ed25519 !!!!", "public_key's key data is not valid base64"),
        ("ssh-rsa " + ED25519.split()[1], "public_key's key data is not a ssh-rsa key"),
        ("ssh-ed25519 AAAA", "public_key's key data is not a ssh-ed25519 key"),
    ],
)
def test_what_is_not_one_public_key_is_refused(key, message):
    with pytest.raises(GitosisError) as caught:
        normalise_public_key(key)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("remote", "port"),
    [
        ("gitosis@freyr.websages.com:gitosis-admin.git", None),
        ("freyr:gitosis-admin.git", None),
        ("ssh://gitosis@freyr.websages.com/gitosis-admin.git", None),
        ("ssh://gitosis@freyr.websages.com:2222/gitosis-admin.git", 2222),
        ("ssh://gitosis@[::1]:2222/gitosis-admin.git", 2222),
    ],
)
def test_ssh_remotes_and_their_port(remote, port):
    assert check_remote(remote) == port


@pytest.mark.parametrize(
    "remote",
    [
        "-oProxyCommand=touch /tmp/pwned",
        "--upload-pack=touch /tmp/pwned",
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "file:///srv/git/gitosis-admin.git",
        "https://git.websages.com/gitosis-admin.git",
        "/srv/git/gitosis-admin.git",
        "host:",
        "git@host:path with spaces",
        "git@host:x\nProxyCommand=y",
        "git@host:x\x00y",
        "git@host:x\x7fy",
    ],
)
def test_anything_but_an_ssh_remote_is_refused(remote):
    with pytest.raises(GitosisError, match="must not start with '-'|is not an SSH remote"):
        check_remote(remote)


@pytest.mark.parametrize(
    ("remote", "part"),
    [
        ("git@-oProxyCommand=touch%20%2Ftmp%2Fx:x.git", "host"),
        ("-oProxyCommand=x@host:x.git", None),
        ("git@host:-u.git", "path"),
        ("ssh://-oProxyCommand=x/gitosis-admin.git", "user|host"),
        ("ssh://git@-oProxyCommand=x:22/gitosis-admin.git", "host"),
        ("ssh://-git@host/gitosis-admin.git", "user"),
        ("ssh://git@host/-gitosis-admin.git", "path"),
    ],
)
def test_no_part_of_a_remote_can_be_read_as_an_option(remote, part):
    expected = "must not start with '-'" if part is None else f"its ({part}) must not start with '-'"
    with pytest.raises(GitosisError, match=expected):
        check_remote(remote)


# --- gitosis.conf -----------------------------------------------------------------------------------------


def test_a_member_joins_an_existing_group_on_its_members_line():
    text, action = add_member(CONF, "hosts", "odin")
    assert action == "add odin to group hosts in gitosis.conf"
    assert text == CONF.replace("members = loki\n", "members = loki odin\n")


def test_a_member_joins_at_the_end_of_continued_members_lines():
    text, _action = add_member(CONF, "gitosis-admin", "odin")
    assert text == CONF.replace("  bob@desk\n", "  bob@desk odin\n")


def test_an_inline_comment_stays_after_the_members():
    conf = "[group hosts]\nmembers = loki ; the hosts\n"
    assert add_member(conf, "hosts", "odin")[0] == "[group hosts]\nmembers = loki odin ; the hosts\n"


def test_a_missing_group_is_created_after_a_blank_line():
    text, action = add_member(CONF, "web", "odin")
    assert action == "create group web with member odin in gitosis.conf"
    assert text == CONF + "\n[group web]\nmembers = odin\n"
    assert add_member("", "web", "odin")[0] == "[group web]\nmembers = odin\n"
    assert add_member("[gitosis]", "web", "odin")[0] == "[gitosis]\n\n[group web]\nmembers = odin\n"


def test_a_group_without_members_gets_a_members_line():
    conf = "[group hosts]\nwritable = puppet\n"
    assert add_member(conf, "hosts", "odin")[0] == "[group hosts]\nmembers = odin\nwritable = puppet\n"


@pytest.mark.parametrize(
    ("group", "member"), [("hosts", "loki"), ("gitosis-admin", "alice@desk"), ("gitosis-admin", "jdoe@laptop")]
)
def test_a_member_already_there_changes_nothing(group, member):
    assert add_member(CONF, group, member) == (CONF, None)


def test_a_member_in_a_comment_or_another_group_is_not_a_member():
    assert add_member(CONF, "hosts", "admins")[1] == "add admins to group hosts in gitosis.conf"
    assert add_member(CONF, "hosts", "bob@desk")[1] == "add bob@desk to group hosts in gitosis.conf"


def test_a_member_leaves_every_group_and_its_empty_continuation_line_goes():
    conf = CONF.replace("members = loki\n", "members = loki bob@desk\n")
    text, actions = remove_member(conf, "bob@desk")
    assert actions == [
        "remove bob@desk from group gitosis-admin in gitosis.conf",
        "remove bob@desk from group hosts in gitosis.conf",
    ]
    assert text == CONF.replace("  bob@desk\n", "")


def test_removing_a_member_that_is_nowhere_changes_nothing():
    assert remove_member(CONF, "odin") == (CONF, [])
    assert remove_member(CONF, "admins") == (CONF, [])


def test_a_member_between_others_leaves_them_in_order():
    conf = "[group hosts]\nmembers = loki odin thor\n"
    assert remove_member(conf, "odin")[0] == "[group hosts]\nmembers = loki thor\n"


def test_removing_the_member_before_an_inline_comment_leaves_a_value_gitosis_reads_as_empty():
    text, _actions = remove_member(CONF, "jdoe@laptop")
    members_line = next(line for line in text.splitlines() if line.startswith("members"))
    value = members_line.split("=", 1)[1].strip()
    # Python 2's ConfigParser: ';' starts a comment only when the character before it is whitespace.
    assert not value.startswith(";")


# --- plans -----------------------------------------------------------------------------------------------


def test_a_new_member_plan_adds_key_and_membership():
    change = plan({CONF_FILE: CONF, "keydir/odin.pub": None}, "odin", ED25519, "hosts", "present")
    assert change["files"] == {"keydir/odin.pub": ED25519 + "\n", CONF_FILE: add_member(CONF, "hosts", "odin")[0]}
    assert change["actions"] == ["add keydir/odin.pub", "add odin to group hosts in gitosis.conf"]
    assert change["message"] == "jarvis: add odin"


def test_a_changed_key_is_replaced():
    files = {CONF_FILE: CONF, "keydir/loki.pub": "ssh-rsa AAAAB3NzaC1yc2E= old\n"}
    change = plan(files, "loki", ED25519, "hosts", "present")
    assert change["files"] == {"keydir/loki.pub": ED25519 + "\n"}
    assert change["actions"] == ["replace the key in keydir/loki.pub"]
    assert change["message"] == "jarvis: update loki"


def test_nothing_to_do_is_an_empty_plan():
    files = {CONF_FILE: CONF, "keydir/loki.pub": ED25519 + "\n"}
    assert plan(files, "loki", ED25519, "hosts", "present")["actions"] == []
    assert plan({CONF_FILE: CONF, "keydir/odin.pub": None}, "odin", None, "hosts", "absent")["actions"] == []


def test_absent_removes_the_key_and_every_membership():
    files = {CONF_FILE: CONF, "keydir/loki.pub": ED25519 + "\n"}
    change = plan(files, "loki", None, "hosts", "absent")
    assert change["files"] == {"keydir/loki.pub": None, CONF_FILE: remove_member(CONF, "loki")[0]}
    assert change["actions"] == ["remove keydir/loki.pub", "remove loki from group hosts in gitosis.conf"]
    assert change["message"] == "jarvis: remove loki"


def test_a_missing_gitosis_conf_is_created():
    change = plan({CONF_FILE: None, "keydir/odin.pub": None}, "odin", ED25519, "hosts", "present")
    assert change["files"][CONF_FILE] == "[group hosts]\nmembers = odin\n"


def test_diffs_show_each_changed_file():
    files = {CONF_FILE: CONF, "keydir/loki.pub": "old\n"}
    assert file_diffs(files, {"keydir/loki.pub": None, CONF_FILE: "new\n"}) == [
        {"before_header": CONF_FILE, "after_header": CONF_FILE, "before": CONF, "after": "new\n"},
        {"before_header": "keydir/loki.pub", "after_header": "keydir/loki.pub", "before": "old\n", "after": ""},
    ]
    assert key_file("root@odin") == "keydir/root@odin.pub"


# --- git and ssh -----------------------------------------------------------------------------------------


def test_git_output_loses_hints_and_blank_lines_and_masks_url_passwords():
    output = (
        "hint: Updates were rejected because the remote contains work\n\n"
        "To https://jarvis:s3cr3t@git.websages.com/gitosis-admin.git\n"
        " ! [rejected]        HEAD -> master (fetch first)\n"
    )
    cleaned = clean_output(output)
    assert cleaned == (
        "To https://jarvis:***@git.websages.com/gitosis-admin.git / ! [rejected]        HEAD -> master (fetch first)"
    )
    assert "s3cr3t" not in cleaned
    assert clean_output("") == "no message"
    assert clean_output("\n".join(f"line {n}" for n in range(30)), limit=2) == "line 28 / line 29"


def test_the_ssh_command_uses_no_ssh_config_only_the_deploy_key_and_only_the_given_known_hosts():
    command = ssh_command("/usr/bin/ssh", 2222, "/etc/jarvis/deploy_key", "/etc/jarvis/known_hosts", 10)
    assert shlex.split(command) == [
        "/usr/bin/ssh",
        "-F",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        "-p",
        "2222",
        "-i",
        "/etc/jarvis/deploy_key",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UserKnownHostsFile=/etc/jarvis/known_hosts",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "UpdateHostKeys=no",
    ]


def test_an_ssh_command_without_a_port_leaves_it_to_the_remote():
    words = shlex.split(ssh_command("ssh", None, "/k", "/kh", 5))
    assert "-p" not in words
    assert words[words.index("-i") + 1] == "/k"


def test_the_ssh_command_is_one_shell_word_per_part_whatever_the_ssh_path():
    words = shlex.split(ssh_command("/opt/my ssh/ssh", None, "/k", "/kh", 5))
    assert words[:3] == ["/opt/my ssh/ssh", "-F", "none"]


def test_ssh_files_must_be_readable_absolute_paths_ssh_takes_literally(tmp_path):
    good = tmp_path / "known_hosts"
    good.write_text("[127.0.0.1]:2222 ssh-ed25519 AAAA\n")
    check_ssh_file("known_hosts", str(good))
    with pytest.raises(GitosisError, match="^known_hosts is required$"):
        check_ssh_file("known_hosts", "")
    with pytest.raises(GitosisError, match=f"^known_hosts {tmp_path}/missing is not a readable file$"):
        check_ssh_file("known_hosts", str(tmp_path / "missing"))
    with pytest.raises(GitosisError, match="is not a readable file"):
        check_ssh_file("ssh_private_key", str(tmp_path))
    for path in ("known_hosts", "/etc/known hosts", "/etc/k%h", '/etc/k"h', "/etc/k\\h", "/etc/k\nh"):
        with pytest.raises(GitosisError, match="must be an absolute path without whitespace"):
            check_ssh_file("known_hosts", path)


def test_git_runs_without_the_caller_s_git_settings(monkeypatch):
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o ProxyCommand=evil")
    env = git_env("ssh -o BatchMode=yes", "jarvis", "jarvis@websages.com")
    assert "GIT_DIR" not in env
    assert env["GIT_SSH_COMMAND"] == "ssh -o BatchMode=yes"
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull
    assert (env["GIT_TERMINAL_PROMPT"], env["GIT_CONFIG_NOSYSTEM"], env["LC_ALL"]) == ("0", "1", "C")
    assert (env["GIT_AUTHOR_NAME"], env["GIT_COMMITTER_EMAIL"]) == ("jarvis", "jarvis@websages.com")
    assert env["PATH"] == os.environ["PATH"]


def test_a_spent_budget_runs_no_git():
    git = Git("/nonexistent/git", {}, time.monotonic() - 1, 30)
    with pytest.raises(GitosisError, match="^timed out after 30 s before cloning x$"):
        git.run(["clone", "x"], "cloning x")


def test_files_are_read_from_the_clone_and_missing_ones_are_none(tmp_path):
    (tmp_path / CONF_FILE).write_text(CONF)
    assert read_files(str(tmp_path), [CONF_FILE, "keydir/loki.pub"]) == {CONF_FILE: CONF, "keydir/loki.pub": None}


@pytest.mark.parametrize("link", ["keydir", "keydir/loki.pub", CONF_FILE])
def test_a_repository_cannot_redirect_reads_or_writes_through_symlinks(tmp_path, link):
    (tmp_path / "keydir").mkdir()
    target = tmp_path / link
    if target.exists():
        target.rmdir()
    target.symlink_to("/etc")
    with pytest.raises(GitosisError, match="is \\(or lies under\\) a symbolic link; refusing to use it$"):
        read_files(str(tmp_path), [CONF_FILE, "keydir/loki.pub"])
