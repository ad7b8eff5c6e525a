# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 instances found by their jarvis:host tag, behind the jarvis.deploy.ec2_instance module.

The owner mark is the tag jarvis:owner=<fqdn>; instances made by a jarvis older than owner marks carry
jarvis:fqdn=<fqdn> instead, which counts as their mark.
"""

from __future__ import annotations

import contextlib
import traceback

from ansible_collections.jarvis.deploy.plugins.module_utils._hostnames import owner_identity
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import InstanceTaskBase, poll, run_instance_task

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )
    from botocore.parsers import ResponseParserError
except ImportError:
    BOTO3_IMPORT_ERROR = traceback.format_exc()
else:
    BOTO3_IMPORT_ERROR = None

HOST_TAG = "jarvis:host"
OWNER_TAG = "jarvis:owner"
LEGACY_OWNER_TAG = "jarvis:fqdn"  # the role's tag, set before owner marks existed
STATES = ("present", "running", "stopped", "absent")
LIVE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
# What each transient state settles into: never a final answer, always waited out.
SETTLES_INTO = {"pending": "running", "stopping": "stopped", "shutting-down": "terminated"}
# verb: (the state it leads to, -ing form, past form)
_POWER = {"start": ("running", "starting", "started"), "stop": ("stopped", "stopping", "stopped")}


def prepare():
    """Load what every EC2 client of this process shares (service model, endpoint rules) once, ahead of time.

    The controller's action plugin calls it when Ansible's strategy loads the action, before forking the
    workers that run the tasks: each worker then builds its client from what is loaded (tens of ms) instead
    of parsing the EC2 model again (about half a second of CPU per task). No request is sent.
    """
    if BOTO3_IMPORT_ERROR is not None:
        return
    with contextlib.suppress(Exception):  # only a head start: the task itself reports what is wrong
        boto3.client("ec2", region_name="us-east-1", aws_access_key_id="prepare", aws_secret_access_key="prepare")


class Ec2Error(Exception):
    """A failure whose message is safe to show: it names the call and AWS's error, never a secret."""


