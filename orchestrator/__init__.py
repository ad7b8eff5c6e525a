"""jarvis's orchestrator: designs in, deployments run through ansible-runner, status out.

The bot and the CLI use this package; it drives the ``jarvis.deploy`` collection and never
the other way round.
"""

from __future__ import annotations

from orchestrator.config import Config, load_config
from orchestrator.design import Design, load_design_file, parse_design
from orchestrator.errors import ConfigError, DeploymentError, DesignError, JarvisError
from orchestrator.events import Transition
from orchestrator.runner import DeploymentRunner, RunningDeployment
from orchestrator.store import DeploymentStore, HostStatus

__all__ = [
    "Config",
    "ConfigError",
    "Design",
    "DeploymentError",
    "DeploymentRunner",
    "DeploymentStore",
    "DesignError",
    "HostStatus",
    "JarvisError",
    "RunningDeployment",
    "Transition",
    "load_config",
    "load_design_file",
    "parse_design",
]
