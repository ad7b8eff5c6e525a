"""The CLI's admin check: --force and --adopt are obeyed only for a unix user named in ``cli_admins``.

No server is needed: every refusal comes before anything is recorded or run.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.config import Config, load_config
from orchestrator.errors import ConfigError, NotAllowed
from orchestrator.store import DeploymentStore
from tests.support.chat_world import DESIGN

ME = pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """A config whose cli_admins names someone else, and a design file of host loki."""
    monkeypatch.delenv("JARVIS_HOME", raising=False)
    config = tmp_path / "config.yml"
    config.write_text(f"home: {tmp_path / 'home'}\nzones: [example.com]\ncli_admins: [nobody-else]\n")
    design = tmp_path / "loki.yml"
    design.write_text(DESIGN.format(name="loki"))
    umask = os.umask(0o022)
    os.umask(umask)
    yield config, design
    os.umask(umask)  # main() sets 077 for what jarvis writes


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["deploy", "{design}", "--force"], "deploying loki with --force"),
        (["deploy", "{design}", "--adopt"], "deploying loki with --adopt"),
        (["deploy", "{design}", "--force", "--adopt"], "deploying loki with --force and --adopt"),
        (["plan", "{design}", "--adopt"], "planning loki with --adopt"),
        (["redeploy", "loki", "--design", "{design}", "--force"], "redeploying loki with --force"),
        (["destroy", "loki", "--design", "{design}", "--force"], "destroying loki with --force"),
        (["resume", "loki", "--force"], "resuming loki with --force"),
    ],
)
def test_force_and_adopt_are_refused_to_a_user_not_in_cli_admins(
    site: tuple[Path, Path], argv: list[str], refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config, design = site
    code = cli.main(["--config", str(config), *(arg.format(design=design) for arg in argv)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"jarvis: {refusal} needs a cli_admins user; {ME} is not one (cli_admins in {config}: nobody-else)\n"
    )
    store = DeploymentStore(load_config(str(config)).store_path)
    try:
        assert store.active_hosts() == [] and store.host_status("loki") is None, "nothing was recorded"
    finally:
        store.close()


def test_a_production_host_is_not_resumed_without_force(
    site: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = site
    monkeypatch.setattr(cli, "redeploy_facts", lambda config, host: {"jarvis_production": host["hostname"] == "thor"})
    assert cli.main(["--config", str(config), "resume", "thor"]) == 2
    assert (
        capsys.readouterr().err == "jarvis: thor is in production: resuming it needs --force (from a cli_admins user)\n"
    )


def test_an_admin_passes_the_check(tmp_path: Path) -> None:
    cli.require_cli_admin(Config(home=tmp_path, cli_admins=["someone", ME]), "destroying loki", "--force")
    with pytest.raises(NotAllowed, match=rf"^destroying loki with --force needs a cli_admins user; {ME} is not one "):
        cli.require_cli_admin(Config(home=tmp_path, cli_admins=[]), "destroying loki", "--force")


def test_cli_admins_defaults_to_root_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JARVIS_HOME", raising=False)
    config = tmp_path / "config.yml"
    config.write_text(f"home: {tmp_path}\n")
    assert load_config(str(config)).cli_admins == ["root"]
    for wrong in ("root", "[1]", "['']", "null"):
        config.write_text(f"home: {tmp_path}\ncli_admins: {wrong}\n")
        with pytest.raises(ConfigError, match=r"cli_admins must be a list of unix user names, like \[root, ops\]"):
            load_config(str(config))
