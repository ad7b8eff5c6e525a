"""Session fixture for the vSphere tests: govmomi's vCenter simulator whose VMs become real podman hosts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sandbox import vsphere

__all__ = ["vsphere_sandbox"]


@pytest.fixture(scope="session")
def vsphere_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vsphere.VsphereInfo]:
    """A sandbox vCenter with its own podman network and a unique container prefix, torn down afterwards."""
    state_dir = tmp_path_factory.mktemp("vsphere")
    info = vsphere.start(state_dir, prefix=f"jv{uuid.uuid4().hex[:6]}")
    try:
        yield info
    finally:
        vsphere.stop(state_dir)
