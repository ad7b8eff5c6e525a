# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Owner marks: how each provider's instance module reads, sets and checks the jarvis identity of an instance."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.jarvis.deploy.plugins.module_utils import _ec2, _linode, _vsphere
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import (
    InstanceTaskBase,
    OwnerRefused,
    owner_identity,
)

OWNER = "db1.websages.com"


class Module:
    """The little of AnsibleModule the instance tasks read."""

    def __init__(self, check_mode=False, **params):
        self.check_mode = check_mode
        self._diff = False
        self.params = {"wait_timeout": 300, "owner": None, "adopt": False, **params}
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


# --- what every provider shares ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "identity"),
    [(OWNER, OWNER), ("DB1.WebSages.com.", OWNER), (" db1.websages.com ", OWNER), ("", None), (None, None)],
)
def test_an_identity_is_the_fqdn_in_lower_case_without_the_final_dot(given, identity):
    assert owner_identity(given) == identity


def test_without_an_owner_nothing_is_checked():
    task = InstanceTaskBase(Module())
    assert task.claim({"id": "i-1", "owner": None}, "instance i-1") is False
    assert task.actions == []


@pytest.mark.parametrize("mark", [OWNER, "DB1.websages.com"])
def test_an_instance_marked_for_the_owner_is_ours(mark):
    task = InstanceTaskBase(Module(owner=mark))
    assert task.claim({"id": "i-1", "owner": OWNER}, "instance i-1") is False
    assert task.claim({}, "nothing") is False


@pytest.mark.parametrize(
    ("mark", "says"),
    [(None, "carries no jarvis owner mark"), ("db1.example.org", "carries the owner mark of db1.example.org")],
)
def test_an_instance_marked_for_nobody_or_another_host_is_refused(mark, says):
    task = InstanceTaskBase(Module(owner=OWNER))
    found = {"id": "i-0abc", "owner": mark}
    with pytest.raises(OwnerRefused) as refused:
        task.claim(found, "instance i-0abc (Name=db1)")
    assert str(refused.value) == (
        f"instance i-0abc (Name=db1) {says}: jarvis did not create it for {OWNER}; adopt: true takes it over"
    )
    assert refused.value.instance is found
    assert (task.actions, task.changed) == ([], False)


@pytest.mark.parametrize(("check_mode", "verb"), [(False, "adopted"), (True, "adopt")])
def test_adopting_says_what_the_instance_carried(check_mode, verb):
    task = InstanceTaskBase(Module(check_mode=check_mode, owner=OWNER, adopt=True))
    assert task.claim({"id": "i-0abc", "owner": None}, "instance i-0abc (Name=db1)") is True
    assert task.actions == [f"{verb} instance i-0abc (Name=db1) (no owner mark) for {OWNER}"]
    assert task.changed is True


# --- EC2: the tag jarvis:owner, jarvis:fqdn before it ----------------------------------------------


@pytest.mark.parametrize(
    ("tags", "mark"),
    [
        ({"jarvis:owner": OWNER, "jarvis:fqdn": "old.websages.com"}, OWNER),
        ({"jarvis:fqdn": "DB1.websages.com."}, OWNER),  # made by a jarvis older than owner marks
        ({"Name": "db1"}, None),
        ({}, None),
    ],
)
def test_ec2_reads_its_mark_from_jarvis_owner_else_jarvis_fqdn(tags, mark):
    assert _ec2.owner_mark(tags) == mark


def ec2_instance(instance_id, tags, state="running"):
    return {
        "InstanceId": instance_id,
        "State": {"Name": state},
        "PrivateIpAddress": "10.201.1.4",
        "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "t3.micro",
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }


