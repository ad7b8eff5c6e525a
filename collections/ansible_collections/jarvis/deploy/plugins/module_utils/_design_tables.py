# Private to this collection: the providers a design may name and the tables that map its names to theirs.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provider mapping tables of the design format: data only, read by _design."""

from __future__ import annotations

import re

# Providers jarvis knows, with the names a design may use for them (matched case-insensitively).
PROVIDER_ALIASES = {
    "ec2": ("ec2", "aws", "amazon", "amazon ec2"),
    "linode": ("linode",),
    "vsphere": ("vsphere", "esx", "esxi", "vmware", "vcenter"),
}

# Design names of images, regions and sizes per provider. Keys are compared lower-cased; values
# are what the provider's API takes. Users extend or override them with ``mappings`` in their
# config (see docs/design.md). EC2 AMI ids differ per region and account, so EC2 images come
# from config only; a raw ``ami-…`` id is always accepted.
DEFAULT_MAPPINGS: dict[str, dict[str, dict[str, str]]] = {
    "ec2": {
        "images": {},
        "regions": {
            "atlanta": "us-east-1",
            "newark": "us-east-1",
            "dallas": "us-east-2",
            "fremont": "us-west-1",
            "london": "eu-west-2",
            "frankfurt": "eu-central-1",
            "singapore": "ap-southeast-1",
            "tokyo": "ap-northeast-1",
        },
        "sizes": {
            "512": "t3.nano",
            "1024": "t3.micro",
            "2048": "t3.small",
            "4096": "t3.medium",
            "8192": "t3.large",
        },
    },
    "linode": {
        "images": {
            "debian 6": "linode/debian12",
            "debian 11": "linode/debian11",
            "debian 12": "linode/debian12",
            "debian-12": "linode/debian12",
        },
        "regions": {
            "atlanta": "us-southeast",
            "newark": "us-east",
            "dallas": "us-central",
            "fremont": "us-west",
            "london": "eu-west",
            "frankfurt": "eu-central",
            "singapore": "ap-south",
            "tokyo": "ap-northeast",
        },
        "sizes": {
            "512": "g6-nanode-1",
            "1024": "g6-nanode-1",
            "2048": "g6-standard-1",
            "4096": "g6-standard-2",
            "8192": "g6-standard-4",
        },
    },
    # vSphere: images are templates, regions datacenters, sizes "<cpus>x<memory MB>".
    "vsphere": {
        "images": {},
        "regions": {},
        "sizes": {"512": "1x512", "1024": "1x1024", "2048": "2x2048", "4096": "2x4096", "8192": "4x8192"},
    },
}

# What a provider's API accepts verbatim, so a design may name it directly.
RAW_IDS = {
    "ec2": {
        "images": re.compile(r"^ami-[0-9a-f]{8,17}$"),
        "regions": re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$"),
        "sizes": re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"),
    },
    "linode": {
        "images": re.compile(r"^(linode|private)/[a-z0-9._-]+$"),
        "regions": re.compile(r"^[a-z]{2}-[a-z]+(-\d)?$"),
        "sizes": re.compile(r"^g\d-[a-z]+-\d+$"),
    },
    "vsphere": {
        "images": re.compile(r"^[A-Za-z0-9._/ -]{1,80}$"),
        "regions": re.compile(r"^[A-Za-z0-9._/ -]{1,80}$"),
        "sizes": re.compile(r"^\d{1,3}x\d{3,7}$"),
    },
}
