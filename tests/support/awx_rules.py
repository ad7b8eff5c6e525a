"""AWX's rules, as the AWX double applies them: launch validation, surveys, extra vars and credential injection.

Each follows AWX's source (github.com/ansible/awx):

- ``awx/api/serializers.py`` ``JobLaunchSerializer``: the launch fields (extra_vars, job_type, skip_tags,
  limit, job_tags, diff_mode, verbosity), refusals as ``{"field": [messages]}``, fields a template does not
  prompt for land in ``ignored_fields``;
- ``awx/main/models/mixins.py`` ``SurveyJobTemplateMixin``: survey answer validation
  (``variables_needed_to_start``), "JT extra_vars -> survey defaults -> runtime extra_vars";
- ``awx/api/views`` ``JobTemplateSurveySpec._validate_spec_data``: the survey spec rules;
- ``awx/main/models/credential`` ``CredentialType.inject_credential``: env injectors rendered with
  Jinja's ``ImmutableSandboxedEnvironment``, empty fields left out of the namespace;
- ``awx/main/tasks/jobs.py``: extra vars written to a file where only the template's own variables
  may hold Jinja (the others are ``!unsafe``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

FINAL = ("successful", "failed", "error", "canceled")  # the statuses a job ends in
SURVEY_TYPES = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": float,
}
# Launch fields a template may prompt for, and the flag that allows each.
PROMPTS = {
    "job_type": "ask_job_type_on_launch",
    "skip_tags": "ask_skip_tags_on_launch",
    "job_tags": "ask_tags_on_launch",
    "limit": "ask_limit_on_launch",
    "diff_mode": "ask_diff_mode_on_launch",
    "verbosity": "ask_verbosity_on_launch",
}
PROMPT_DEFAULTS: dict[str, Any] = {
    "job_type": "run",
    "skip_tags": "",
    "job_tags": "",
    "limit": "",
    "diff_mode": False,
    "verbosity": 0,
}


def survey_questions(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions of TEMPLATE's survey (none without one)."""
    questions: list[dict[str, Any]] = template.get("related", {}).get("survey_spec", {}).get("spec", [])
    return questions


class LaunchRefused(Exception):
    """A launch AWX answers with 400 and these field errors."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


def parse_extra_vars(value: Any) -> dict[str, Any]:
    """Extra vars as AWX accepts them: a mapping, or JSON or YAML text of one."""
    if isinstance(value, dict):
        return value
    if value in (None, ""):
        return {}
    if not isinstance(value, str):
        raise LaunchRefused({"extra_vars": [f"Input type `{type(value).__name__}` is not a dictionary"]})
    try:
        parsed = json.loads(value)
    except ValueError as json_error:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as yaml_error:
            message = f"Cannot parse as JSON (error: {json_error}) or YAML (error: {yaml_error})."
            raise LaunchRefused({"extra_vars": [message]}) from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise LaunchRefused({"extra_vars": [f"Input type `{type(parsed).__name__}` is not a dictionary"]})
    return parsed


def _choices(question: dict[str, Any]) -> list[str]:
    choices = question.get("choices") or []
    if isinstance(choices, str):
        return [choice for choice in choices.splitlines() if choice.strip()]
    return list(choices)


def survey_answer_errors(question: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """AWX's ``_survey_element_validation`` of one question against the launch's variables."""
    variable, kind = question["variable"], question["type"]
    if variable not in data:
        return [f"'{variable}' value missing"] if question["required"] else []
    value = data[variable]
    low, high = question.get("min"), question.get("max")
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"Value {value} for '{variable}' expected to be a string."]
        errors = []
        if low not in ("", None) and len(value) < int(low):
            errors.append(f"'{variable}' value {value} is too small (length is {len(value)} must be at least {low}).")
        if high not in ("", None) and len(value) > int(high):
            errors.append(f"'{variable}' value {value} is too large (must be no more than {high}).")
        return errors
    if kind in ("integer", "float"):
        numeric = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            expected = "an integer" if kind == "integer" else "a numeric type"
            return [f"Value {value} for '{variable}' expected to be {expected}."]
        errors = []
        if low not in ("", None) and value < low:
            errors.append(f"'{variable}' value {value} is too small (must be at least {low}).")
        if high not in ("", None) and value > high:
            errors.append(f"'{variable}' value {value} is too large (must be no more than {high}).")
        return errors
    if kind == "multiselect":
        if not isinstance(value, list):
            return [f"'{variable}' value is expected to be a list."]
        choices = _choices(question)
        return [
            f"Value {item} for '{variable}' expected to be one of {choices}." for item in value if item not in choices
        ]
    if kind == "multiplechoice" and value not in _choices(question):
        return [f"Value {value} for '{variable}' expected to be one of {_choices(question)}."]
    return []


def survey_spec_errors(spec: Any) -> list[str]:
    """What AWX's survey_spec endpoint would refuse in SPEC (empty: it would be accepted)."""
    if not isinstance(spec, dict):
        return ["the survey spec is not a mapping"]
    errors = []
    for key, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(key), kind):
            errors.append(f"Field '{key}' is missing from survey spec or is not a {kind.__name__}.")
    questions = spec.get("spec") if isinstance(spec.get("spec"), list) else []
    if not questions:
        errors.append("'spec' doesn't contain any items.")
    seen: set[str] = set()
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            errors.append(f"Survey question {index} is not a json object.")
            continue
        for key, kind in (("type", str), ("question_name", str), ("variable", str), ("required", bool)):
            if not isinstance(question.get(key), kind):
                errors.append(f"'{key}' missing from survey question {index} or not a {kind.__name__}")
        variable = question.get("variable")
        if variable in seen:
            errors.append(f"'variable' '{variable}' duplicated in survey question {index}.")
        seen.add(str(variable))
        kind_name = question.get("type")
        if kind_name not in SURVEY_TYPES:
            errors.append(f"'{kind_name}' in survey question {index} is not one of the allowed question types.")
            continue
        default = question.get("default", "")
        if default != "" and not isinstance(default, SURVEY_TYPES[kind_name]):
            errors.append(f"Default value {default} in survey question {index} expected to be {kind_name}.")
        for key in ("min", "max"):
            if question.get(key) is not None and not isinstance(question[key], int):
                errors.append(f"The {key} limit in survey question {index} expected to be integer.")
        if kind_name in ("multiplechoice", "multiselect"):
            if "choices" not in question:
                errors.append(f"Survey question {index} of type {kind_name} must specify choices.")
            elif default != "":
                defaults = default.splitlines() if isinstance(default, str) else list(default)
                if kind_name == "multiplechoice" and len(defaults) > 1:
                    errors.append("Multiple Choice (Single Select) can only have one default value.")
                if any(item not in _choices(question) for item in defaults):
                    errors.append("Default choice must be answered from the choices listed.")
        if default != "" and kind_name != "multiselect" and survey_answer_errors(question, {str(variable): default}):
            errors.append(f"Default value of survey question {index} does not satisfy its own rules.")
    return errors


