"""awx/assets.yml: what AWX would accept on import, and that it fits the collection and the playbooks.

The credential types must inject exactly the environment variables the modules read; the job templates
must run playbooks that exist and let jarvis hand them what it hands every executor; the surveys must
pass AWX's survey rules and their answers must make a design the validate play accepts (checked by
running the real ``playbooks/deploy.yml`` up to its validate stage, with the extra vars written the
way AWX writes them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ansible_runner
import jinja2
import jinja2.meta
import pytest

from orchestrator._collection import design_rules
from orchestrator.config import Config
from orchestrator.credentials import CREDENTIAL_ENV, SECRET_KEYS
from orchestrator.design import parse_design
from tests.support.awx_double import (
    REPO,
    credentials_from_config,
    extra_vars_text,
    inject,
    load_assets,
    merged_extra_vars,
    survey_spec_errors,
)

ASSETS = load_assets()
TEMPLATES = {template["name"]: template for template in ASSETS["job_templates"]}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOeAGDN0WmIZi5BTuSuqzmkE9n0VqEbJTZ4jT8Q5lmm7 ops@example.com"
ANSWERS = {
    "design_hostname": "loki",
    "design_fqdn": "loki.websages.com",
    "design_provider": "linode",
    "design_image": "Debian 12",
    "design_region": "Atlanta",
    "design_size": "2048",
    "design_ssh_keys": f"{KEY}\r\n\n{KEY.replace('ops@', 'dev@')}\n",
    "design_gitosis_admin": "gitosis@freyr.websages.com:gitosis-admin.git",
    "design_standby": "loki-b.websages.com",
}


def credential_type_of(group: str) -> dict[str, Any]:
    wanted = set(CREDENTIAL_ENV[group].values())
    (found,) = [ct for ct in ASSETS["credential_types"] if set(ct["injectors"]["env"]) == wanted]
    return found


@pytest.mark.parametrize("group", sorted(CREDENTIAL_ENV))
def test_one_credential_type_per_group_injects_the_modules_variables(group: str) -> None:
    credential_type = credential_type_of(group)
    fields = {spec["id"]: spec for spec in credential_type["inputs"]["fields"]}
    assert set(fields) == set(CREDENTIAL_ENV[group])
    for key, spec in fields.items():
        assert spec["type"] == "string" and spec["label"]
        assert bool(spec.get("secret")) == ((group, key) in SECRET_KEYS), f"{group}.{key}: secret flag"
    assert set(credential_type["inputs"]["required"]) <= set(fields)
    assert credential_type["kind"] == "cloud"
    for env, template in credential_type["injectors"]["env"].items():
        used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(template))
        assert used == {next(key for key, name in CREDENTIAL_ENV[group].items() if name == env)}, env
    assert credential_type["natural_key"] == {
        "type": "credential_type",
        "name": credential_type["name"],
        "kind": "cloud",
    }


def test_injected_environment_is_what_jarvis_itself_would_set() -> None:
    full = {group: {key: f"{group}-{key}-value" for key in keys} for group, keys in CREDENTIAL_ENV.items()}
    full["dns"]["port"], full["vsphere"]["port"] = "5353", "8443"
    full["dns"]["key_algorithm"], full["vsphere"]["validate_certs"] = "hmac-sha512", "false"
    injected: dict[str, str] = {}
    for credential in credentials_from_config(full, ASSETS):
        injected |= inject(
            next(ct for ct in ASSETS["credential_types"] if ct["name"] == credential.credential_type),
            credential.inputs,
        )
    assert injected == Config(credentials=full).credential_environment()


def test_optional_fields_left_empty_inject_the_modules_defaults() -> None:
    """AWX renders an empty field as "", which a typed module option would refuse."""
    only_required = {
        group: inject(ct, {field: "x" for field in ct["inputs"]["required"]})
        for group in CREDENTIAL_ENV
        if (ct := credential_type_of(group))
    }
    assert only_required["dns"]["JARVIS_DNS_PORT"] == "53"
    assert only_required["dns"]["JARVIS_TSIG_ALGORITHM"] == "hmac-sha256"
    assert only_required["vsphere"]["VMWARE_PORT"] == "443"
    assert only_required["vsphere"]["VMWARE_VALIDATE_CERTS"] == "true"
    assert only_required["linode"]["LINODE_API_URL"] == "https://api.linode.com/v4"
    assert only_required["aws"]["AWS_ENDPOINT_URL"] == ""  # boto3 takes "" as unset: AWS itself


def test_job_templates_run_the_static_playbooks_and_take_what_jarvis_sends() -> None:
    assert set(TEMPLATES) == {"jarvis deploy", "jarvis redeploy", "jarvis destroy"}
    for name, template in TEMPLATES.items():
        assert template["playbook"] == f"playbooks/{name.split()[1]}.yml"
        assert (REPO / template["playbook"]).is_file(), template["playbook"]
        for flag in ("ask_variables_on_launch", "ask_job_type_on_launch", "ask_skip_tags_on_launch"):
            assert template[flag] is True, f"{name}: {flag}"
        assert template["allow_simultaneous"] is True and template["survey_enabled"] is True
        assert template["job_type"] == "run"


def test_every_reference_is_to_an_object_of_the_file() -> None:
    keys = {json.dumps(item["natural_key"], sort_keys=True) for items in ASSETS.values() for item in items}
    sections = {
        "organizations": "organization",
        "credential_types": "credential_type",
        "execution_environments": "execution_environment",
        "inventory": "inventory",
        "projects": "project",
        "job_templates": "job_template",
    }
    assert set(ASSETS) == set(sections)
    for section, kind in sections.items():
        for item in ASSETS[section]:
            assert item["natural_key"]["type"] == kind and item["natural_key"]["name"] == item["name"]
            for field in ("organization", "inventory", "project", "execution_environment", "default_environment"):
                if field in item:
                    assert json.dumps(item[field], sort_keys=True) in keys, f"{item['name']}.{field}"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_surveys_pass_awx_survey_rules(name: str) -> None:
    survey = TEMPLATES[name]["related"]["survey_spec"]
    assert survey_spec_errors(survey) == []
    variables = {question["variable"]: question for question in survey["spec"]}
    assert variables["design_provider"]["choices"] == list(design_rules.PROVIDER_ALIASES)
    assert not any(question["required"] for question in survey["spec"]), "an API launch answers none"
    used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(TEMPLATES[name]["extra_vars"]))
    assert {variable for variable in used if variable.startswith("design_")} == set(variables)


def test_the_survey_spec_rules_catch_what_awx_refuses() -> None:
    question = {"question_name": "Provider", "variable": "p", "type": "multiplechoice", "required": True}
    assert survey_spec_errors({"name": "s", "description": "", "spec": [question]}) == [
        "Survey question 0 of type multiplechoice must specify choices."
    ]
    bad_default = {**question, "choices": ["ec2"], "default": "gce"}
    assert "Default choice must be answered from the choices listed." in survey_spec_errors(
        {"name": "s", "description": "", "spec": [bad_default]}
    )
    assert survey_spec_errors({"name": "s", "spec": [{**question, "type": "dropdown"}]})[0].startswith(
        "Field 'description'"
    )


def validate(tmp_path: Path, template: dict[str, Any], launch_vars: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the template's playbook up to validate (plus the always-run adoption of jarvis_host_vars)."""
    extra_vars, safe = merged_extra_vars(template, launch_vars)
    (tmp_path / "runner" / "env").mkdir(parents=True)
    extra_file = tmp_path / "runner" / "env" / "extravars"  # where AWX writes them
    extra_file.write_text(extra_vars_text(extra_vars, safe))
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        playbook=str(REPO / template["playbook"]),
        inventory={"all": {"hosts": {}, "vars": {"jarvis_gitosis": {"allowed": [ANSWERS["design_gitosis_admin"]]}}}},
        cmdline=f"-e @{extra_file} --tags validate",
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"), "ANSIBLE_LOCALHOST_WARNING": "False"},
        quiet=True,
    )
    events = list(result.events)
    failures = [e["event_data"]["res"].get("msg") for e in events if e["event"] == "runner_on_failed"]
    assert result.status == "successful", failures
    return events


