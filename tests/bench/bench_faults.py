"""The fault-injection matrix on the sandbox, as a table: victim × point × provider → outcome, times.

Every jarvis process that runs a deployment (the CLI, a worker, the ansible-playbook child) is SIGKILLed
at three points (after the provider's create call in ``instance``, at ``address``, during ``cmdb``), and
slapd is stopped during ``cmdb``; each time on a host of its own, then ``jarvis resume``. Prints the table
and exits 1 if any outcome is wrong. ``python -m tests.bench.bench_faults [--providers ec2,linode,vsphere]``
(starts a sandbox of its own; a few minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

from orchestrator.config import load_config
from sandbox import world as sandbox_world
from tests.support import faults


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", default="ec2,linode,vsphere")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="jarvis-bench-faults-"))
    world = sandbox_world.up(state / "sandbox")
    try:
        home, etc = state / "home", state / "etc"
        home.mkdir(mode=0o700)
        etc.mkdir(mode=0o700)
        config_path = etc / "config.yml"
        config_path.touch(mode=0o600)
        config_path.write_text(yaml.safe_dump(yaml.safe_load(Path(world["config"]).read_text())))
        env = {**os.environ, "JARVIS_HOME": str(home), "JARVIS_CONFIG": str(config_path)}
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        os.environ["PATH"] = env["PATH"]
        config = load_config(str(config_path))
        config.home = home
        outcomes = []
        for provider in args.providers.split(","):
            for victim in (*faults.VICTIMS, *faults.SERVERS):
                points = faults.POINTS if victim in faults.VICTIMS else (faults.SERVER_STAGE[victim],)
                for point in points:
                    fault = faults.Fault(victim, point, provider)
                    outcomes.append(faults.run(world, config, env, fault, state))
                    print(faults.table(outcomes[-1:]).splitlines()[-1], flush=True)
        print()
        print(faults.table(outcomes))
        return 0 if all(outcome.ok for outcome in outcomes) else 1
    finally:
        sandbox_world.down(state / "sandbox")


if __name__ == "__main__":
    sys.exit(main())
