"""Run one recorded deployment in a process of its own.

The chat bot records a deployment and launches a worker for it, so a deployment outlives a bot
restart: the worker writes every stage to the status store, where the bot (restarted or not)
reads what to announce. ``python -m orchestrator.worker DEPLOYMENT_ID``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from orchestrator.config import Config, load_config
from orchestrator.runner import DeploymentRunner
from orchestrator.store import DeploymentStore


def launch(config: Config, deployment_id: str) -> int:
    """Start a detached worker for DEPLOYMENT_ID; return its pid. Its output goes to runs/<id>.log."""
    config.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = [sys.executable, "-m", "orchestrator.worker", deployment_id]
    if config.path is not None:
        argv[3:3] = ["--config", str(config.path)]
    env = {**os.environ, "JARVIS_HOME": str(config.home)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with (config.runs_dir / f"{deployment_id}.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    # Reap the worker when it ends, so it never lingers as a zombie of a long-running bot.
    threading.Thread(target=process.wait, name=f"reap-{deployment_id}", daemon=True).start()
    return process.pid


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.worker")
    parser.add_argument("--config")
    parser.add_argument("deployment_id")
    args = parser.parse_args(argv)
    os.umask(0o077)  # what jarvis writes (store, runs, secrets, known hosts) is its user's only
    config = load_config(args.config)
    running = DeploymentRunner(config, DeploymentStore(config.store_path)).run_recorded(args.deployment_id)
    return 0 if running.wait() == "successful" else 1


if __name__ == "__main__":
    sys.exit(main())
