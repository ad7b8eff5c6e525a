# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec of root_credentials, shared by its module stub and its action plugin."""

from __future__ import annotations

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    secrets_dir=dict(type="path", required=True),
    vault_password_file=dict(type="path", required=True, no_log=False),
    rotate=dict(type="bool", default=False),
    length=dict(type="int", default=24, no_log=False),
    return_hash=dict(type="bool", default=True, no_log=False),
    return_password=dict(type="bool", default=False, no_log=False),
)
