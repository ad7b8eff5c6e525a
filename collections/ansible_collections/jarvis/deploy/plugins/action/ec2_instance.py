# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jarvis.deploy.ec2_instance runs in the controller's worker process when its task runs on the controller."""

from __future__ import annotations

from ansible_collections.jarvis.deploy.plugins.module_utils._ec2 import prepare
from ansible_collections.jarvis.deploy.plugins.modules import ec2_instance
from ansible_collections.jarvis.deploy.plugins.plugin_utils._in_process import InProcessModule

prepare()  # in the strategy's process, so that every worker forked after it finds the EC2 model loaded


class ActionModule(InProcessModule):
    MODULE = ec2_instance
