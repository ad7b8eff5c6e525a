"""How a run is asked for: the one description the CLI, the bot and the tests hand the orchestrator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunOptions:
    """KIND is deploy, redeploy (teardown first) or destroy (teardown only); CHECK makes it a plan (a dry
    run); FORCE confirms a change to a production host; ADOPT takes over what exists on purpose (an
    admin's choice); APPROVAL is the second person's approval of a production host's change
    ("r-1a2b3c approved by … at …")."""

    kind: str = "deploy"
    check: bool = False
    force: bool = False
    adopt: bool = False
    approval: str | None = None

    @property
    def run_kind(self) -> str:
        return "plan" if self.check else self.kind

    def stored(self, partial: bool) -> dict[str, Any]:
        """The deployment's options as the store keeps them; PARTIAL: a pick of the design's hosts."""
        options: dict[str, Any] = {"force": self.force}
        if self.adopt:
            options["adopt"] = True
        if self.approval:
            options["approval"] = self.approval
        if partial:
            options["scope"] = "host"  # not the cluster (see last_build_of_source)
        return options


DEFAULT_RUN = RunOptions()  # a deployment, nothing forced or adopted
