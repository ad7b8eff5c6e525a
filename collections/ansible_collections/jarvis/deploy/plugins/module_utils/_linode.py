# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linodes found by their label, behind the jarvis.deploy.linode_instance module.

The owner mark is the tag ``jarvis-owner:<fqdn>``. Linode tags hold 3 to 50 characters, so an fqdn longer
than 37 is marked ``jarvis-owner:sha256:<the first 30 hex digits of SHA-256 of the fqdn>`` instead (an
fqdn has no colon, so the two forms cannot be confused).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import traceback

from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import owner_identity
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import InstanceTaskBase, poll, run_instance_task
from ansible_collections.jarvis.deploy.plugins.module_utils._public_keys import KEY_TYPES

try:
    import requests
    from linode_api4 import ApiError, Instance, LinodeClient
    from linode_api4.errors import UnexpectedResponseError
except ImportError:
    LINODE_API4_IMPORT_ERROR = traceback.format_exc()
else:
    LINODE_API4_IMPORT_ERROR = None

DEFAULT_API_URL = "https://api.linode.com/v4"
STATES = ("present", "running", "stopped", "absent")
# Statuses that settle into another by themselves: never a final answer, always waited out.
TRANSIENT = frozenset(
    (
        "provisioning",
        "booting",
        "rebooting",
        "shutting_down",
        "rebuilding",
        "migrating",
        "cloning",
        "restoring",
        "resizing",
        "busy",
        "deleting",
    )
)
# What each settled status means for the power of the Linode.
POWER = {"running": "running", "offline": "offline", "stopped": "offline"}
OWNER_TAG_PREFIX = "jarvis-owner:"
HASHED_OWNER_PREFIX = "sha256:"
MAX_TAG_LENGTH = 50  # Linode's limit on a tag (3 to 50 characters)
# What linode_api4 reads as a key when an authorized_keys entry starts with it (not the sk- types): it opens
# any other entry as a file on the controller.
LINODE_KEY_TYPES = tuple(key_type for key_type in KEY_TYPES if not key_type.startswith("sk-"))
REQUEST_TIMEOUT = (10, 60)  # connect, read: linode_api4 sets none, so a stuck API would hang the task


class LinodeError(Exception):
    """A failure whose message is safe to show: it names the call and the API's own error, never a secret."""


def api_error_message(exc):
    """'Linode API: field: reason; reason' from an ApiError, with the API's own words."""
    errors = (exc.json or {}).get("errors") if isinstance(exc.json, dict) else None
    if not errors:
        return f"Linode API: HTTP {exc.status}"
    parts = []
    for error in errors:
        reason = error.get("reason") or "no reason given"
        parts.append(f"{error['field']}: {reason}" if error.get("field") else reason)
    return "Linode API: " + "; ".join(parts)


class Linode:
    """A linode_api4 client whose every call fails with a LinodeError naming what was attempted."""

    def __init__(self, token, api_url):
        if not token:
            raise LinodeError("no Linode API token: set api_token (or LINODE_API_TOKEN / LINODE_TOKEN)")
        self.api_url = api_url
        self.client = LinodeClient(
            token,
            base_url=api_url,
            user_agent="jarvis.deploy.linode_instance",
            retry_max=3,
            retry_rate_limit_interval=1.0,
        )
        send = self.client.session.request

        def request_with_timeout(method, url, **kwargs):
            kwargs.setdefault("timeout", REQUEST_TIMEOUT)
            return send(method, url, **kwargs)

        self.client.session.request = request_with_timeout

    def call(self, what, func, *args, **kwargs):
        """Call FUNC; WHAT says in words what it was for, in case it fails."""
        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            raise LinodeError(f"{what} failed: {api_error_message(exc)}") from None
        except requests.exceptions.ConnectionError:
            raise LinodeError(f"{what} failed: cannot connect to {self.api_url}") from None
        except requests.exceptions.Timeout:
            raise LinodeError(f"{what} failed: {self.api_url} did not answer in time") from None
        except requests.exceptions.RequestException as exc:
            raise LinodeError(f"{what} failed: {type(exc).__name__} talking to {self.api_url}") from None
        except (UnexpectedResponseError, ValueError, KeyError, TypeError):
            raise LinodeError(f"{what} failed: {self.api_url} did not answer like the Linode API") from None

    def find(self, label):
        """The Linode labelled LABEL, or None (labels are unique in an account)."""
        found = self.call(
            f"looking up the Linode {label}",
            lambda: [i for i in self.client.linode.instances(Instance.label == label) if i.label == label],
        )
        if len(found) > 1:
            raise LinodeError(f"several Linodes are labelled {label}: {', '.join(str(i.id) for i in found)}")
        return found[0] if found else None

    def get(self, linode_id):
        """The Linode LINODE_ID freshly read, or None once the API no longer knows it."""

        def load():
            try:
                return self.client.load(Instance, linode_id)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise

        return self.call(f"reading Linode {linode_id}", load)

    def config(self, instance):
        """The config profile the Linode boots from (its first), or None if it has none."""
        configs = self.call(f"reading the config profiles of Linode {instance.id}", lambda: list(instance.configs))
        return min(configs, key=lambda c: c.id) if configs else None

    def wait(self, linode_id, budget, until, wanted):
        """Poll Linode LINODE_ID until UNTIL(instance or None) holds, within what is left of BUDGET."""
        last = {}

        def attempt():
            last["instance"] = instance = self.get(linode_id)
            return until(instance), instance

        def expired():
            status = last["instance"].status if last["instance"] is not None else "gone"
            return LinodeError(
                f"Linode {linode_id} is still {status}, not {wanted}, after wait_timeout "
                f"({budget.seconds}s for the whole task)"
            )

        return poll(budget, attempt, expired)

    def settle(self, linode_id, budget):
        """Wait out a transient status; the settled Linode, or None if it went away meanwhile."""
        return self.wait(
            linode_id, budget, lambda i: i is None or i.status not in TRANSIENT, "settled (running or offline)"
        )


