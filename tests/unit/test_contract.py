"""The orchestrator's two tables (stages, credentials) hold for the collection as it is written.

The stage table (orchestrator/stages.py) names each stage's task file and what its modules hand back
under which fact and role variable; the credential table (orchestrator/credentials.py) names each
credential's config key, environment variable and module option. Nothing else repeats those facts, so
these tests are what keeps the tables and the role's task files and modules' argument specs in step.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator._collection import COLLECTION_PATH
from orchestrator.credentials import CREDENTIALS, module_defaults
from orchestrator.render import MODULE_DEFAULTS
from orchestrator.stages import STAGES, findings_of, handed_back

TASKS = COLLECTION_PATH / "roles" / "pipeline" / "tasks"
HELPER_TASK_FILES = {"host_vars"}  # imported by the plays before any stage: not a stage of its own
ACTION_GROUPS: dict[str, list[str]] = yaml.safe_load((COLLECTION_PATH / "meta" / "runtime.yml").read_text())[
    "action_groups"
]


def _tasks(stage_file: str) -> list[dict[str, Any]]:
    return yaml.safe_load((TASKS / f"{stage_file}.yml").read_text()) or []


def _modules_of(tasks: list[dict[str, Any]]) -> set[str]:
    """The short names of the modules TASKS call (FQCN jarvis.deploy.* and ansible.builtin.*)."""
    return {key.rsplit(".", 1)[-1] for task in tasks for key in task if key.startswith(("jarvis.", "ansible."))}


def test_every_stage_has_its_task_file_and_every_task_file_is_a_stage() -> None:
    on_disk = {path.stem for path in TASKS.glob("*.yml")}
    assert {stage.task_file for stage in STAGES} == on_disk - HELPER_TASK_FILES


@pytest.mark.parametrize("stage", [stage for stage in STAGES if stage.findings], ids=lambda stage: stage.id)
def test_a_stage_calls_the_modules_it_hands_back_from_and_sets_their_variables(stage: Any) -> None:
    tasks = _tasks(stage.task_file)
    modules = _modules_of(tasks)
    named = {task.get("register") for task in tasks} | {
        name for task in tasks for name in (task.get("ansible.builtin.set_fact") or {})
    }
    for finding in stage.findings:
        assert any(finding.matches(module) for module in modules), f"{stage.id}: no task runs {finding.module}"
        if finding.variable is not None:
            assert finding.variable in named, f"{stage.id}: nothing registers or sets {finding.variable}"


def test_what_a_stage_keeps_is_what_a_resume_hands_back() -> None:
    result = {"instance": {"id": "i-1", "state": "running", "private_ip": "10.0.0.5", "public_ip": None}}
    facts = findings_of("instance", "jarvis.deploy.ec2_instance", result)
    assert facts == {
        "instance": result["instance"],
        "instance_id": "i-1",
        "instance_state": "running",
        "private_ip": "10.0.0.5",
        "public_ip": None,
    }
    facts |= findings_of("root_keypair", "jarvis.deploy.root_keypair", {"public_key": "ssh-ed25519 AAAA root"})
    facts |= findings_of("address", "ansible.builtin.set_fact", {"ansible_facts": {"jarvis_ip": "10.0.0.5"}})
    assert handed_back(facts) == {
        "jarvis_instance": result["instance"],
        "jarvis_root_keypair": {"public_key": "ssh-ed25519 AAAA root"},
        "jarvis_ip": "10.0.0.5",
    }


def test_a_finding_of_another_stage_or_module_is_not_taken() -> None:
    assert findings_of("unsilence", "jarvis.deploy.dns_pointers", {"moved": ["www"]}) == {}
    assert findings_of("instance", "jarvis.deploy.ec2_instance", {"instance": {}}) == {}
    assert findings_of("ssh", "jarvis.deploy.root_keypair", {"public_key": "x"}) == {}


class _Captured(Exception):
    pass


def _argument_spec(module_name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """MODULE_NAME's argument_spec, as its main() builds it (AnsibleModule is stopped at its creation)."""
    module = importlib.import_module(f"ansible_collections.jarvis.deploy.plugins.modules.{module_name}")
    captured: dict[str, Any] = {}

    def capture(*args: Any, **kwargs: Any) -> None:
        captured.update(kwargs.get("argument_spec") or args[0])
        raise _Captured

    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(_Captured):
        module.main()
    return captured


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda credential: f"{credential.group}.{credential.key}")
def test_every_module_of_the_group_falls_back_to_the_credentials_variable(
    credential: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module_name in ACTION_GROUPS[credential.group]:
        spec = _argument_spec(module_name, monkeypatch)
        option = spec.get(credential.option)
        assert option is not None, f"{module_name} has no option {credential.option}"
        fallback = option.get("fallback")
        assert fallback is not None, f"{module_name}.{credential.option} has no env fallback"
        names = list(fallback[1])
        if credential.module_default:
            assert names[0] == credential.env, f"{module_name}.{credential.option} falls back to {names}"
        else:
            assert credential.env in names, f"{module_name}.{credential.option} falls back to {names}"
        assert bool(option.get("no_log")) == credential.secret, f"{module_name}.{credential.option}: no_log"


def test_every_env_fallback_of_a_credential_module_is_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    known = {(credential.group, credential.option) for credential in CREDENTIALS}
    for group in {credential.group for credential in CREDENTIALS}:
        for module_name in ACTION_GROUPS[group]:
            for option, spec in _argument_spec(module_name, monkeypatch).items():
                if spec.get("fallback"):
                    assert (group, option) in known, f"{module_name}.{option}: an env fallback the table lacks"


def test_the_play_hands_every_module_default_credential_over() -> None:
    assert module_defaults() == MODULE_DEFAULTS
    wanted = {(c.group, c.option) for c in CREDENTIALS if c.module_default}
    handed = {(group.rsplit(".", 1)[-1], option) for group, options in MODULE_DEFAULTS.items() for option in options}
    assert handed == wanted


def test_the_tables_sit_in_one_place() -> None:
    """The credential environment names appear in orchestrator code only in the table."""
    orchestrator = Path(__file__).resolve().parents[2] / "orchestrator"
    for path in orchestrator.glob("*.py"):
        if path.name == "credentials.py":
            continue
        text = path.read_text()
        written = [credential.env for credential in CREDENTIALS if f'"{credential.env}"' in text]
        assert not written, f"{path.name} spells out {written}: take them from orchestrator.credentials"
