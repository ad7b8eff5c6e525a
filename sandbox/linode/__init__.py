"""Linode for the sandbox: a stateful Linode API v4 emulator whose Linodes become real podman hosts.

No public Linode simulator exists, so this is one. ``start()`` runs ``python -m sandbox.linode`` as a
daemon: an HTTP server on 127.0.0.1 answering the part of API v4 that jarvis uses (instances and their
boot, shutdown, reboot and rebuild actions, configs, disks, IPs, events, and the regions, types, kernels
and images catalogues) in the shapes of Linode's official OpenAPI spec, which
``tests/integration/test_linode_spec.py`` checks every answer against.

Lifecycles take time like the real thing (``provisioning`` → ``booting`` → ``running`` and so on). A
booted Linode is a container PREFIX-<id> at the Linode's IPv4, taken from the sandbox's own /24 and
reported as its public address; shutting it down stops the container, deleting it removes it, and a
rebuild replaces it (fresh disk, new host keys). Every image plays the sandbox's Debian 12 host image.
The IPv6 SLAAC addresses are made up and routed nowhere: never send traffic to them.

Inside: ``_daemon`` starts and stops it and is its main(); ``_app`` routes Linode's paths (on werkzeug) to
``_api``, the state and operations, which use ``_checks`` (request bodies), ``_query`` (X-Filter and pages),
``_shapes`` (the JSON of a Linode), ``_events``, ``_lifecycle`` (phases and their podman work) and
``_catalogue`` (``catalogue.yaml``).
"""

from sandbox.linode._api import Api
from sandbox.linode._catalogue import IMAGES, KERNELS, REGIONS, TYPES
from sandbox.linode._daemon import LinodeInfo, main, start, stop
from sandbox.linode._lifecycle import DEFAULT_DELAY, TRANSIENT_STATUSES
from sandbox.linode._shapes import DEFAULT_KERNEL

__all__ = [
    "DEFAULT_KERNEL",
    "DEFAULT_DELAY",
    "IMAGES",
    "KERNELS",
    "REGIONS",
    "TRANSIENT_STATUSES",
    "TYPES",
    "Api",
    "LinodeInfo",
    "main",
    "start",
    "stop",
]
