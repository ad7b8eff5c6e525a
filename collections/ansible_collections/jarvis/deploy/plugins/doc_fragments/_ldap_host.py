# Private to this collection: the options of the LDAP modules that name a host's CMDB entry and its server.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Matches ldap_host_argument_spec() in plugins/module_utils/_ldap.py.
    DOCUMENTATION = r"""
requirements:
  - ldap3
options:
  name:
    description:
      - The short hostname, the entry's C(cn), for example C(loki).
      - Must be a hostname label (letters, digits and inner hyphens, at most 63 characters);
        anything else is refused before the LDAP server is contacted.
    type: str
    required: true
  server_uri:
    description:
      - URI of the LDAP server, for example C(ldap://ldap.example.com:389).
      - Taken from E(JARVIS_LDAP_URI) when not given.
    type: str
    required: true
  bind_dn:
    description:
      - DN to bind as; anonymous when neither this nor E(JARVIS_LDAP_BIND_DN) is set.
      - Needs O(bind_pw).
    type: str
  bind_pw:
    description:
      - Password of O(bind_dn). Taken from E(JARVIS_LDAP_BIND_PASSWORD) when not given.
    type: str
  hosts_dn:
    description:
      - DN under which the host entries live, for example C(ou=Hosts,dc=websages,dc=com).
      - Taken from E(JARVIS_LDAP_HOSTS_DN) when not given.
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for the server to connect and for each answer.
    type: int
    default: 10
"""
