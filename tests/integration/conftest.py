from tests.integration.fixtures_dns import *  # noqa: F403
from tests.integration.fixtures_ec2 import *  # noqa: F403
from tests.integration.fixtures_irc import *  # noqa: F403
from tests.integration.fixtures_ldap import *  # noqa: F403
from tests.integration.fixtures_linode import *  # noqa: F403
from tests.integration.fixtures_vsphere import *  # noqa: F403
from tests.integration.fixtures_world import *  # noqa: F403
from tests.integration.fixtures_xmpp import *  # noqa: F403
