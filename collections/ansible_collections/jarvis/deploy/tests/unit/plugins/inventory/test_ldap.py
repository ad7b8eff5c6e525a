# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which files the jarvis.deploy.ldap inventory plugin takes as its configuration."""

from __future__ import annotations

import pytest
from ansible_collections.jarvis.deploy.plugins.inventory.ldap import InventoryModule


@pytest.mark.parametrize(
    ("name", "text", "taken"),
    [
        ("ldap.yml", "plugin: jarvis.deploy.ldap\n", True),
        ("cmdb_ldap.yaml", "---\n# the CMDB\nplugin: 'jarvis.deploy.ldap'  # ours\nhostnames: fqdn\n", True),
        ("flow_ldap.yml", "{plugin: jarvis.deploy.ldap}\n", True),
        ("hosts.yml", "plugin: jarvis.deploy.ldap\n", False),
        ("ldap.yml.bak", "plugin: jarvis.deploy.ldap\n", False),
        ("other_ldap.yml", "plugin: community.general.ldap\n", False),
    ],
)
def test_verify_file(tmp_path, name, text, taken):
    path = tmp_path / name
    path.write_text(text)
    assert InventoryModule().verify_file(str(path)) is taken


def test_a_missing_file_is_not_taken(tmp_path):
    assert InventoryModule().verify_file(str(tmp_path / "ldap.yml")) is False