class Ec2:
    """An EC2 client whose every call fails with an Ec2Error naming what was attempted."""

    def __init__(self, region, endpoint_url=None, access_key=None, secret_key=None):
        if not region:
            raise Ec2Error("no AWS region: set region (or AWS_REGION / AWS_DEFAULT_REGION)")
        self.region = region
        self.endpoint_url = endpoint_url
        try:
            self._client = boto3.client(
                "ec2",
                region_name=region,
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                config=Config(
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=60,
                    user_agent_extra="jarvis.deploy.ec2_instance",
                ),
            )
        except PartialCredentialsError:
            raise Ec2Error(
                "incomplete AWS credentials: give both aws_access_key and aws_secret_key "
                "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            ) from None
        except NoRegionError:
            raise Ec2Error("no AWS region: set region (or AWS_REGION / AWS_DEFAULT_REGION)") from None
        except (BotoCoreError, ValueError) as exc:
            raise Ec2Error(f"cannot set up an EC2 client for region {region}: {exc}") from None

    def call(self, what, method, **kwargs):
        """Call the EC2 API METHOD; WHAT says in words what it was for, in case it fails."""
        try:
            return getattr(self._client, method)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Unknown")
            raise Ec2Error(f"{what} failed: {code}: {error.get('Message', 'no message')}") from None
        except NoCredentialsError:
            raise Ec2Error(
                f"{what} failed: no AWS credentials: set aws_access_key and aws_secret_key "
                "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            ) from None
        except EndpointConnectionError:
            where = self.endpoint_url or f"the EC2 endpoint of region {self.region}"
            raise Ec2Error(f"{what} failed: cannot connect to {where}") from None
        except BotoCoreError as exc:
            raise Ec2Error(f"{what} failed: {exc}") from None
        except ResponseParserError:
            where = self.endpoint_url or f"the EC2 endpoint of region {self.region}"
            raise Ec2Error(f"{what} failed: {where} did not answer like EC2 (unparsable response)") from None

    def find(self, name, unmarked_too=False):
        """The live instance tagged jarvis:host=NAME, or None; terminated ones do not count.

        UNMARKED_TOO: without one, the live instance named NAME (tag Name) that carries no jarvis:* tag
        at all: a host someone else runs under that name.
        """
        found = self._describe(f"looking up the instance of {name}", Filters=self._live(HOST_TAG, name))
        if len(found) > 1:
            ids = ", ".join(sorted(i["InstanceId"] for i in found))
            raise Ec2Error(
                f"several live instances carry the tag {HOST_TAG}={name}: {ids}; "
                "terminate the extra ones or fix their tags"
            )
        if found or not unmarked_too:
            return found[0] if found else None
        named = self._describe(f"looking up instances named {name}", Filters=self._live("Name", name))
        unmarked = [i for i in named if not any(key.startswith("jarvis:") for key in tag_dict(i))]
        if len(unmarked) > 1:
            ids = ", ".join(sorted(i["InstanceId"] for i in unmarked))
            raise Ec2Error(
                f"several live instances are named {name} and carry no jarvis tags: {ids}; none of them "
                "was created by jarvis: rename or terminate all but one before adopting it"
            )
        return unmarked[0] if unmarked else None

    @staticmethod
    def _live(tag, value):
        return [
            {"Name": f"tag:{tag}", "Values": [value]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]

    def get(self, instance_id):
        """The instance INSTANCE_ID, or None while EC2 does not (yet, or any more) know it."""
        try:
            found = self._describe(f"reading instance {instance_id}", InstanceIds=[instance_id])
        except Ec2Error as exc:
            if "InvalidInstanceID.NotFound" in str(exc):
                return None
            raise
        return found[0] if found else None

    def _describe(self, what, **kwargs):
        instances = []
        token = None
        while True:
            page = self.call(what, "describe_instances", **kwargs, **({"NextToken": token} if token else {}))
            for reservation in page.get("Reservations", []):
                instances.extend(reservation.get("Instances", []))
            token = page.get("NextToken")
            if not token:
                return instances

    def wait(self, instance_id, target, budget):
        """Poll until the instance is in TARGET state, within what is left of BUDGET; return it."""
        last = {"state": "unknown"}

        def attempt():
            instance = self.get(instance_id)
            if instance is None:
                return target == "terminated", None
            last["state"] = instance["State"]["Name"]
            if last["state"] == target:
                return True, instance
            if last["state"] not in SETTLES_INTO and last["state"] != "pending":
                raise Ec2Error(f"instance {instance_id} became {last['state']} while waiting for it to be {target}")
            return False, None

        def expired():
            return Ec2Error(
                f"instance {instance_id} is still {last['state']}, not {target}, after wait_timeout "
                f"({budget.seconds}s for the whole task)"
            )

        return poll(budget, attempt, expired)

    def settle(self, instance, budget):
        """Wait out a transient state (pending, stopping, shutting-down); None once it is terminated."""
        state = instance["State"]["Name"]
        if state not in SETTLES_INTO:
            return instance
        return self.wait(instance["InstanceId"], SETTLES_INTO[state], budget)


def tag_dict(instance):
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags") or []}


def owner_mark(tags):
    """The jarvis identity an instance's tags mark it as made for: jarvis:owner, else jarvis:fqdn; or None."""
    return owner_identity(tags.get(OWNER_TAG)) or owner_identity(tags.get(LEGACY_OWNER_TAG))


def described(instance):
    """How a refusal names an instance: its ID and Name tag."""
    name = tag_dict(instance).get("Name")
    return f"instance {instance['InstanceId']}" + (f" (Name={name})" if name else " (no Name tag)")


def summary(instance):
    """What the module returns about an instance; {} when there is none."""
    if not instance:
        return {}
    tags = tag_dict(instance)
    return {
        "id": instance["InstanceId"],
        "state": instance["State"]["Name"],
        "private_ip": instance.get("PrivateIpAddress"),
        "public_ip": instance.get("PublicIpAddress"),
        "image_id": instance.get("ImageId"),
        "instance_type": instance.get("InstanceType"),
        "subnet_id": instance.get("SubnetId"),
        "tags": tags,
        "owner": owner_mark(tags),
    }


class InstanceTask(InstanceTaskBase):
    """One run of ec2_instance: look up, settle, compare with what is wanted, then act (or not)."""

    def __init__(self, module, ec2):
        super().__init__(module)
        self.ec2 = ec2
        self.name = self.params["name"]

    def wanted_tags(self):
        tags = {str(key): str(value) for key, value in (self.params["tags"] or {}).items()}
        tags.update({"Name": self.name, HOST_TAG: self.name})
        if self.owner:
            tags[OWNER_TAG] = self.owner
        return tags

    def look_up(self):
        current = self.ec2.find(self.name, unmarked_too=bool(self.owner))
        if current is not None:
            current = self.ec2.settle(current, self.budget)
        return current, summary(current)

    def named(self, current, before):
        return described(current)

    def predicted_new(self, state):
        return {
            "state": "stopped" if state == "stopped" else "running",
            "image_id": self.params["image_id"],
            "instance_type": self.params["instance_type"],
            "subnet_id": self.params["subnet_id"],
            "tags": self.wanted_tags(),
            "owner": self.owner,
        }

    def predicted_change(self, before, state):
        predicted = dict(before, tags={**before["tags"], **self.wanted_tags()})
        predicted["owner"] = owner_mark(predicted["tags"])
        if state in ("running", "stopped"):
            predicted["state"] = state
        return predicted

    def ensure_absent(self, current, before):
        if current is None:
            return {}
        instance_id = current["InstanceId"]
        self._act(
            f"terminated instance {instance_id} of {self.name}",
            f"terminate instance {instance_id} of {self.name}",
        )
        if self.module.check_mode:
            return summary(current)
        self.ec2.call(f"terminating instance {instance_id}", "terminate_instances", InstanceIds=[instance_id])
        if self.params["wait"]:
            self.ec2.wait(instance_id, "terminated", self.budget)
        return {}

    def create(self, state):
        missing = [option for option in ("image_id", "instance_type") if not self.params[option]]
        if missing:
            raise Ec2Error(f"no instance of {self.name} exists; launching one needs {' and '.join(missing)}")
        image, size = self.params["image_id"], self.params["instance_type"]
        if self.module.check_mode:
            planned = f"launch a {size} instance of {image} for {self.name}"
            self._act(planned, planned)
            if state == "stopped":
                self._act(planned, f"stop the new instance of {self.name}")
            return {}
        request = {
            "ImageId": image,
            "InstanceType": size,
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in self.wanted_tags().items()],
                }
            ],
        }
        optional = {
            "SubnetId": self.params["subnet_id"],
            "SecurityGroupIds": self.params["security_group_ids"],
            "KeyName": self.params["key_name"],
            "UserData": self.params["user_data"],
        }
        request.update({key: value for key, value in optional.items() if value})
        launched = self.ec2.call(f"launching an instance of {self.name}", "run_instances", **request)
        instance = launched["Instances"][0]
        instance_id = instance["InstanceId"]
        done = f"launched instance {instance_id} ({size}, {image}) for {self.name}"
        self._act(done, done)
        if state == "stopped":
            # EC2 only stops a running instance, so this wait is needed whatever `wait` says.
            self.ec2.wait(instance_id, "running", self.budget)
            instance = self._power(instance_id, "stop")
        elif self.params["wait"]:
            instance = self.ec2.wait(instance_id, "running", self.budget)
        return summary(self.ec2.get(instance_id) or instance)

    def converge(self, current, before, state):
        instance_id = current["InstanceId"]
        self._warn_on_drift(current)
        have_tags = tag_dict(current)
        new_tags = {key: value for key, value in self.wanted_tags().items() if have_tags.get(key) != value}
        if new_tags:
            listed = ", ".join(f"{key}={value}" for key, value in sorted(new_tags.items()))
            self._act(f"tagged instance {instance_id}: {listed}", f"tag instance {instance_id}: {listed}")
            if not self.module.check_mode:
                self.ec2.call(
                    f"tagging instance {instance_id}",
                    "create_tags",
                    Resources=[instance_id],
                    Tags=[{"Key": key, "Value": value} for key, value in new_tags.items()],
                )
        power = current["State"]["Name"]
        if state == "running" and power == "stopped":
            return self._power(instance_id, "start", current)
        if state == "stopped" and power == "running":
            return self._power(instance_id, "stop", current)
        if self.module.check_mode or not new_tags:
            return summary(current)
        return summary(self.ec2.get(instance_id) or current)

    def _power(self, instance_id, verb, current=None):
        """Start or stop INSTANCE_ID and, if asked to, wait until it is running or stopped."""
        target, doing, done = _POWER[verb]
        self._act(f"{done} instance {instance_id} of {self.name}", f"{verb} instance {instance_id} of {self.name}")
        if self.module.check_mode:
            return summary(current)
        self.ec2.call(f"{doing} instance {instance_id}", f"{verb}_instances", InstanceIds=[instance_id])
        if self.params["wait"]:
            return summary(self.ec2.wait(instance_id, target, self.budget))
        return summary(self.ec2.get(instance_id) or current)

    def _warn_on_drift(self, current):
        """Say when the existing instance differs in what this module cannot change in place."""
        for option, key in (
            ("image_id", "ImageId"),
            ("instance_type", "InstanceType"),
            ("subnet_id", "SubnetId"),
        ):
            wanted = self.params[option]
            if wanted and current.get(key) != wanted:
                self.module.warn(
                    f"instance {current['InstanceId']} of {self.name} has {option} {current.get(key)}, not "
                    f"{wanted}; ec2_instance does not replace or resize existing instances"
                )


def run_ec2_instance(module):
    """Entry point of the module: exit_json with the result, or fail_json with a safe message."""
    run_instance_task(module, "boto3", BOTO3_IMPORT_ERROR, Ec2Error, connect, InstanceTask)


def connect(params):
    """The Ec2 client the options ask for; an empty environment variable counts as unset (boto3 looks then)."""
    region, endpoint_url, access_key, secret_key = (
        params[key] or None for key in ("region", "endpoint_url", "aws_access_key", "aws_secret_key")
    )
    return Ec2(region or boto3.session.Session().region_name, endpoint_url, access_key, secret_key)
