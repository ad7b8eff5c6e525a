# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jarvis.deploy.dns_record runs in the controller's worker process when its task runs on the controller."""

from __future__ import annotations

from ansible_collections.jarvis.deploy.plugins.modules import dns_record
from ansible_collections.jarvis.deploy.plugins.plugin_utils._in_process import InProcessModule


class ActionModule(InProcessModule):
    MODULE = dns_record
