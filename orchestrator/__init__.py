"""jarvis's orchestrator: designs in, deployments run through ansible-runner, status out.

The bot and the CLI use this package; it drives the ``jarvis.deploy`` collection and never
the other way round. The names here are its façade: the bot imports nothing else of it
(tests/unit/test_layers.py keeps it so).
"""

from __future__ import annotations

from orchestrator.cmdb import CmdbError, Directory, read_entry
from orchestrator.config import Config, load_config
from orchestrator.config_models import NullIsDefault, Section, otherwise, parse_section, section_from_dataclass
from orchestrator.design import MAX_DESIGN_BYTES, Design, DesignPolicy, load_design_file, parse_design
from orchestrator.errors import ConfigError, DeploymentError, DesignError, JarvisError
from orchestrator.events import DONE_STATES, Transition
from orchestrator.pinned import drift_lines, read_source
from orchestrator.report import plan_report, queued_text
from orchestrator.run_options import RunOptions
from orchestrator.runner import DeploymentRunner, RunningDeployment
from orchestrator.service import Orchestrator
from orchestrator.stages import stage_title
from orchestrator.store import DeploymentStore, HostStatus, StoredDesign

__all__ = [
    "DONE_STATES",
    "MAX_DESIGN_BYTES",
    "CmdbError",
    "Config",
    "ConfigError",
    "Design",
    "DesignPolicy",
    "Directory",
    "NullIsDefault",
    "DeploymentError",
    "DeploymentRunner",
    "DeploymentStore",
    "DesignError",
    "HostStatus",
    "JarvisError",
    "Orchestrator",
    "RunOptions",
    "Section",
    "RunningDeployment",
    "StoredDesign",
    "Transition",
    "drift_lines",
    "load_config",
    "otherwise",
    "parse_section",
    "load_design_file",
    "parse_design",
    "plan_report",
    "queued_text",
    "read_entry",
    "read_source",
    "section_from_dataclass",
    "stage_title",
]