class FakeEc2(_ec2.Ec2):
    """Ec2 over a list of instances instead of boto3: describe filters by tag and state, writes are recorded."""

    def __init__(self, instances):  # no boto3 client
        self.instances = instances
        self.calls = []

    def _describe(self, what, Filters=None, InstanceIds=None):
        found = []
        for instance in self.instances:
            tags = _ec2.tag_dict(instance)
            if InstanceIds is not None and instance["InstanceId"] not in InstanceIds:
                continue
            ok = True
            for item in Filters or []:
                if item["Name"] == "instance-state-name":
                    ok &= instance["State"]["Name"] in item["Values"]
                else:
                    ok &= tags.get(item["Name"][len("tag:") :]) in item["Values"]
            if ok:
                found.append(instance)
        return found

    def call(self, what, method, **kwargs):
        self.calls.append((method, kwargs))
        if method == "create_tags":
            for instance in self.instances:
                if instance["InstanceId"] in kwargs["Resources"]:
                    tags = {**_ec2.tag_dict(instance), **{t["Key"]: t["Value"] for t in kwargs["Tags"]}}
                    instance["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return {}


def ec2_task(ec2, state="running", check_mode=False, **params):
    module = Module(check_mode=check_mode, name="db1", state=state, tags=None, wait=True, **params)
    for option in ("image_id", "instance_type", "subnet_id", "security_group_ids", "key_name", "user_data"):
        module.params.setdefault(option, None)
    return _ec2.InstanceTask(module, ec2)


@pytest.mark.parametrize(("state", "check_mode"), [("running", False), ("absent", True), ("absent", False)])
def test_ec2_refuses_a_host_someone_else_runs_under_the_name(state, check_mode):
    ec2 = FakeEc2([ec2_instance("i-0abc", {"Name": "db1"})])
    with pytest.raises(OwnerRefused) as refused:
        ec2_task(ec2, state=state, check_mode=check_mode, owner=OWNER).run()
    assert str(refused.value).startswith("instance i-0abc (Name=db1) carries no jarvis owner mark")
    assert refused.value.instance["id"] == "i-0abc" and refused.value.instance["owner"] is None
    assert ec2.calls == [], "nothing was changed"


def test_ec2_without_an_owner_keeps_looking_by_jarvis_host_only():
    ec2 = FakeEc2([ec2_instance("i-0abc", {"Name": "db1"})])
    assert ec2.find("db1") is None
    assert ec2.find("db1", unmarked_too=True)["InstanceId"] == "i-0abc"


def test_ec2_an_instance_named_alike_with_jarvis_tags_is_not_a_stranger():
    ec2 = FakeEc2([ec2_instance("i-0abc", {"Name": "db1", "jarvis:host": "db1x"})])
    assert ec2.find("db1", unmarked_too=True) is None


def test_ec2_several_strangers_by_one_name_are_named():
    ec2 = FakeEc2([ec2_instance("i-0b", {"Name": "db1"}), ec2_instance("i-0a", {"Name": "db1"})])
    with pytest.raises(_ec2.Ec2Error, match="are named db1 and carry no jarvis tags: i-0a, i-0b"):
        ec2.find("db1", unmarked_too=True)


def test_ec2_adopting_tags_the_instance_for_its_owner():
    ec2 = FakeEc2([ec2_instance("i-0abc", {"Name": "db1", "env": "theirs"})])
    result = ec2_task(ec2, owner=OWNER, adopt=True).run()
    assert result["changed"] is True
    assert result["actions"][0] == f"adopted instance i-0abc (Name=db1) (no owner mark) for {OWNER}"
    assert result["instance"]["owner"] == OWNER
    assert result["instance"]["tags"] == {"Name": "db1", "env": "theirs", "jarvis:host": "db1", "jarvis:owner": OWNER}
    again = ec2_task(ec2, owner=OWNER).run()
    assert (again["changed"], again["actions"]) == (False, [])


def test_ec2_an_instance_of_an_older_jarvis_gets_jarvis_owner_added():
    ec2 = FakeEc2([ec2_instance("i-0abc", {"Name": "db1", "jarvis:host": "db1", "jarvis:fqdn": OWNER})])
    result = ec2_task(ec2, owner=OWNER).run()
    assert result["actions"] == [f"tagged instance i-0abc: jarvis:owner={OWNER}"]


def test_ec2_another_hosts_instance_by_the_same_hostname_is_refused():
    ec2 = FakeEc2([ec2_instance("i-0abc", {"Name": "db1", "jarvis:host": "db1", "jarvis:owner": "db1.example.org"})])
    with pytest.raises(OwnerRefused, match="carries the owner mark of db1.example.org"):
        ec2_task(ec2, owner=OWNER).run()


# --- Linode: the tag jarvis-owner:<fqdn>, hashed past 50 characters -------------------------------


def test_linode_marks_a_short_fqdn_as_it_is():
    assert _linode.owner_tag(OWNER) == "jarvis-owner:db1.websages.com"


def test_linode_hashes_an_fqdn_too_long_for_a_tag():
    fqdn = "a-rather-long-hostname.of-a-department.websages.com"
    tag = _linode.owner_tag(fqdn)
    assert len(tag) == 50
    assert tag == "jarvis-owner:sha256:" + hashlib.sha256(fqdn.encode()).hexdigest()[:30]
    assert len(_linode.owner_tag("x" * 37)) == 50 and ":sha256:" not in _linode.owner_tag("x" * 37)
    assert ":sha256:" in _linode.owner_tag("x" * 38)


@pytest.mark.parametrize(
    ("tags", "owner", "mark"),
    [
        (["web", "jarvis-owner:db1.websages.com"], None, OWNER),
        (["Jarvis-Owner:DB1.websages.com"], None, OWNER),
        (["web"], OWNER, None),
        ([_linode.owner_tag("x" * 40 + ".com")], "x" * 40 + ".com", "x" * 40 + ".com"),
        ([_linode.owner_tag("x" * 40 + ".com")], None, _linode.owner_tag("x" * 40 + ".com")[13:]),
        (["jarvis-owner:a.example.org", "jarvis-owner:b.example.org"], "a.example.org", "a.example.org, b.example.org"),
    ],
)
def test_linode_reads_plain_hashed_and_several_marks(tags, owner, mark):
    assert _linode.owner_mark(tags, owner) == mark


def test_linode_with_an_owner_keeps_exactly_one_owner_tag():
    task = _linode.InstanceTask(Module(label="db1", owner=OWNER, tags=["web", "jarvis-owner:evil.example.org"]), None)
    wanted = task._wanted_tags(["jarvis-owner:db1.example.org", "theirs"])
    assert wanted == ["jarvis-owner:db1.websages.com", "theirs", "web"]
    plain = _linode.InstanceTask(Module(label="db1", tags=["web"]), None)
    assert plain._wanted_tags(["jarvis-owner:db1.example.org"]) == ["jarvis-owner:db1.example.org", "web"]


# --- vSphere: a jarvis-owner line in the VM's notes -----------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "mark"),
    [
        ("jarvis-owner: db1.websages.com", OWNER),
        ("Runs the billing database.\nJARVIS-OWNER:DB1.websages.com.\n", OWNER),
        ("Runs the billing database.", None),
        ("", None),
        (None, None),
        ("jarvis-owner: b.websages.com\njarvis-owner: a.websages.com", "a.websages.com, b.websages.com"),
    ],
)
def test_vsphere_reads_the_jarvis_owner_line_of_the_notes(annotation, mark):
    assert _vsphere.owner_mark(annotation) == mark


def test_vsphere_marking_keeps_the_rest_of_the_notes():
    notes = "Runs the billing database.\njarvis-owner: db1.example.org\nAsk Sam first."
    marked = _vsphere.marked_annotation(notes, OWNER)
    assert marked == "Runs the billing database.\nAsk Sam first.\njarvis-owner: db1.websages.com"
    assert _vsphere.owner_mark(marked) == OWNER
    assert _vsphere.marked_annotation(None, OWNER) == "jarvis-owner: db1.websages.com"
