"""The one credential table: config key ↔ environment variable ↔ module option.

A credential is ``credentials.<group>.<key>`` in the config file. When jarvis runs a playbook it
reaches the modules of the collection's action group ``<group>`` through ``module_defaults`` (as
OPTION); a plain ``ansible-playbook`` run reads the same environment variable the module falls back
to, and jarvis fills a credential the config file leaves out from it. ``config.py`` (loading and the
environment), ``render.py`` (module defaults), the AWX credential types and the runner's scrubbing of
the environment all derive from this table; ``tests/unit/test_contract.py`` checks every module's
``env_fallback`` against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Credential:
    group: str  # the config section under credentials:, and the collection's action group
    key: str
    env: str  # the environment variable: what jarvis fills the key from, and the module's env fallback
    option: str  # the option of the group's modules it fills
    secret: bool = False  # never shown: redacted everywhere, scrubbed from jarvis's own environment
    module_default: bool = True  # handed to the modules through module_defaults


CREDENTIALS: tuple[Credential, ...] = (
    Credential("aws", "access_key", "AWS_ACCESS_KEY_ID", "aws_access_key"),
    Credential("aws", "secret_key", "AWS_SECRET_ACCESS_KEY", "aws_secret_key", secret=True),
    Credential("aws", "endpoint_url", "AWS_ENDPOINT_URL", "endpoint_url"),
    Credential("aws", "region", "AWS_DEFAULT_REGION", "region", module_default=False),  # the design's region wins
    Credential("dns", "server", "JARVIS_DNS_SERVER", "server"),
    Credential("dns", "port", "JARVIS_DNS_PORT", "port"),
    Credential("dns", "key_name", "JARVIS_TSIG_KEY_NAME", "key_name"),
    Credential("dns", "key_secret", "JARVIS_TSIG_SECRET", "key_secret", secret=True),
    Credential("dns", "key_algorithm", "JARVIS_TSIG_ALGORITHM", "key_algorithm"),
    Credential("ldap", "uri", "JARVIS_LDAP_URI", "server_uri"),
    Credential("ldap", "bind_dn", "JARVIS_LDAP_BIND_DN", "bind_dn"),
    Credential("ldap", "bind_password", "JARVIS_LDAP_BIND_PASSWORD", "bind_pw", secret=True),
    Credential("ldap", "hosts_dn", "JARVIS_LDAP_HOSTS_DN", "hosts_dn"),
    Credential("linode", "token", "LINODE_API_TOKEN", "api_token", secret=True),
    Credential("linode", "api_url", "LINODE_API_URL", "api_url"),
    Credential("alertmanager", "url", "JARVIS_ALERTMANAGER_URL", "url"),
    Credential("alertmanager", "username", "JARVIS_ALERTMANAGER_USER", "username"),
    Credential("alertmanager", "password", "JARVIS_ALERTMANAGER_PASSWORD", "password", secret=True),
    Credential("vsphere", "host", "VMWARE_HOST", "vcenter_hostname"),
    Credential("vsphere", "port", "VMWARE_PORT", "vcenter_port"),
    Credential("vsphere", "username", "VMWARE_USER", "username"),
    Credential("vsphere", "password", "VMWARE_PASSWORD", "password", secret=True),
    Credential("vsphere", "validate_certs", "VMWARE_VALIDATE_CERTS", "validate_certs"),
)

# {group: {key: environment variable}}
CREDENTIAL_ENV: dict[str, dict[str, str]] = {}
for _credential in CREDENTIALS:
    CREDENTIAL_ENV.setdefault(_credential.group, {})[_credential.key] = _credential.env
SECRET_KEYS = frozenset((credential.group, credential.key) for credential in CREDENTIALS if credential.secret)


def module_defaults() -> dict[str, dict[str, str]]:
    """The play's ``module_defaults``: each credential from the private vars file jarvis writes, else
    (left out) the module's env fallback."""
    defaults: dict[str, dict[str, str]] = {}
    for credential in CREDENTIALS:
        if credential.module_default:
            value = f"{{{{ jarvis_credentials.{credential.group}.{credential.key} | default(omit) }}}}"
            defaults.setdefault(f"group/jarvis.deploy.{credential.group}", {})[credential.option] = value
    return defaults
