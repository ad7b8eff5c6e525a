"""Session fixture for the EC2 tests: moto's EC2 whose instances become real podman hosts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sandbox import ec2

__all__ = ["ec2_sandbox"]


@pytest.fixture(scope="session")
def ec2_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ec2.Ec2Info]:
    """A sandbox EC2 with its own podman network and a unique container prefix, torn down afterwards."""
    state_dir = tmp_path_factory.mktemp("ec2")
    info = ec2.start(state_dir, prefix=f"jt{uuid.uuid4().hex[:6]}")
    try:
        yield info
    finally:
        ec2.stop(state_dir)
