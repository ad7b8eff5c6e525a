# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Root's SSH key pair, made by ssh-keygen on the host itself, behind jarvis.deploy.root_keypair.

The private key never leaves the host: only ssh-keygen reads it (through a private copy beside it when
its mode is too loose for ssh-keygen), and only public halves, fingerprints and modes make the result.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import tempfile

from ansible_collections.jarvis.deploy.plugins.module_utils._files import existing, read_text, write_atomically
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import PublicKey, fingerprint, key_blob

DIRECTORY_MODE = 0o700
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


class KeypairError(Exception):
    """A failure whose message names the file or command; it never carries key material."""


def default_path(key_type):
    """Where ssh-keygen puts root's key of KEY_TYPE: ~root/.ssh/id_<type>."""
    try:
        home = pwd.getpwuid(0).pw_dir
    except KeyError:
        home = "/root"
    return os.path.join(home, ".ssh", f"id_{key_type}")


def default_comment():
    return f"root@{socket.getfqdn()}"


class Keygen:
    """The host's ssh-keygen, each call failing with its stderr and never with key material."""

    def __init__(self, module):
        self.module = module
        self.binary = module.get_bin_path("ssh-keygen")
        if self.binary is None:
            raise KeypairError("ssh-keygen is not installed on the host: install the openssh-client package")

    def run(self, args, what):
        # No expansion: a comment may hold a $ or a ~ of its own.
        rc, out, err = self.module.run_command([self.binary, *args], expand_user_and_vars=False)
        if rc != 0:
            raise KeypairError(f"{what} failed: {(err or out).strip() or f'ssh-keygen exit code {rc}'}")
        return out

    def public_from_private(self, path):
        """The public key line ssh-keygen derives from the private key at PATH (no passphrase allowed)."""
        out = self.run(["-y", "-P", "", "-f", path], f"reading the key pair at {path}")
        return out.strip()

    def generate(self, path, key_type, comment, bits):
        """A new key pair at PATH and PATH.pub, made in a private directory beside them and renamed in."""
        directory = os.path.dirname(path)
        staging = tempfile.mkdtemp(prefix=".keygen-", dir=directory)
        try:
            new = os.path.join(staging, "key")
            args = ["-q", "-t", key_type, "-N", "", "-C", comment, "-f", new]
            if key_type == "rsa":
                args += ["-b", str(bits)]
            self.run(args, f"generating an {key_type} key pair for {path}")
            os.chmod(new, PRIVATE_MODE)
            os.chmod(new + ".pub", PUBLIC_MODE)
            os.replace(new, path)
            os.replace(new + ".pub", path + ".pub")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def set_comment(self, path, comment):
        self.run(["-c", "-P", "", "-C", comment, "-f", path], f"changing the comment of {path}")


