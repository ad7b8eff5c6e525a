# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The root_credentials arguments, as the module stub and the action plugin both validate them."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.jarvis.deploy.plugins.module_utils._root_credentials import ARGUMENT_SPEC

REQUIRED = {
    "name": "loki.websages.com",
    "secrets_dir": "/srv/jarvis/secrets",
    "vault_password_file": "/etc/jarvis/vault",
}


def validate(parameters):
    return ArgumentSpecValidator(ARGUMENT_SPEC).validate(parameters)


def test_defaults_keep_the_password_stored_and_unreturned():
    result = validate(dict(REQUIRED))
    assert result.error_messages == []
    assert result.validated_parameters == {
        **REQUIRED,
        "rotate": False,
        "length": 24,
        "return_hash": True,
        "return_password": False,
    }


def test_name_secrets_dir_and_vault_password_file_are_required():
    result = validate({})
    assert result.error_messages == ["missing required arguments: name, secrets_dir, vault_password_file"]


def test_values_are_converted_as_ansible_would():
    result = validate({**REQUIRED, "rotate": "yes", "length": "32", "secrets_dir": "~/secrets"})
    assert result.error_messages == []
    assert (result.validated_parameters["rotate"], result.validated_parameters["length"]) == (True, 32)
    assert not result.validated_parameters["secrets_dir"].startswith("~")


def test_no_option_is_treated_as_a_secret_to_censor():
    # The password is made by the action plugin and never passed in; option values are paths and switches.
    assert not any(option.get("no_log") for option in ARGUMENT_SPEC.values())
