"""Private to sandbox.linode: the JSON of a Linode, its addresses, disks and config profiles, as Linode shapes it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from sandbox.linode._answers import Json
from sandbox.linode._catalogue import BY_ID
from sandbox.linode._model import Linode, now

API_PREFIX = "/v4"
DEFAULT_KERNEL = "linode/latest-64bit"
_SWAP_MB = 512


def gateway(subnet: ipaddress.IPv4Network) -> str:
    """The Linodes' gateway: podman's, the first address of the sandbox's /24."""
    return str(subnet.network_address + 1)


def slaac(linode_id: int) -> str:
    """A made-up SLAAC address from a made-up MAC f2:3c:95:xx:yy:zz (EUI-64), as Linode's look."""
    low = linode_id & 0xFFFFFF
    eui = f"f03c:95ff:fe{low >> 16:02x}:{low & 0xFFFF:04x}"
    return str(ipaddress.IPv6Address(f"2600:3c02::{eui}"))


def deployment(
    linode_type: str, image: str, disk_ids: Iterator[int], config_ids: Iterator[int]
) -> tuple[list[Json], list[Json]]:
    """The disks (IMAGE's, then swap) and the config profile booting them that a deploy gives a Linode."""
    plan, label = BY_ID["types"][linode_type], BY_ID["images"][image]["label"]
    created = now()
    sizes = [
        {"label": f"{label} Disk", "size": plan["disk"] - _SWAP_MB, "filesystem": "ext4"},
        {"label": f"{_SWAP_MB} MB Swap Image", "size": _SWAP_MB, "filesystem": "swap"},
    ]
    disks = [{"id": next(disk_ids), "status": "ready", "created": created, "updated": created, **d} for d in sizes]
    config = {
        "id": next(config_ids),
        "label": f"My {label} Disk Profile",
        "comments": "",
        "kernel": DEFAULT_KERNEL,
        "memory_limit": 0,
        "root_device": "/dev/sda",
        "run_level": "default",
        "virt_mode": "paravirt",
        "helpers": {
            "updatedb_disabled": True,
            "distro": True,
            "modules_dep": True,
            "network": True,
            "devtmpfs_automount": True,
        },
        "devices": {"sda": {"disk_id": disks[0]["id"]}, "sdb": {"disk_id": disks[1]["id"]}},
        "interfaces": [],
    }
    return disks, [config]


def linode_json(linode: Linode) -> Json:
    plan = BY_ID["types"][linode.type]
    return {
        "id": linode.id,
        "label": linode.label,
        "group": linode.group,
        "status": linode.status,
        "created": linode.created,
        "updated": linode.updated,
        "type": linode.type,
        "region": linode.region,
        "image": linode.image,
        "ipv4": [linode.ipv4],
        "ipv6": f"{linode.ipv6}/128",
        "hypervisor": "kvm",
        "specs": {key: plan[key] for key in ("disk", "memory", "vcpus", "gpus", "transfer")},
        "alerts": {
            "cpu": 90 * plan["vcpus"],
            "io": 10000,
            "network_in": 10,
            "network_out": 10,
            "transfer_quota": 80,
        },
        "backups": {"enabled": False, "available": False, "schedule": {"day": None, "window": None}},
        "tags": list(linode.tags),
        "host_uuid": linode.host_uuid,
        "watchdog_enabled": linode.watchdog_enabled,
        "has_user_data": False,
        "lke_cluster_id": None,
        "placement_group": None,
        "capabilities": [],
    }


def ips_json(linode: Linode, subnet: ipaddress.IPv4Network) -> Json:
    """LINODE's addresses: its public IPv4 in SUBNET, and its IPv6 SLAAC and link-local addresses."""
    public = {
        "address": linode.ipv4,
        "gateway": gateway(subnet),
        "subnet_mask": str(subnet.netmask),
        "prefix": subnet.prefixlen,
        "type": "ipv4",
        "public": True,
        "rdns": f"{linode.ipv4.replace('.', '-')}.ip.linodeusercontent.com",
        "linode_id": linode.id,
        "region": linode.region,
    }
    link_local = "fe80::" + linode.ipv6.split("::", 1)[1]

    def ipv6(address: str, public: bool) -> Json:
        return {
            "address": address,
            "gateway": "fe80::1",
            "subnet_mask": "ffff:ffff:ffff:ffff::",
            "prefix": 64,
            "type": "ipv6",
            "public": public,
            "linode_id": linode.id,
            "region": linode.region,
        }

    return {
        "ipv4": {"public": [public], "private": [], "shared": [], "reserved": [], "vpc": []},
        "ipv6": {"slaac": ipv6(linode.ipv6, True), "link_local": ipv6(link_local, False), "global": []},
    }
