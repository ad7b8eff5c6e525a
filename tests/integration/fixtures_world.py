"""The whole sandbox for the orchestrator tests, and a jarvis config pointed at it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.config import Config, load_config
from sandbox import world as sandbox_world

__all__ = ["jarvis_config", "jarvis_env", "world"]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """slapd, named, moto EC2 and its podman hosts, up for the whole session."""
    state_dir = tmp_path_factory.mktemp("sandbox")
    try:
        yield sandbox_world.up(state_dir)
    finally:
        sandbox_world.down(state_dir)


@pytest.fixture(scope="session")
def jarvis_env(world: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a jarvis process using the sandbox, with its own home."""
    home = tmp_path_factory.mktemp("jarvis-home")
    config = yaml.safe_load(Path(world["config"]).read_text())
    config_path = tmp_path_factory.mktemp("jarvis-etc") / "config.yml"  # outside the scanned home
    config_path.touch(mode=0o600)
    config_path.write_text(yaml.safe_dump(config))
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "JARVIS_HOME": str(home),
        "JARVIS_CONFIG": str(config_path),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }


@pytest.fixture(scope="session")
def jarvis_config(jarvis_env: dict[str, str]) -> Config:
    config = load_config(jarvis_env["JARVIS_CONFIG"])
    config.home = Path(jarvis_env["JARVIS_HOME"])
    # ansible-runner looks ansible-playbook up on PATH: the one beside this interpreter.
    os.environ["PATH"] = jarvis_env["PATH"]
    return config