def design_hosts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (validated,) = [
        e for e in events if e["event"] == "runner_on_ok" and e["event_data"]["task_action"] == "jarvis.deploy.design"
    ]
    hosts: list[dict[str, Any]] = validated["event_data"]["res"]["hosts"]
    return hosts


def test_a_filled_in_survey_makes_the_design_it_says(tmp_path: Path) -> None:
    hosts = design_hosts(validate(tmp_path, TEMPLATES["jarvis deploy"], ANSWERS))
    expected = parse_design(
        json.dumps(
            {
                "instances": [
                    {
                        "hostname": "loki",
                        "fqdn": "loki.websages.com",
                        "provider": "linode",
                        "image": "Debian 12",
                        "region": "Atlanta",
                        "size": "2048",
                        "ssh_keys": [KEY, KEY.replace("ops@", "dev@")],
                        "gitosis_admin": "gitosis@freyr.websages.com:gitosis-admin.git",
                        "standby": "loki-b.websages.com",
                    }
                ]
            }
        ),
        "survey",
    )
    assert hosts == expected.hosts


def test_a_survey_with_defaults_only_and_a_redeploy_confirmation(tmp_path: Path) -> None:
    answers = {"design_hostname": "odin", "design_fqdn": "odin.websages.com", "design_force": "yes"}
    answers["design_image"] = "ami-0123456789abcdef0"  # EC2 images have no defaults: a site maps them
    events = validate(tmp_path, TEMPLATES["jarvis redeploy"], answers)
    (host,) = design_hosts(events)
    assert (host["provider"], host["region"], host["size"], host["ssh_keys"]) == ("ec2", "us-east-1", "t3.micro", [])
    adopted = [
        item["ansible_facts"]
        for e in events
        if e["event"] == "runner_on_ok" and e["event_data"]["host"] == "odin"
        for item in e["event_data"]["res"].get("results", [])
    ]
    assert {"jarvis_force": True} in adopted and {"jarvis_rotate_credentials": True} in adopted


@pytest.mark.parametrize(
    "launch_vars",
    [
        {
            "instances": [
                {
                    "hostname": "tyr",
                    "fqdn": "tyr.websages.com",
                    "provider": "ec2",
                    "image": "ami-0123456789abcdef0",
                    "region": "Atlanta",
                    "size": 512,
                }
            ]
        },
        {
            "instance": {
                "hostname": "tyr",
                "fqdn": "tyr.websages.com",
                "provider": "EC2",
                "guestid": "ami-0123456789abcdef0",
                "datacenter": "Atlanta",
                "size": 512,
            }
        },
    ],
    ids=["instances", "legacy instance"],
)
def test_an_api_launch_design_replaces_the_survey(tmp_path: Path, launch_vars: dict[str, Any]) -> None:
    """jarvis (or a person with extra vars) gives the design itself; the survey's defaults change nothing."""
    (host,) = design_hosts(validate(tmp_path, TEMPLATES["jarvis deploy"], launch_vars))
    assert (host["hostname"], host["size"]) == ("tyr", "t3.nano")
