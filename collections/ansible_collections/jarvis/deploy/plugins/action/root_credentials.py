# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of jarvis.deploy.root_credentials: the password never leaves this process."""

from __future__ import annotations

import os
import secrets
import string
import subprocess

import yaml
from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.plugins.action import ActionBase
from ansible_collections.jarvis.deploy.plugins.module_utils._files import write_atomically
from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import is_host_name
from ansible_collections.jarvis.deploy.plugins.module_utils._root_credentials import ARGUMENT_SPEC

ALPHABET = string.ascii_letters + string.digits + "-_.,:+"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        name = args["name"].lower()
        if not is_host_name(name):
            return {**result, "failed": True, "msg": f"name must be a host name, got {name!r}"}
        if not 12 <= args["length"] <= 128:
            return {**result, "failed": True, "msg": "length must be between 12 and 128"}
        path = os.path.join(args["secrets_dir"], f"{name}.yml")
        result.update(changed=False, path=path, actions=[])
        if args["return_hash"]:
            result["password_hash"] = ""
        try:
            vault = VaultLib([("default", VaultSecret(_read_vault_password(args["vault_password_file"])))])
            if os.path.exists(path) and not args["rotate"]:
                with open(path, "rb") as handle:
                    stored = yaml.safe_load(vault.decrypt(handle.read()))
                result.update(_asked(args, stored["root_password"], stored["root_password_hash"]))
                return result
            verb = "rotate" if os.path.exists(path) else "create"
            result.update(changed=True, actions=[f"{verb} the root password of {name}, vault-encrypted in {path}"])
            if self._task.check_mode:
                result.update(_asked(args, "", ""))
                return result
            password = "".join(secrets.choice(ALPHABET) for dummy in range(args["length"]))
            password_hash = _sha512_crypt(password)
            document = yaml.safe_dump({"root_password": password, "root_password_hash": password_hash})
            _write_private(path, vault.encrypt(document))
            result.update(_asked(args, password, password_hash))
        except (OSError, AnsibleError, KeyError, TypeError, subprocess.CalledProcessError) as exc:
            # The message names the file and the kind of failure, never the secret.
            result.update(failed=True, msg=f"cannot keep the root password in {path}: {type(exc).__name__}")
            if isinstance(exc, OSError):
                result["msg"] += f" ({exc.strerror})"
        return result


def _asked(args, password, password_hash):
    """What the task asked to see of the secrets; a result holding the clear password is censored."""
    found = {}
    if args["return_hash"]:
        found["password_hash"] = password_hash
    if args["return_password"]:
        found["password"] = password
        if password:
            found["_ansible_no_log"] = True
    return found


def _read_vault_password(path: str) -> bytes:
    with open(path, "rb") as handle:
        password = handle.read().strip()
    if not password:
        raise AnsibleError("the vault password file is empty")
    return password


def _sha512_crypt(password: str) -> str:
    """SHA-512 crypt ($6$) through openssl: passlib is not a dependency and crypt is gone in 3.13."""
    completed = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()


def _write_private(path: str, data: bytes) -> None:
    """Write atomically, readable by the owner only, in a directory only the owner can enter."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_atomically(path, data, 0o600)
