# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""puppet.conf edited in place, and Puppet's own last words picked out of its output."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils._puppet import summary, wanted_conf, write_conf

DEBIAN_CONF = """\
[main]
ssldir = /var/lib/puppet/ssl

[master]
vardir = /var/lib/puppet
environment = development
"""


def test_an_empty_conf_gets_an_agent_section():
    assert wanted_conf("", "puppet.websages.com", "production") == (
        "[agent]\nenvironment = production\nserver = puppet.websages.com\n"
    )


def test_an_agent_section_is_added_and_other_sections_kept_verbatim():
    assert wanted_conf(DEBIAN_CONF, "puppet.websages.com", "production") == (
        DEBIAN_CONF + "[agent]\nenvironment = production\nserver = puppet.websages.com\n"
    )


def test_settings_are_changed_where_they_stand_in_agent_only():
    conf = "[agent]\n  server=old.websages.com\n# a comment\nruninterval = 30m\n[master]\nserver = master-only\n"
    assert wanted_conf(conf, "puppet.websages.com", "staging") == (
        "[agent]\n"
        "server = puppet.websages.com\n"
        "# a comment\n"
        "runinterval = 30m\n"
        "environment = staging\n"
        "[master]\n"
        "server = master-only\n"
    )


def test_an_agent_section_at_the_end_gets_the_missing_settings():
    conf = "[main]\nlogdir = /var/log/puppet\n[agent]\nenvironment = production\n"
    assert wanted_conf(conf, "puppet.websages.com", "production") == conf + "server = puppet.websages.com\n"


def test_without_a_server_only_the_environment_is_set():
    conf = "[agent]\nserver = kept.websages.com\n"
    assert wanted_conf(conf, None, "production") == conf + "environment = production\n"


@pytest.mark.parametrize("conf", ["", DEBIAN_CONF, "[agent]\nserver = old\n[main]\n"])
def test_the_wanted_conf_is_a_fixed_point(conf):
    once = wanted_conf(conf, "puppet.websages.com", "production")
    assert wanted_conf(once, "puppet.websages.com", "production") == once


@pytest.mark.parametrize(
    ("output", "last_words"),
    [
        (
            "Info: Loading facts\nNotice: /Stage[main]/Main/File[/tmp/x]/ensure: created\n"
            "Notice: Applied catalog in 0.02 seconds\n",
            "Notice: Applied catalog in 0.02 seconds",
        ),
        (
            "Error: Could not find class ntp\nError: Failed to apply catalog: boom\n",
            "Error: Could not find class ntp; Error: Failed to apply catalog: boom",
        ),
        ("".join(f"Error: e{n}\n" for n in range(8)), "Error: e3; Error: e4; Error: e5; Error: e6; Error: e7"),
        ("Info: Using environment 'production'\nWarning: something odd\n", "Warning: something odd"),
        ("", "no output"),
        ("\n  \n", "no output"),
    ],
)
def test_the_summary_is_puppet_s_last_words(output, last_words):
    assert summary(output) == last_words


def test_the_conf_is_replaced_whole_and_readable_by_all(tmp_path):
    path = tmp_path / "etc" / "puppet" / "puppet.conf"
    write_conf(str(path), DEBIAN_CONF)
    assert path.read_text() == DEBIAN_CONF
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    write_conf(str(path), "[agent]\n")
    assert path.read_text() == "[agent]\n"
    assert os.listdir(path.parent) == ["puppet.conf"]


def test_a_conf_that_cannot_be_replaced_leaves_no_temporary_file(tmp_path):
    (tmp_path / "puppet.conf").mkdir()
    with pytest.raises(OSError):
        write_conf(str(tmp_path / "puppet.conf"), DEBIAN_CONF)
    assert os.listdir(tmp_path) == ["puppet.conf"]
