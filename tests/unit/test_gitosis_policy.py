"""The controller connects only to the gitosis servers the config allows: a design naming another is refused.

The allow-list is the keys of ``gitosis.remotes`` plus ``gitosis.allowed``; every way a design comes in
(the CLI, the bot's sources, the ``jarvis.deploy.design`` module of the static playbooks) checks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from bot.sources import DesignSources, UrlPolicy
from orchestrator._collection import PLAYBOOKS_PATH, REPO
from orchestrator.config import Config, load_config
from orchestrator.design import DesignPolicy, load_design_file, parse_design
from orchestrator.errors import ConfigError, DesignError

SEED_REMOTE = "gitosis@freyr.websages.com:gitosis-admin.git"
EVIL = "x@evil.example:repo.git"
SEED = {
    "hostname": "loki",
    "fqdn": "loki.websages.com",
    "provider": "Linode",
    "guestid": "Debian 6",
    "datacenter": "Atlanta",
    "size": 512,
}


def legacy(remote: str) -> str:
    return yaml.safe_dump({"instance": {**SEED, "gitosis-admin": remote}})


def rich(*remotes: str | None, default: str | None = None) -> str:
    hosts: list[dict[str, Any]] = [
        {"hostname": f"h{index}", "fqdn": f"h{index}.websages.com"} | ({"gitosis_admin": remote} if remote else {})
        for index, remote in enumerate(remotes)
    ]
    defaults: dict[str, Any] = {"provider": "linode", "image": "Debian 12", "region": "Atlanta", "size": 1024}
    if default:
        defaults["gitosis_admin"] = default
    return yaml.safe_dump({"defaults": defaults, "instances": hosts})


def refusal(text: str, allowed: list[str]) -> str:
    with pytest.raises(DesignError) as caught:
        parse_design(text, "test", gitosis_allowed=allowed)
    return str(caught.value)


def write_config(tmp_path: Path, gitosis: dict[str, Any]) -> Path:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("[git.internal]:22 ssh-ed25519 AAAA\n")
    path = tmp_path / "config.yml"
    section = {"ssh_private_key": str(tmp_path / "key"), "known_hosts": str(known_hosts), **gitosis}
    path.write_text(yaml.safe_dump({"home": str(tmp_path / "home"), "gitosis": section}))
    return path


# --- the refusal ------------------------------------------------------------------------------------


def test_a_design_naming_another_server_is_refused_with_the_allowed_ones() -> None:
    assert refusal(legacy(EVIL), ["b@two:b.git", "a@one:a.git"]) == (
        f"instance.gitosis-admin: {EVIL!r} is not an allowed gitosis-admin remote (allowed: a@one:a.git, b@two:b.git)"
    )


def test_with_nothing_allowed_the_refusal_says_where_to_allow_one() -> None:
    assert refusal(legacy(SEED_REMOTE), []) == (
        f"instance.gitosis-admin: {SEED_REMOTE!r} is not an allowed gitosis-admin remote "
        "(none are allowed: set gitosis.remotes or gitosis.allowed in the config)"
    )


def test_the_rich_format_names_the_host_at_fault_also_when_the_remote_comes_from_defaults() -> None:
    assert refusal(rich(SEED_REMOTE, EVIL), [SEED_REMOTE]).startswith("instances[1].gitosis_admin: ")
    assert refusal(rich(None, None, default=EVIL), [SEED_REMOTE]).startswith("instances[0].gitosis_admin: ")


def test_hosts_without_gitosis_admin_need_no_allowed_remote() -> None:
    assert [host["gitosis_admin"] for host in parse_design(rich(None), "t", gitosis_allowed=[]).hosts] == [None]


def test_the_comparison_is_exact_as_the_remotes_mapping_s_lookup_is() -> None:
    assert "is not an allowed" in refusal(legacy("gitosis@Freyr.websages.com:gitosis-admin.git"), [SEED_REMOTE])


def test_none_means_the_caller_does_not_check() -> None:
    (host,) = parse_design(legacy(EVIL), "stored hosts").hosts
    assert host["gitosis_admin"] == EVIL


@pytest.mark.parametrize(
    "remote", ["git@-oProxyCommand=x:repo.git", "git@host:-repo.git", "git@.host:repo.git", "-x@host:repo.git"]
)
def test_a_remote_that_could_read_as_an_option_is_not_a_remote(remote: str) -> None:
    assert "expected user@host:path.git" in refusal(legacy(remote), [remote])


# --- where the allow-list comes from: the config --------------------------------------------------


def test_the_config_allows_the_remotes_it_maps_then_the_listed_ones(tmp_path: Path) -> None:
    config = load_config(
        str(
            write_config(
                tmp_path,
                {
                    "remotes": {SEED_REMOTE: "gitosis@git.internal:gitosis-admin.git"},
                    "allowed": ["gitosis@git.internal:gitosis-admin.git", SEED_REMOTE],
                },
            )
        )
    )
    assert config.gitosis_allowed() == [SEED_REMOTE, "gitosis@git.internal:gitosis-admin.git"]
    design = tmp_path / "loki.yml"
    design.write_text(legacy(SEED_REMOTE))
    (host,) = load_design_file(design, gitosis_allowed=config.gitosis_allowed()).hosts
    assert host["gitosis_admin"] == SEED_REMOTE


def test_a_remote_reached_as_written_is_allowed_by_the_allowed_list(tmp_path: Path) -> None:
    config = load_config(str(write_config(tmp_path, {"allowed": ["gitosis@git.internal:gitosis-admin.git"]})))
    text = legacy("gitosis@git.internal:gitosis-admin.git")
    assert parse_design(text, "t", gitosis_allowed=config.gitosis_allowed()).hosts[0]["gitosis_admin"]
    assert "(allowed: gitosis@git.internal:gitosis-admin.git)" in refusal(legacy(SEED_REMOTE), config.gitosis_allowed())


def test_no_gitosis_section_allows_none() -> None:
    assert Config().gitosis_allowed() == []


@pytest.mark.parametrize(
    ("gitosis", "message"),
    [
        ({"remotes": [SEED_REMOTE]}, "gitosis.remotes must map"),
        ({"allowed": SEED_REMOTE}, "gitosis.allowed must be a list"),
        ({"allowed": [SEED_REMOTE], "known_hosts": None}, "gitosis.known_hosts is required"),
        ({"remotes": {SEED_REMOTE: "g@h:r.git"}, "ssh_private_key": ""}, "gitosis.ssh_private_key is required"),
        ({"remote": {SEED_REMOTE: "g@h:r.git"}}, "gitosis: unknown key 'remote'"),
    ],
)
def test_a_gitosis_section_that_cannot_be_used_safely_is_refused(
    tmp_path: Path, gitosis: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(str(write_config(tmp_path, gitosis)))


def test_the_playbooks_get_the_section_with_both_lists(tmp_path: Path) -> None:
    config = load_config(str(write_config(tmp_path, {"remotes": {SEED_REMOTE: "g@h:r.git"}})))
    assert config.site_vars()["jarvis_gitosis"]["remotes"] == {SEED_REMOTE: "g@h:r.git"}
    assert config.site_vars()["jarvis_gitosis"]["allowed"] == []


# --- the bot's sources ------------------------------------------------------------------------------


def test_the_bot_checks_designs_it_loads_and_allows_none_unless_told(tmp_path: Path) -> None:
    design = tmp_path / "loki.yml"
    design.write_text(legacy(SEED_REMOTE))
    with pytest.raises(DesignError, match="none are allowed"):
        DesignSources(UrlPolicy(), [tmp_path], None).load(str(design))
    sources = DesignSources(
        UrlPolicy(), [tmp_path], None, DesignPolicy(gitosis_allowed=[SEED_REMOTE], zones=["websages.com"])
    )
    assert sources.load(str(design)).hosts[0]["gitosis_admin"] == SEED_REMOTE


# --- the jarvis.deploy.design module and the static playbooks ---------------------------------------


def run_design_module(capsys: pytest.CaptureFixture[str], args: dict[str, Any]) -> dict[str, Any]:
    from ansible_collections.jarvis.deploy.plugins.modules import design

    with patch_module_args(args), pytest.raises(SystemExit):
        design.main()
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_the_design_module_refuses_a_remote_not_in_gitosis_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    instance = {**SEED, "gitosis-admin": EVIL}
    refused = run_design_module(capsys, {"instance": instance, "gitosis_allowed": [SEED_REMOTE]})
    assert refused["failed"] is True
    assert refused["path"] == "instance.gitosis-admin"
    assert refused["msg"] == (
        f"invalid design: instance.gitosis-admin: {EVIL!r} is not an allowed gitosis-admin remote "
        f"(allowed: {SEED_REMOTE})"
    )
    accepted = run_design_module(
        capsys, {"instance": {**SEED, "gitosis-admin": SEED_REMOTE}, "gitosis_allowed": [SEED_REMOTE]}
    )
    assert accepted["hosts"][0]["gitosis_admin"] == SEED_REMOTE
    unchecked = run_design_module(capsys, {"instance": instance})
    assert unchecked["hosts"][0]["gitosis_admin"] == EVIL


def validate_stage(tmp_path: Path, remote: str, jarvis_gitosis: dict[str, Any] | None) -> ansible_runner.Runner:
    """playbooks/deploy.yml up to its validate stage, as a plain ansible-playbook run with -e @design.yml."""
    design = tmp_path / "design.yml"
    design.write_text(legacy(remote))
    extra = f"-e @{design}"
    if jarvis_gitosis is not None:
        site = tmp_path / "site.yml"
        site.write_text(yaml.safe_dump({"jarvis_gitosis": jarvis_gitosis}))
        extra += f" -e @{site}"
    (tmp_path / "runner").mkdir()
    return ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        playbook=str(PLAYBOOKS_PATH / "deploy.yml"),
        inventory={"all": {"hosts": {}}},
        cmdline=f"{extra} --tags validate",
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"), "ANSIBLE_LOCALHOST_WARNING": "False"},
        quiet=True,
    )


def failures(result: ansible_runner.Runner) -> list[str]:
    return [e["event_data"]["res"].get("msg", "") for e in result.events if e["event"] == "runner_on_failed"]


@pytest.mark.parametrize(
    "jarvis_gitosis",
    [{"remotes": {SEED_REMOTE: "gitosis@127.0.0.1:gitosis-admin.git"}}, {"allowed": [SEED_REMOTE]}],
)
def test_the_validate_stage_allows_the_site_s_remotes(tmp_path: Path, jarvis_gitosis: dict[str, Any]) -> None:
    result = validate_stage(tmp_path, SEED_REMOTE, jarvis_gitosis)
    assert result.status == "successful", failures(result)


@pytest.mark.parametrize("jarvis_gitosis", [None, {"remotes": {SEED_REMOTE: "g@h:r.git"}, "allowed": ["a@b:c.git"]}])
def test_the_validate_stage_refuses_another_server(tmp_path: Path, jarvis_gitosis: dict[str, Any] | None) -> None:
    result = validate_stage(tmp_path, EVIL, jarvis_gitosis)
    assert result.status == "failed"
    (message,) = failures(result)
    allowed = (
        "allowed: a@b:c.git, gitosis@freyr.websages.com:gitosis-admin.git" if jarvis_gitosis else "none are allowed"
    )
    assert message.startswith(f"invalid design: instance.gitosis-admin: {EVIL!r} is not an allowed"), message
    assert allowed in message
