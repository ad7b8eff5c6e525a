#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_instance
short_description: Launch, start, stop or terminate the one EC2 instance of a host
version_added: 0.1.0
author: jarvis developers (@jarvis)
description:
  - Makes sure the EC2 instance of one host exists and is running or stopped, or that it is gone.
  - The instance is found by its tag C(jarvis:host=<name>), which the module sets when it launches
    one (together with C(Name=<name>)). Terminated instances are ignored; several live instances
    with the same tag are an error.
  - Transient states (V(pending), V(stopping), V(shutting-down)) are waited out before the module
    decides anything, whatever O(wait) says.
  - An existing instance is never replaced or resized; if its image, type or subnet differ from the
    options, the module warns. Missing or different tags from O(tags) are added to it.
  - The owner mark is the tag C(jarvis:owner=<owner>), set on every instance launched with O(owner). An
    instance made by a jarvis older than owner marks carries C(jarvis:fqdn=<fqdn>) instead, which counts
    as its mark (and gets C(jarvis:owner) added).
  - With O(owner), a live instance named O(name) (tag C(Name)) that carries no C(jarvis:*) tag at all is
    the instance found when none is tagged C(jarvis:host=<name>). That is a host someone else runs under
    that name, refused unless O(adopt).
  - Talks to the EC2 API with boto3; O(endpoint_url) points it at an EC2-compatible service.
requirements:
  - boto3
extends_documentation_fragment:
  - jarvis.deploy._attributes
  - jarvis.deploy._attributes.in_process
  - jarvis.deploy._attributes.full
  - jarvis.deploy._owner