class KeypairTask:
    """One run of the module: look at the files, decide, then act unless in check mode."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.key_type = params["type"]
        self.path = params["path"] or default_path(self.key_type)
        self.public_path = self.path + ".pub"
        self.comment = params["comment"] or default_comment()
        self.rotate = params["rotate"]
        self.bits = params["bits"]
        self.actions = []
        self.keygen = Keygen(module)

    def _act(self, done, planned):
        self.actions.append(f"would {planned}" if self.module.check_mode else done)

    def current(self):
        """The key pair at the path now, as {public_key, stale_public}; None when there is no private key.

        The public key is the one ssh-keygen derives from the private key, with the comment of the .pub
        file; stale_public says the .pub file is missing or holds another key. Changes nothing.
        """
        if not os.path.lexists(self.path):
            return None
        if not os.path.isfile(self.path):
            raise KeypairError(f"{self.path} exists but is not a file")
        derived = PublicKey.from_line(self._derive_public())
        on_disk = PublicKey.from_line(read_public(self.public_path))
        stale = on_disk[:2] != derived[:2]
        return {"public_key": (derived if stale else on_disk).line(), "stale_public": stale}

    def _derive_public(self):
        """The public key of the private key, even one whose loose mode makes ssh-keygen refuse to load it.

        Such a key is read through a 0600 copy in a private directory beside it, removed at once, so that
        looking (and check mode) never changes the key's own mode.
        """
        if (file_mode(self.path) or 0) & 0o077 == 0:
            return self.keygen.public_from_private(self.path)
        staging = tempfile.mkdtemp(prefix=".keygen-", dir=os.path.dirname(self.path))
        try:
            copy = os.path.join(staging, "key")
            shutil.copyfile(self.path, copy)
            os.chmod(copy, PRIVATE_MODE)
            return self.keygen.public_from_private(copy).replace(copy, self.path)
        except OSError as exc:
            raise KeypairError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def run(self):
        before = self.current()
        self._ensure_directory()
        self._ensure_mode(self.path, PRIVATE_MODE, "private key")
        if before is None or self.rotate:
            self._generate(before)
        else:
            self._converge(before)
        self._ensure_mode(self.public_path, PUBLIC_MODE, "public key")
        if self.module.check_mode:
            after = None if before is None or self.rotate else self._predicted(before)
        else:
            after = self.current()
        return before, after

    def _ensure_directory(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            self._act(f"created directory {directory} (mode 0700)", f"create directory {directory} (mode 0700)")
            if not self.module.check_mode:
                try:
                    os.makedirs(directory, mode=DIRECTORY_MODE)
                except OSError as exc:
                    raise KeypairError(f"cannot create {directory}: {exc.strerror or exc}") from None
        elif os.path.basename(directory) == ".ssh":
            self._ensure_mode(directory, DIRECTORY_MODE, "directory")

    def _generate(self, before):
        if before is None:
            what = f"an {self.key_type} key pair at {self.path}"
            self._act(f"generated {what}", f"generate {what}")
        else:
            what = f"the key pair at {self.path} with a new {self.key_type} key pair"
            self._act(f"replaced {what}", f"replace {what}")
        if not self.module.check_mode:
            self.keygen.generate(self.path, self.key_type, self.comment, self.bits)

    def _converge(self, before):
        """Keep the existing key: mend a missing or stale .pub and update the comment, never the key."""
        have_type = PublicKey.from_line(before["public_key"]).kind
        if have_type != self.key_type:
            raise KeypairError(
                f"{self.path} holds an {have_type} key, not {self.key_type}: set rotate to replace it,"
                " or give another path"
            )
        if before["stale_public"]:
            self._act(
                f"rewrote {self.public_path} from the private key", f"rewrite {self.public_path} from the private key"
            )
            if not self.module.check_mode:
                write_public(self.public_path, before["public_key"])
        if PublicKey.from_line(before["public_key"]).comment != self.comment:
            what = f"the comment of {self.path} to {self.comment}"
            self._act(f"changed {what}", f"change {what}")
            if not self.module.check_mode:
                self.keygen.set_comment(self.path, self.comment)

    def _predicted(self, before):
        key = PublicKey.from_line(before["public_key"])._replace(comment=self.comment)
        return {"public_key": key.line(), "stale_public": False}

    def _ensure_mode(self, path, mode, label):
        have = file_mode(path)
        if have is None or have == mode:
            return
        what = f"mode {mode:04o} on {label} {path} (was {have:04o})"
        self._act(f"set {what}", f"set {what}")
        if not self.module.check_mode:
            os.chmod(path, mode)


def read_public(path):
    """The public key line in PATH, or "" when there is none."""
    try:
        return read_text(path).strip()
    except OSError as exc:
        raise KeypairError(f"cannot read {path}: {exc.strerror or exc}") from None


def write_public(path, line):
    """Replace PATH with LINE through a temporary file and a rename."""
    write_atomically(path, line + "\n", PUBLIC_MODE)


def file_mode(path):
    current = existing(path)
    return stat.S_IMODE(current.st_mode) if current is not None else None


def _summary(path, state):
    if state is None:
        return {"path": path, "public_key": "", "fingerprint": ""}
    blob = key_blob(PublicKey.from_line(state["public_key"]).data)
    return {"path": path, "public_key": state["public_key"], "fingerprint": fingerprint(blob)}


def run_root_keypair(module):
    """Entry point of the module: exit_json with the result, or fail_json naming what failed."""
    task = None
    try:
        task = KeypairTask(module)
        before, after = task.run()
    except KeypairError as exc:
        done = task.actions if task and not module.check_mode else []
        module.fail_json(msg=str(exc), changed=bool(done), actions=done)
    summary = _summary(task.path, after)
    result = {"changed": bool(task.actions), "actions": task.actions, **summary}
    if module._diff:
        predicted = (
            summary if after is not None else {**summary, "public_key": "(a new key)", "fingerprint": "(a new key)"}
        )
        result["diff"] = {"before": _summary(task.path, before), "after": predicted}
    module.exit_json(**result)
