# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ldap
short_description: The hosts of the jarvis LDAP CMDB (ou=Hosts) as an inventory
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Lists every C(jarvisHost) entry right under O(hosts_dn) (the entries M(jarvis.deploy.ldap_host) writes) as a host.
  - Each host gets its CMDB facts as host variables named C(jarvis_cmdb_<fact>), decoded exactly as
    M(jarvis.deploy.ldap_host_info) returns them in C(host) - C(jarvis_cmdb_fqdn), C(jarvis_cmdb_ip) (a list),
    C(jarvis_cmdb_provider), C(jarvis_cmdb_instance_id), C(jarvis_cmdb_region), C(jarvis_cmdb_roles) (a list),
    C(jarvis_cmdb_production) (a bool), C(jarvis_cmdb_standby), C(jarvis_cmdb_kernel), C(jarvis_cmdb_root_public_key),
    C(jarvis_cmdb_ssh_fingerprints) (a list), C(jarvis_cmdb_deployed_at) (ISO 8601 UTC), C(jarvis_cmdb_deployed_by),
    C(jarvis_cmdb_owner) (the jarvis identity the entry was made for) and C(jarvis_cmdb_approval).
    With O(use_ip), C(ansible_host) is the host's first valid address.
  - "Groups: C(provider_<provider>), C(role_<role>) for every role, and C(production) or C(not_production);
    characters not allowed in group names become C(_) (role C(web-front) gives C(role_web_front)).
    O(compose), O(groups) and O(keyed_groups) add more, from the host variables above."
  - Values from the directory are never templated.
  - An entry whose C(cn) is not a hostname label (letters, digits and inner hyphens) cannot be a jarvis host
    (M(jarvis.deploy.ldap_host) refuses such names); it is skipped with a warning naming its DN, as is an address
    that is not an IP address for C(ansible_host).
  - A failure to reach the server, to bind or to search is an error that names the server and the LDAP result,
    never the password. Ansible reports a source that fails as a warning and goes on with the other sources;
    set E(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true) to stop instead.
  - "The configuration file must be named C(*ldap.yml) or C(*ldap.yaml) and say C(plugin: jarvis.deploy.ldap)."
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - ldap3
options:
  plugin:
    description: The name of this plugin; it makes the file a configuration of this plugin.
    type: str
    required: true
    choices: [jarvis.deploy.ldap]
  server_uri:
    description:
      - URI of the LDAP server, for example C(ldap://ldap.example.com:389).
    type: str
    env:
      - name: JARVIS_LDAP_URI
  bind_dn:
    description:
      - DN to bind as; anonymous when not set. Needs O(bind_pw).
    type: str
    env:
      - name: JARVIS_LDAP_BIND_DN
  bind_pw:
    description:
      - Password of O(bind_dn). Keep it out of the file (the environment variable), or vault-encrypt it
        (C(ansible-vault encrypt_string)) and give ansible the vault password.
    type: str
    secret: true
    env:
      - name: JARVIS_LDAP_BIND_PASSWORD
  hosts_dn:
    description:
      - DN whose children are the host entries, for example C(ou=Hosts,dc=websages,dc=com).
    type: str
    env:
      - name: JARVIS_LDAP_HOSTS_DN
  timeout:
    description: Seconds to wait for the server to connect and for each answer.
    type: int
    default: 10
  hostnames:
    description:
      - What names the hosts. V(cn) is the entry's C(cn), the short hostname, unique under O(hosts_dn) and the name
        jarvis's own deploy playbooks give the host, so C(host_vars/<name>.yml) files work for both.
      - V(fqdn) is C(jarvisFqdn); an entry without a valid one is named by its C(cn) (with a warning), and a second
        entry with the same fqdn is skipped (with a warning).
    type: str
    choices: [cn, fqdn]
    default: cn
  use_ip:
    description:
      - Set C(ansible_host) to the host's address from C(ipHostNumber) (the first valid one, in sorted order),
        so hosts are reached without DNS. Without it, ansible connects to the inventory name.
    type: bool
    default: true
"""

EXAMPLES = r"""
---
# inventory/ldap.yml - credentials from JARVIS_LDAP_URI, JARVIS_LDAP_BIND_DN, JARVIS_LDAP_BIND_PASSWORD,
# JARVIS_LDAP_HOSTS_DN; run: ansible-inventory -i inventory/ldap.yml --graph
plugin: jarvis.deploy.ldap
keyed_groups:
  # region_us_east_1, ...
  - key: jarvis_cmdb_region
    prefix: region
  # deployed_by_whitejs, ...
  - key: jarvis_cmdb_deployed_by
    prefix: deployed_by
groups:
  # hosts still on an old kernel
  old_kernel: jarvis_cmdb_kernel is not none and jarvis_cmdb_kernel is version('6.1', '<')
compose:
  ansible_user: "'root'"

---
# Everything in the file, the password vault-encrypted, hosts named by their fqdn, cached for an hour.
plugin: jarvis.deploy.ldap
server_uri: ldap://ldap.websages.com
bind_dn: cn=jarvis,ou=People,dc=websages,dc=com
bind_pw: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  6231...
hosts_dn: ou=Hosts,dc=websages,dc=com
hostnames: fqdn
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/jarvis-inventory
cache_timeout: 3600
"""

# ansible-test wants the imports below the documentation, ruff above: ansible-test wins.
import ipaddress
import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import HOSTNAME_RE, is_host_name
from ansible_collections.jarvis.deploy.plugins.module_utils._ldap import LdapClient, decode_host

CONFIG_SUFFIXES = ("ldap.yml", "ldap.yaml")
PLUGIN_LINE_RE = re.compile(r"""^plugin:\s*["']?([^"'\s#]+)["']?\s*(#.*)?$""")
RDN_RE = re.compile(r"^cn=((?:[^,\\]|\\.)*),", re.IGNORECASE)
VAR_PREFIX = "jarvis_cmdb_"


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "jarvis.deploy.ldap"

    def verify_file(self, path):
        """A readable *ldap.yml / *ldap.yaml whose top-level plugin key, if written on one line, names this plugin."""
        if not super().verify_file(path) or not path.endswith(CONFIG_SUFFIXES):
            return False
        try:
            with open(path, encoding="utf-8") as config:
                lines = config.read().splitlines()
        except (OSError, UnicodeDecodeError):
            return False
        for line in lines:
            match = PLUGIN_LINE_RE.match(line)
            if match:
                return match.group(1) == self.NAME
        # A flow-style document: _read_config_data checks the plugin key while parsing.
        return True

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        entries = self._entries(path, cache)
        strict = self.get_option("strict")
        seen = {}
        for dn, attributes in sorted(entries, key=lambda entry: entry[0].lower()):
            name = self._host_name(dn, attributes, seen)
            if name is not None:
                self._add_host(name, dn, attributes, strict)

    def _entries(self, path, cache):
        """[(dn, {attribute: [str]})] from the cache when allowed and filled, else from the server."""
        use_cache = self.get_option("cache")
        key = self.get_cache_key(path)
        if use_cache and cache:
            try:
                return list(self._cache[key])
            except KeyError:
                pass
        entries = self._search()
        if use_cache:
            self._cache[key] = [[dn, attributes] for dn, attributes in entries]
        return entries

    def _search(self):
        params = dict(
            server_uri=self._text_option("server_uri"),
            bind_dn=self._text_option("bind_dn"),
            bind_pw=self._text_option("bind_pw"),
            timeout=self.get_option("timeout"),
        )
        hosts_dn = self._text_option("hosts_dn")
        for option, variable, value in (
            ("server_uri", "JARVIS_LDAP_URI", params["server_uri"]),
            ("hosts_dn", "JARVIS_LDAP_HOSTS_DN", hosts_dn),
        ):
            if not value:
                raise AnsibleParserError(
                    f"{self.NAME}: set {option} in the inventory file or {variable} in the environment"
                )
        if bool(params["bind_dn"]) != bool(params["bind_pw"]):
            raise AnsibleParserError(
                f"{self.NAME}: bind_dn and bind_pw go together (JARVIS_LDAP_BIND_DN, JARVIS_LDAP_BIND_PASSWORD)"
            )
        client = LdapClient(params, _raise_parser_error)
        try:
            return client.host_entries(hosts_dn)
        finally:
            client.unbind()

    def _text_option(self, name):
        """The option as a plain str: a vault-encrypted value is decrypted here."""
        value = self.get_option(name)
        return None if value is None else str(value)

    def _host_name(self, dn, attributes, seen):
        """The inventory name of the entry DN, or None (with a warning) when it cannot be a host."""
        match = RDN_RE.match(dn)
        cn = match.group(1) if match else ""
        if not HOSTNAME_RE.match(cn):
            self.display.warning(f"{self.NAME}: skipping {_printable(dn)}: its cn is not a hostname label")
            return None
        name = cn.lower()
        if self.get_option("hostnames") == "fqdn":
            fqdn = (decode_host(attributes)["fqdn"] or "").lower().rstrip(".")
            if is_host_name(fqdn, fqdn=True):
                name = fqdn
            else:
                self.display.warning(f"{self.NAME}: {_printable(dn)} has no valid jarvisFqdn, named {name!r} by its cn")
        if name in seen:
            self.display.warning(
                f"{self.NAME}: skipping {_printable(dn)}: {_printable(seen[name])} is also named {name!r}"
            )
            return None
        seen[name] = dn
        return name

    def _add_host(self, name, dn, attributes, strict):
        facts = decode_host(attributes)
        self.inventory.add_host(name)
        for key, value in facts.items():
            self.inventory.set_variable(name, VAR_PREFIX + key, wrap_var(value))
        if self.get_option("use_ip"):
            address = _first_address(facts["ip"])
            if address is not None:
                self.inventory.set_variable(name, "ansible_host", address)
            elif facts["ip"]:
                self.display.warning(f"{self.NAME}: {_printable(dn)} has no valid IP address in ipHostNumber")

        groups = ["production" if facts["production"] else "not_production"]
        if facts["provider"]:
            groups.append("provider_" + facts["provider"].lower())
        groups.extend("role_" + role.lower() for role in facts["roles"])
        for group in groups:
            self.inventory.add_child(self.inventory.add_group(self._sanitize_group_name(group)), name)

        host_vars = self.inventory.get_host(name).get_vars()
        self._set_composite_vars(self.get_option("compose"), host_vars, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict=strict)


def _printable(dn):
    """DN for a warning: one line, no control characters, not endless."""
    text = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in dn)
    return text if len(text) <= 200 else text[:197] + "..."


def _first_address(values):
    for value in values:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            continue
    return None


def _raise_parser_error(msg, **kwargs):
    """LdapClient's failure for the inventory: a parse error of this source (the message has no password)."""
    raise AnsibleParserError(f"{InventoryModule.NAME}: {msg}") from None
