"""The exceptions the orchestrator raises; callers (CLI, bot) catch :class:`JarvisError`."""

from __future__ import annotations

from orchestrator._collection import design_rules


class JarvisError(Exception):
    """Base of every error jarvis reports to a person."""


class DesignError(JarvisError, design_rules.DesignError):  # type: ignore[misc]  # collection code is untyped
    """A design that cannot be deployed; ``path`` names the key at fault."""


class ConfigError(JarvisError):
    """The configuration file or environment is missing something or has a wrong value."""


class DeploymentError(JarvisError):
    """A deployment could not be started, or a stored one could not be found."""


class NotAllowed(JarvisError):
    """Who asks may not do this: a CLI user not in ``cli_admins`` asking for ``--force`` or ``--adopt``."""