def merged_extra_vars(template: dict[str, Any], runtime: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A job's extra vars ("JT extra_vars -> survey defaults -> runtime") and those that may hold Jinja.

    Only the template's own variables may be templated (AWX's ALLOW_JINJA_IN_EXTRA_VARS = template).
    """
    own = parse_extra_vars(template.get("extra_vars") or "")
    merged = dict(own)
    if template.get("survey_enabled"):
        for question in survey_questions(template):
            default = question.get("default")
            if default is not None and not survey_answer_errors(question, {question["variable"]: default}):
                merged[question["variable"]] = default
    merged.update(runtime)
    safe = {key: value for key, value in own.items() if merged.get(key) == value}
    return merged, safe


class _UnsafeText(str):
    """A string AWX marks ``!unsafe`` so that Ansible never renders Jinja in it."""


def _unsafe_representer(dumper: yaml.SafeDumper, data: _UnsafeText) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", str(data))


class _ExtraVarsDumper(yaml.SafeDumper):
    pass


_ExtraVarsDumper.add_representer(_UnsafeText, _unsafe_representer)


def _mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return _UnsafeText(value)
    if isinstance(value, list):
        return [_mark_unsafe(item) for item in value]
    if isinstance(value, dict):
        return {key: _mark_unsafe(item) for key, item in value.items()}
    return value


def extra_vars_text(extra_vars: dict[str, Any], safe: dict[str, Any]) -> str:
    """The extra vars file AWX hands ansible-playbook: values not from SAFE tagged ``!unsafe``."""
    marked = {key: value if key in safe else _mark_unsafe(value) for key, value in extra_vars.items()}
    return str(yaml.dump(marked, Dumper=_ExtraVarsDumper, default_flow_style=False, sort_keys=False))


def inject(credential_type: dict[str, Any], inputs: dict[str, Any]) -> dict[str, str]:
    """The environment a credential of CREDENTIAL_TYPE adds to a job, rendered as AWX does."""
    namespace: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, bool) or len(str(value)):
            namespace[name] = value
    for spec in credential_type["inputs"].get("fields", []):
        if spec.get("type") == "boolean" and spec["id"] not in inputs:
            namespace[spec["id"]] = False
    sandbox = ImmutableSandboxedEnvironment()
    return {
        variable: sandbox.from_string(template).render(**namespace)
        for variable, template in credential_type.get("injectors", {}).get("env", {}).items()
    }


@dataclass(frozen=True)
class Launch:
    """What AWX makes of a launch: the job's options and extra vars, and the fields it ignored."""

    options: dict[str, Any]
    extra_vars: dict[str, Any]
    safe_vars: dict[str, Any]  # those of EXTRA_VARS that may hold Jinja
    ignored: dict[str, Any]


def validate_launch(template: dict[str, Any], body: dict[str, Any]) -> Launch:
    """A launch of TEMPLATE with BODY, validated like AWX's JobLaunchSerializer; LaunchRefused if refused."""
    errors: dict[str, list[str]] = {}
    ignored: dict[str, Any] = {}
    options = {name: template.get(name, default) for name, default in PROMPT_DEFAULTS.items()}
    for name, flag in PROMPTS.items():
        if name not in body:
            continue
        value = body[name]
        if name == "job_type" and value not in ("run", "check"):
            errors[name] = [f'"{value}" is not a valid choice.']
        elif name == "diff_mode" and not isinstance(value, bool):
            errors[name] = ["Must be a valid boolean."]
        elif template.get(flag):
            options[name] = value
        elif value != options[name]:
            ignored[name] = value
    try:
        runtime = parse_extra_vars(body.get("extra_vars"))
    except LaunchRefused as refused:
        errors.update(refused.errors)
        runtime = {}
    accepted: dict[str, Any] = {}
    if template.get("survey_enabled"):
        survey_errors = []
        for question in survey_questions(template):
            problems = survey_answer_errors(question, runtime)
            survey_errors += problems
            if question["variable"] in runtime and not problems:
                accepted[question["variable"]] = runtime.pop(question["variable"])
        if survey_errors:
            errors["variables_needed_to_start"] = survey_errors
    if template.get("ask_variables_on_launch"):
        accepted.update(runtime)
    elif runtime:
        ignored["extra_vars"] = runtime
    if errors:
        raise LaunchRefused(errors)
    extra_vars, safe = merged_extra_vars(template, accepted)
    return Launch(options, extra_vars, safe, ignored)
