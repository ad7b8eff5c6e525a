"""Where the jarvis.deploy collection lives, and access to the helpers it shares with us (the design
rules; the CMDB's connection and decoder).

The orchestrator drives the collection (one-way door: orchestrator → collection); the design
rules live in the collection so that plain ``ansible-playbook`` and AWX apply exactly the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS_PATH = REPO / "collections"
COLLECTION_PATH = COLLECTIONS_PATH / "ansible_collections" / "jarvis" / "deploy"
PLAYBOOKS_PATH = REPO / "playbooks"

if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.append(str(COLLECTIONS_PATH))

from ansible_collections.jarvis.deploy.plugins.module_utils import _design as design_rules  # noqa: E402
from ansible_collections.jarvis.deploy.plugins.module_utils import _ldap as cmdb_rules  # noqa: E402

__all__ = ["COLLECTIONS_PATH", "COLLECTION_PATH", "PLAYBOOKS_PATH", "REPO", "cmdb_rules", "design_rules"]