def random_root_password():
    """A strong password nobody is told: without root_pass, only the authorized keys log in."""
    alphabet = string.ascii_letters + string.digits + "-_.,:+"
    head = [secrets.choice(s) for s in (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_.")]
    return "".join(head + [secrets.choice(alphabet) for dummy in range(28)])


def owner_tag(owner):
    """The tag that marks a Linode as made by jarvis for OWNER (an fqdn), within Linode's 50 characters."""
    tag = OWNER_TAG_PREFIX + owner
    if len(tag) <= MAX_TAG_LENGTH:
        return tag
    digits = MAX_TAG_LENGTH - len(OWNER_TAG_PREFIX) - len(HASHED_OWNER_PREFIX)
    return OWNER_TAG_PREFIX + HASHED_OWNER_PREFIX + hashlib.sha256(owner.encode()).hexdigest()[:digits]


def is_owner_tag(tag):
    return tag.lower().startswith(OWNER_TAG_PREFIX)


def owner_mark(tags, owner=None):
    """Whom TAGS mark a Linode as made for: OWNER when its (maybe hashed) tag is there, else the one mark
    (an fqdn, or ``sha256:…`` that cannot be read back), several marks joined with ", ", or None."""
    marks = sorted(set(tag for tag in tags if is_owner_tag(tag)))
    if owner and marks == [owner_tag(owner)]:
        return owner
    found = [owner_identity(tag[len(OWNER_TAG_PREFIX) :]) or "" for tag in marks]
    return ", ".join(found) or None


def summary(linode, instance, config, owner=None):
    """What the module returns about a Linode; {} when there is none. OWNER reads a hashed mark back."""
    if instance is None:
        return {}
    ips = linode.call(f"reading the addresses of Linode {instance.id}", lambda: instance.ips)
    public = [ip.address for ip in ips.ipv4.public]
    private = [ip.address for ip in ips.ipv4.private]
    return {
        "id": instance.id,
        "label": instance.label,
        "state": instance.status,
        "private_ip": private[0] if private else None,
        "public_ip": public[0] if public else None,
        "ipv6": instance.ipv6.split("/")[0] if instance.ipv6 else None,
        "region": instance.region.id,
        "type": instance.type.id,
        "image": instance.image.id if instance.image else None,
        "kernel": config.kernel.id if config is not None and config.kernel else None,
        "config_id": config.id if config is not None else None,
        "tags": sorted(instance.tags or []),
        "owner": owner_mark(instance.tags or [], owner),
    }


class InstanceTask(InstanceTaskBase):
    """One run of linode_instance: look up, settle, compare with what is wanted, then act (or not)."""

    NOT_IN_DIFF = (*InstanceTaskBase.NOT_IN_DIFF, "label", "ipv6", "config_id")

    def __init__(self, module, linode):
        super().__init__(module)
        self.linode = linode
        self.label = self.params["label"]

    def look_up(self):
        self._check_keys()
        current = self.linode.find(self.label)
        if current is not None and current.status in TRANSIENT:
            current = self.linode.settle(current.id, self.budget)
        return current, self._describe(current)

    def named(self, current, before):
        return f"Linode {before['id']} (label {self.label})"

    def _check_keys(self):
        """Refuse what is no public key: linode_api4 would read such an entry as a path on the controller."""
        for number, key in enumerate(self.params["authorized_keys"] or [], start=1):
            if not key.strip().startswith(LINODE_KEY_TYPES) or "\n" in key.strip():
                raise LinodeError(f"authorized_keys entry {number} is not one SSH public key (ssh-ed25519 AAAA...)")

    def _describe(self, instance):
        if instance is None:
            return {}
        return summary(self.linode, instance, self.linode.config(instance), self.owner)

    def _fresh(self, linode_id):
        return self._describe(self.linode.get(linode_id))

    def _wanted_tags(self, have=()):
        """HAVE plus the tags option; with an owner, its mark is the only owner tag (others are dropped)."""
        wanted = set(have) | set(self.params["tags"] or [])
        if self.owner:
            wanted = set(tag for tag in wanted if not is_owner_tag(tag)) | {owner_tag(self.owner)}
        return sorted(wanted)

    def predicted_new(self, state):
        return {
            "state": "offline" if state == "stopped" else "running",
            "region": self.params["region"],
            "type": self.params["type"],
            "image": self.params["image"],
            "kernel": self.params["kernel"],
            "tags": self._wanted_tags(),
            "owner": self.owner,
        }

    def predicted_change(self, before, state):
        predicted = dict(before, tags=self._wanted_tags(before["tags"]))
        predicted["owner"] = owner_mark(predicted["tags"], self.owner)
        if state in ("running", "stopped"):
            predicted["state"] = "running" if state == "running" else "offline"
        if self.params["rebuild"]:
            predicted["image"] = self.params["image"]
        if self.params["kernel"]:
            predicted["kernel"] = self.params["kernel"]
        return predicted

    # --- absent

    def ensure_absent(self, current, before):
        if current is None:
            return {}
        linode_id = current.id
        self._act(f"deleted Linode {linode_id} of {self.label}", f"delete Linode {linode_id} of {self.label}")
        if self.module.check_mode:
            return before
        self.linode.call(f"deleting Linode {linode_id}", current.delete)
        if self.params["wait"]:
            self.linode.wait(linode_id, self.budget, lambda i: i is None, "deleted")
        return {}

    # --- create

    def create(self, state):
        missing = [option for option in ("region", "type", "image") if not self.params[option]]
        if missing:
            raise LinodeError(f"no Linode {self.label} exists; creating one needs {', '.join(missing)}")
        region, plan, image, kernel = (self.params[key] for key in ("region", "type", "image", "kernel"))
        if self.module.check_mode:
            planned = f"create a {plan} Linode of {image} in {region} for {self.label}"
            self._act(planned, planned)
            if kernel:
                self._act(planned, f"set the kernel of the new Linode to {kernel}")
            return {}
        # With a kernel to set, the Linode is created offline and booted once its config has it.
        booted = state != "stopped" and not kernel
        instance = self.linode.call(
            f"creating a Linode for {self.label}",
            self.linode.client.linode.instance_create,
            plan,
            region,
            image=image,
            label=self.label,
            root_pass=self.params["root_pass"] or random_root_password(),
            authorized_keys=self.params["authorized_keys"] or None,
            tags=self._wanted_tags() or None,
            booted=booted,
        )
        linode_id = instance.id
        done = f"created Linode {linode_id} ({plan}, {image}) in {region} for {self.label}"
        self._act(done, done)
        if kernel:
            self._set_kernel(instance, power="offline", wanted_power="offline")
            if state != "stopped":
                self.linode.settle(linode_id, self.budget)  # provisioning first, whatever `wait` says
                self._power(linode_id, "boot")
        if self.params["wait"]:
            self.linode.settle(linode_id, self.budget)
        return self._fresh(linode_id)

    # --- converge an existing Linode

    def converge(self, current, before, state):
        linode_id = current.id
        self._warn_on_drift(before)
        power = POWER.get(current.status)
        if power is None:
            raise LinodeError(f"Linode {linode_id} of {self.label} is {current.status}; cannot manage it")
        wanted_power = {"running": "running", "stopped": "offline"}.get(state, power)
        self._ensure_tags(current, before)
        if self.params["rebuild"]:
            power = self._rebuild(current, wanted_power)
        if self.params["kernel"]:
            power = self._set_kernel(current, power, wanted_power)
        if wanted_power == "running" and power == "offline":
            self._power(linode_id, "boot")
        elif wanted_power == "offline" and power == "running":
            self._power(linode_id, "shutdown")
        if self.module.check_mode:
            return before
        if self.params["wait"]:
            self.linode.settle(linode_id, self.budget)
        return self._fresh(linode_id) if self.changed else before

    def _ensure_tags(self, current, before):
        wanted = self._wanted_tags(before["tags"])
        if wanted == sorted(before["tags"]):
            return
        added = sorted(set(wanted) - set(before["tags"]))
        dropped = sorted(set(before["tags"]) - set(wanted))
        listed = ", ".join(added + [f"removed {tag}" for tag in dropped])
        self._act(f"tagged Linode {current.id}: {listed}", f"tag Linode {current.id}: {listed}")
        if not self.module.check_mode:
            current.tags = wanted
            self.linode.call(f"tagging Linode {current.id}", current.save)

    def _rebuild(self, current, wanted_power):
        """Rebuild from image (new disk, new host keys); return the power it is left in."""
        image = self.params["image"]
        self._act(
            f"rebuilt Linode {current.id} of {self.label} from {image}",
            f"rebuild Linode {current.id} of {self.label} from {image}",
        )
        if self.module.check_mode:
            return wanted_power
        # With a kernel to set, it stays offline until its new config has it.
        booted = wanted_power == "running" and not self.params["kernel"]
        self.linode.call(
            f"rebuilding Linode {current.id}",
            current.rebuild,
            image,
            root_pass=self.params["root_pass"] or random_root_password(),
            authorized_keys=self.params["authorized_keys"] or None,
            booted=booted,
        )
        self.linode.settle(current.id, self.budget)  # the next steps need it settled, whatever `wait` says
        return "running" if booted else "offline"

    def _set_kernel(self, instance, power, wanted_power):
        """Give the Linode's config profile the wanted kernel; reboot a running one so it takes effect."""
        kernel = self.params["kernel"]
        config = self.linode.config(instance)
        if config is None:
            raise LinodeError(f"Linode {instance.id} of {self.label} has no config profile to set the kernel of")
        if config.kernel is not None and config.kernel.id == kernel:
            return power
        step = f"set the kernel of Linode {instance.id} of {self.label} to {kernel}"
        self._act(step, step)
        if not self.module.check_mode:
            config.kernel = kernel
            self.linode.call(f"setting the kernel of Linode {instance.id}", config.save)
        if power == "running" and wanted_power == "running":
            self._act(
                f"rebooted Linode {instance.id} of {self.label} so kernel {kernel} takes effect",
                f"reboot Linode {instance.id} of {self.label} so kernel {kernel} takes effect",
            )
            if not self.module.check_mode:
                self.linode.settle(instance.id, self.budget)
                self.linode.call(f"rebooting Linode {instance.id}", Instance(self.linode.client, instance.id).reboot)
        return power

    def _power(self, linode_id, verb):
        """Boot or shut down the Linode; waiting is left to the caller."""
        done, doing = {"boot": ("booted", "booting"), "shutdown": ("shut down", "shutting down")}[verb]
        planned = "boot" if verb == "boot" else "shut down"
        self._act(f"{done} Linode {linode_id} of {self.label}", f"{planned} Linode {linode_id} of {self.label}")
        if self.module.check_mode:
            return
        self.linode.call(f"{doing} Linode {linode_id}", getattr(Instance(self.linode.client, linode_id), verb))

    def _warn_on_drift(self, before):
        """Say when the existing Linode differs in what this module does not change in place."""
        for option in ("region", "type", "image"):
            wanted = self.params[option]
            if option == "image" and self.params["rebuild"]:
                continue
            if wanted and before.get(option) != wanted:
                hint = "; rebuild: true redeploys it from the image" if option == "image" else ""
                self.module.warn(
                    f"Linode {before['id']} of {self.label} has {option} {before.get(option)}, not {wanted}; "
                    f"linode_instance does not move, resize or redeploy existing Linodes{hint}"
                )


def run_linode_instance(module):
    """Entry point of the module: exit_json with the result, or fail_json with a safe message."""
    run_instance_task(module, "linode_api4", LINODE_API4_IMPORT_ERROR, LinodeError, connect, InstanceTask)


def connect(params):
    return Linode(params["api_token"], (params["api_url"] or DEFAULT_API_URL).rstrip("/"))
