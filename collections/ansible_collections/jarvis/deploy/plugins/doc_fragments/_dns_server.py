# Private to this collection: the server and TSIG key options of the DNS modules.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Matches dns_server_argument_spec() in plugins/module_utils/_dns.py.
    DOCUMENTATION = r"""
options:
  server:
    description:
      - Address or host name of the authoritative DNS server that serves the zone and accepts the updates.
      - Falls back to the E(JARVIS_DNS_SERVER) environment variable.
    type: str
    required: true
  port:
    description:
      - TCP port of O(server).
      - Falls back to the E(JARVIS_DNS_PORT) environment variable.
    type: int
    default: 53
  key_name:
    description:
      - Name of the TSIG key that signs queries, zone transfers and updates. Without it, messages are sent unsigned.
      - Falls back to the E(JARVIS_TSIG_KEY_NAME) environment variable.
    type: str
  key_secret:
    description:
      - Base64 secret of the TSIG key O(key_name).
      - Falls back to the E(JARVIS_TSIG_SECRET) environment variable.
    type: str
  key_algorithm:
    description:
      - HMAC algorithm of the TSIG key.
      - Falls back to the E(JARVIS_TSIG_ALGORITHM) environment variable.
    type: str
    default: hmac-sha256
    choices: [hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
  timeout:
    description: Seconds to wait for each answer of the server.
    type: int
    default: 10
notes:
  - The server is spoken to directly over TCP; no recursive resolver is involved.
"""