options:
  name:
    description:
      - The host the instance is for, for example C(loki). Identifies the instance through the tag
        C(jarvis:host) and becomes its C(Name) tag.
    type: str
    required: true
  state:
    description:
      - V(running) launches the instance if needed and starts it if it is stopped.
      - V(stopped) launches it if needed and stops it.
      - V(present) launches it if needed and leaves the power state of an existing one alone.
      - V(absent) terminates it.
    type: str
    choices: [present, running, stopped, absent]
    default: running
  image_id:
    description: The AMI to launch from, for example C(ami-0123456789abcdef0). Required to launch.
    type: str
  instance_type:
    description: The instance type to launch, for example C(t3.micro). Required to launch.
    type: str
  subnet_id:
    description: The VPC subnet to launch into. Without it, EC2 picks the default VPC.
    type: str
  security_group_ids:
    description: IDs of the security groups of a new instance.
    type: list
    elements: str
  key_name:
    description: The EC2 key pair whose public key may log in to a new instance.
    type: str
  user_data:
    description:
      - User data for a new instance, for example a C(#cloud-config) document, as plain text
        (the module encodes it).
    type: str
  tags:
    description:
      - Tags the instance must carry, besides C(Name), C(jarvis:host) and C(jarvis:owner) which the module sets.
      - Other tags already on the instance are left alone.
    type: dict
  wait:
    description:
      - Wait until a launched or started instance is V(running), a stopped one V(stopped) and a
        terminated one V(terminated).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds all waits of this task may take together, transient states included. It is one
        budget for the task, not a limit per wait.
    type: int
    default: 300
  aws_access_key:
    description:
      - AWS access key ID.
      - Falls back to the E(AWS_ACCESS_KEY_ID) environment variable, then to boto3's own lookup
        (profiles, instance roles).
    type: str
  aws_secret_key:
    description:
      - AWS secret access key.
      - Falls back to the E(AWS_SECRET_ACCESS_KEY) environment variable, then to boto3's own lookup.
    type: str
  endpoint_url:
    description:
      - URL of the EC2 API, for an EC2-compatible service or a local simulator.
      - Falls back to the E(AWS_ENDPOINT_URL) environment variable; by default AWS's endpoint of O(region).
    type: str
  region:
    description:
      - The AWS region, for example C(us-east-1).
      - Falls back to the E(AWS_REGION), then E(AWS_DEFAULT_REGION) environment variables.
    type: str
notes:
  - Only private and public addresses EC2 reports are returned; the module never connects to the instance.
"""

EXAMPLES = r"""
- name: Launch loki's instance and wait until it runs
  jarvis.deploy.ec2_instance:
    name: loki
    image_id: ami-0123456789abcdef0
    instance_type: t3.micro
    subnet_id: subnet-0123456789abcdef0
    security_group_ids: [sg-0123456789abcdef0]
    user_data: |
      #cloud-config
      hostname: loki
      ssh_authorized_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... jarvis
    tags:
      env: production
    region: us-east-1
  register: loki

- name: Launch db1's instance for db1.websages.com, or refuse a db1 that jarvis did not make for it
  jarvis.deploy.ec2_instance:
    name: db1
    owner: db1.websages.com
    image_id: ami-0123456789abcdef0
    instance_type: t3.micro

- name: Take over the db1 that someone else runs, on purpose (tags it jarvis:owner=db1.websages.com)
  jarvis.deploy.ec2_instance:
    name: db1
    owner: db1.websages.com
    adopt: true
    state: present

- name: Power it off for the night
  jarvis.deploy.ec2_instance:
    name: loki
    state: stopped

- name: Decommission it
  jarvis.deploy.ec2_instance:
    name: loki
    state: absent
    wait_timeout: 600
"""

RETURN = r"""
instance:
  description: The instance as it is afterwards (as it is now, in check mode); empty when there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The instance ID.
      type: str
      sample: i-0123456789abcdef0
    state:
      description: Its state, for example V(running) or V(stopped).
      type: str
      sample: running
    private_ip:
      description: Its private IPv4 address in the VPC.
      type: str
      sample: 10.201.1.4
    public_ip:
      description: Its public IPv4 address, if it has one.
      type: str
      sample: null
    image_id:
      description: The AMI it was launched from.
      type: str
      sample: ami-0123456789abcdef0
    instance_type:
      description: Its instance type.
      type: str
      sample: t3.micro
    subnet_id:
      description: The subnet it is in.
      type: str
      sample: subnet-0123456789abcdef0
    tags:
      description: All its tags.
      type: dict
      sample: {"Name": "loki", "jarvis:host": "loki", "jarvis:owner": "loki.websages.com", "env": "production"}
    owner:
      description:
        - The jarvis identity (fqdn) its owner mark names, or null when it carries none; several different
          marks are joined with C(, ).
        - From the tag C(jarvis:owner), else C(jarvis:fqdn).
      type: str
      sample: loki.websages.com
actions:
  description: What was done (or would be done in check mode), one human-readable line per step.
  returned: always
  type: list
  elements: str
  sample: ["launched instance i-0123456789abcdef0 (t3.micro, ami-0123456789abcdef0) for loki"]
diff:
  description: The instance's state, image, type, subnet, tags and owner mark before and after.
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: 'Before the task; C({"state": "absent"}) when there was no instance.'
      type: dict
    after:
      description: After the task (expected, in check mode).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.jarvis.deploy.plugins.module_utils._ec2 import STATES, run_ec2_instance
from ansible_collections.jarvis.deploy.plugins.module_utils._instance import OWNER_ARGUMENT_SPEC


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=list(STATES), default="running"),
            image_id=dict(type="str"),
            instance_type=dict(type="str"),
            subnet_id=dict(type="str"),
            security_group_ids=dict(type="list", elements="str"),
            key_name=dict(type="str", no_log=False),
            user_data=dict(type="str"),
            tags=dict(type="dict"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
            aws_access_key=dict(type="str", no_log=False, fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"])),
            aws_secret_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"])),
            endpoint_url=dict(type="str", fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
            region=dict(type="str", fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
            **OWNER_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    run_ec2_instance(module)


if __name__ == "__main__":
    main()
