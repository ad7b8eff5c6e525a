# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jarvis.deploy.design module end to end in-process: its arguments in, its JSON result out."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.jarvis.deploy.plugins.modules import design

SEED = {
    "hostname": "loki",
    "fqdn": "loki.websages.com",
    "provider": "Linode",
    "guestid": "Debian 6",
    "datacenter": "Atlanta",
    "size": 512,
}


def run(capsys, args):
    """(exit code, result) of one run of the module with ARGS, as Ansible would read them."""
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        design.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_a_valid_design_exits_unchanged_with_its_hosts(capsys):
    code, result = run(capsys, {"instance": SEED})
    assert code == 0
    assert result["changed"] is False
    assert "failed" not in result
    (host,) = result["hosts"]
    assert (host["hostname"], host["provider"], host["image"], host["region"], host["size"]) == (
        "loki",
        "linode",
        "linode/debian12",
        "us-southeast",
        "g6-nanode-1",
    )


def test_check_mode_gives_the_same_answer(capsys):
    args = {
        "instances": [
            {"hostname": "odin", "fqdn": "odin.websages.com", "image": "ami-0123456789abcdef0"},
            {"hostname": "thor", "fqdn": "thor.websages.com", "image": "debian"},
        ],
        "defaults": {"provider": "aws", "region": "Atlanta", "size": 1024},
        "mappings": {"ec2": {"images": {"Debian": "ami-0bbbbbbbbbbbbbbbb"}}},
        "_ansible_check_mode": True,
    }
    code, result = run(capsys, args)
    assert code == 0
    assert result["changed"] is False
    assert [(host["hostname"], host["image"], host["size"]) for host in result["hosts"]] == [
        ("odin", "ami-0123456789abcdef0", "t3.micro"),
        ("thor", "ami-0bbbbbbbbbbbbbbbb", "t3.micro"),
    ]


def test_an_invalid_design_fails_naming_the_key(capsys):
    code, result = run(capsys, {"instance": {**SEED, "size": "huge"}})
    assert code == 1
    assert result["failed"] is True
    assert result["msg"] == 'invalid design: instance.size: expected a positive integer, got "huge"'
    assert result["path"] == "instance.size"
    assert "hosts" not in result


def test_a_bad_mapping_fails_naming_the_key(capsys):
    code, result = run(capsys, {"instance": SEED, "mappings": {"linode": {"flavours": {}}}})
    assert code == 1
    assert result["path"] == "mappings.linode.flavours"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "one of the following is required: instance, instances"),
        ({"instance": SEED, "instances": [SEED]}, "parameters are mutually exclusive: instance|instances"),
        ({"instance": SEED, "colour": "red"}, "Unsupported parameters"),
        ({"instances": "loki"}, "instances"),
    ],
)
def test_arguments_are_checked_before_the_design(capsys, args, message):
    code, result = run(capsys, args)
    assert code == 1
    assert result["failed"] is True
    assert message in result["msg"]
