"""The ``jarvis`` command: deploy, plan, status, and the built-in sandbox."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import pwd
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from orchestrator._collection import COLLECTIONS_PATH
from orchestrator.cmdb import redeploy_facts
from orchestrator.config import Config, default_home, load_config
from orchestrator.design import Design, load_design_file
from orchestrator.errors import DeploymentError, JarvisError, NotAllowed
from orchestrator.events import DONE_STATES
from orchestrator.pinned import cluster_design, drift_lines, pinned_design, read_source
from orchestrator.reaper import reap
from orchestrator.render import STATIC_KINDS, static_playbook_text
from orchestrator.report import plan_report, status_text, summary, transition_line
from orchestrator.run_options import RunOptions
from orchestrator.runner import DeploymentRunner, RunningDeployment
from orchestrator.service import Orchestrator
from orchestrator.store import DeploymentStore, StoredDesign

CLUSTER_HELP = (
    "every host of this deployment (an id), or of the last deployment of the whole design file, as it ran them"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "sandbox":  # the sandbox builds host images, whose files others must read
        os.umask(0o077)  # what jarvis writes (store, runs, secrets, known hosts) is its user's only
    try:
        return int(args.func(args))
    except JarvisError as exc:
        print(f"jarvis: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jarvis", description="Deploy hosts from their design, the whole way.")
    parser.add_argument(
        "--config", help="config file (default: $JARVIS_CONFIG, $JARVIS_HOME/config.yml, the sandbox's)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    deploy = commands.add_parser("deploy", help="deploy the hosts of a design file")
    deploy.add_argument("design", help="a design file (the seed's instance: format or the instances: one)")
    deploy.add_argument("--force", action="store_true", help="confirm the change of a production host (admins)")
    deploy.add_argument(
        "--adopt", action="store_true", help="take over an instance, DNS name or CMDB entry that exists (admins)"
    )
    deploy.set_defaults(func=_deploy, check=False)

    redeploy = commands.add_parser(
        "redeploy", help="tear one host down and rebuild it, all stages, from the design it last ran"
    )
    redeploy.add_argument("host", nargs="?", help="the host, alone (whatever else its design holds)")
    redeploy.add_argument("--cluster", metavar="DEPLOYMENT|FILE", help=CLUSTER_HELP)
    redeploy.add_argument("--design", help="a new design file: its entry for the host (default: what it last ran)")
    redeploy.add_argument(
        "--from-source", action="store_true", help="the host as its design file says now, not as it last ran"
    )
    redeploy.add_argument("--force", action="store_true", help="confirm the redeploy of a production host")
    redeploy.set_defaults(func=_teardown, kind="redeploy")

    destroy = commands.add_parser(
        "destroy", help="tear one host down for good: instance, DNS records, CMDB entry, gitosis key"
    )
    destroy.add_argument("host", nargs="?", help="the host, alone (whatever else its design holds)")
    destroy.add_argument("--cluster", metavar="DEPLOYMENT|FILE", help=CLUSTER_HELP)
    destroy.add_argument("--design", help="a new design file: its entry for the host (default: what it last ran)")
    destroy.add_argument("--force", action="store_true", help="confirm the destruction of a production host")
    destroy.set_defaults(func=_teardown, kind="destroy", from_source=False)

    resume = commands.add_parser(
        "resume", help="continue a host's failed or interrupted deployment from the stage it stopped at"
    )
    resume.add_argument("host")
    resume.add_argument("--force", action="store_true", help="confirm resuming a production host (admins)")
    resume.set_defaults(func=_resume)

    plan = commands.add_parser("plan", help="show what deploying a design would change, changing nothing")
    plan.add_argument("design")
    plan.add_argument("--adopt", action="store_true", help="plan taking over what exists (admins)")
    plan.set_defaults(func=_deploy, check=True, force=False)

    status = commands.add_parser("status", help="the current or last stage of a host, or every running deployment")
    status.add_argument("host", nargs="?")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_status)

    cancel = commands.add_parser(
        "cancel", help="stop one host: its deployment at the next task, or it alone at its next stage in a shared run"
    )
    cancel.add_argument("host", nargs="?")
    cancel.add_argument("--cluster", metavar="DEPLOYMENT", help="stop every host of this running deployment")
    cancel.set_defaults(func=_cancel)

    unlock = commands.add_parser(
        "unlock", help="release a host held by a stuck deployment (cli_admins): it is interrupted, resume goes on"
    )
    unlock.add_argument("host")
    unlock.set_defaults(func=_unlock)

    playbook = commands.add_parser(
        "playbook", help="print a static playbook of playbooks/ (for plain ansible-playbook and AWX), or write them all"
    )
    playbook.add_argument("kind", nargs="?", choices=STATIC_KINDS, default="deploy")
    playbook.add_argument(
        "--write", type=Path, metavar="DIR", help="write deploy.yml, redeploy.yml, destroy.yml to DIR"
    )
    playbook.set_defaults(func=_playbook)

    site_vars = commands.add_parser(
        "vars", help="print the config's site settings as Ansible vars (YAML), for plain ansible-playbook runs"
    )
    site_vars.add_argument(
        "--credentials", action="store_true", help="add jarvis_credentials (encrypt the output with ansible-vault)"
    )
    site_vars.set_defaults(func=_vars)

    env = commands.add_parser(
        "env", help="print shell exports of the config's credentials and Ansible settings, for plain ansible-playbook"
    )
    env.set_defaults(func=_env)

    sandbox = commands.add_parser("sandbox", help="the built-in local world: slapd, named, EC2 and real hosts")
    sandbox.add_argument("action", choices=["up", "down", "status"])
    sandbox.add_argument("--state-dir", type=Path, help="where the sandbox keeps its servers' data")
    sandbox.set_defaults(func=_sandbox)
    return parser


def _teardown(args: argparse.Namespace) -> int:
    """``jarvis redeploy|destroy HOST``: HOST alone, as its last deployment ran it; ``--cluster``: every host."""
    config = load_config(args.config)
    store = DeploymentStore(config.store_path)
    if (args.host is None) == (args.cluster is None):
        raise DeploymentError(f"name one host, or --cluster DEPLOYMENT|FILE, to {args.kind}")
    if args.cluster is not None:
        if args.design or args.from_source:
            raise DeploymentError("--cluster acts on a deployment's hosts as it ran them: no --design or --from-source")
        design, cluster = cluster_design(store, args.cluster)
        verb = "redeploying" if args.kind == "redeploy" else "destroying"
        name = args.cluster if args.cluster == cluster.deployment_id else f"{args.cluster} ({cluster.deployment_id})"
        print(f"{verb} cluster {name}: {', '.join(design.hostnames)}", flush=True)
        _print_drift(config, design, cluster)
    elif args.design is not None:  # an explicit new design: this file's entry for the host
        design = load_design_file(args.design, policy=config.design_policy()).only([args.host.lower()])
    else:
        host = args.host.lower()
        stored = store.last_build(host)
        if stored is None:
            raise DeploymentError(f"no deployment of {host!r} is recorded: give its design with --design")
        if args.from_source:
            design = _design_file(config, stored.source).only([host])
        else:
            design = pinned_design(stored, [host])
            _print_drift(config, design, stored)
    return _run(args, config, store, design, kind=args.kind, force=args.force)


def _design_file(config: Config, source: str) -> Design:
    """The design a source that is a file holds now; the CLI reads no URLs or LDAP entries (chat does)."""
    if source.lower().startswith("cn=") or re.match(r"^[a-z][a-z0-9+.-]*://", source, re.IGNORECASE):
        raise DeploymentError(f"{source} is not a design file, and the CLI reads only files: give --design FILE")
    return load_design_file(source, policy=config.design_policy())


def _print_drift(config: Config, design: Design, stored: StoredDesign) -> None:
    """Say how the source now differs from the design this run uses (read within a bounded time)."""
    current = read_source(lambda source: _design_file(config, source), design.source)
    hint = "'jarvis redeploy {} --from-source'".format
    for line in drift_lines(design, stored.deployment_id, current, hint):
        print(line, flush=True)


def _resume(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = DeploymentStore(config.store_path)
    host = args.host.lower()
    if args.force:
        require_cli_admin(config, f"resuming {host}", "--force")
    elif redeploy_facts(config, {"hostname": host})["jarvis_production"]:
        raise NotAllowed(f"{host} is in production: resuming it needs --force (from a cli_admins user)")
    runner = DeploymentRunner(config, store)
    deployment_id = runner.record_resume(host, f"{getpass.getuser()} (cli)", force=args.force)
    print(f"resuming {args.host.lower()} (deployment {deployment_id})", flush=True)
    width = len(args.host)
    running = runner.run_recorded(deployment_id, lambda t: print(transition_line(t, width), flush=True))
    return _finish(running, store, check=False)


def _deploy(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    design = load_design_file(args.design, policy=config.design_policy())
    store = DeploymentStore(config.store_path)
    return _run(args, config, store, design, kind="deploy", force=args.force)


def _run(
    args: argparse.Namespace, config: Config, store: DeploymentStore, design: Design, kind: str, force: bool
) -> int:
    width = max(len(name) for name in design.hostnames)
    check = getattr(args, "check", False)
    adopt = bool(getattr(args, "adopt", False))
    verb = "planning" if check else {"redeploy": "redeploying", "destroy": "destroying"}.get(kind, "deploying")
    flags = [flag for flag, given in (("--force", force), ("--adopt", adopt)) if given]
    if flags:
        require_cli_admin(config, f"{verb} {', '.join(design.hostnames)}", " and ".join(flags))
    print(f"{verb} {', '.join(design.hostnames)} from {design.source}", flush=True)
    running = DeploymentRunner(config, store).start(
        design,
        requested_by=f"{getpass.getuser()} (cli)",
        options=RunOptions(kind=kind, check=check, force=force, adopt=adopt),
        listener=lambda transition: print(transition_line(transition, width), flush=True),
    )
    return _finish(running, store, check)


def require_cli_admin(config: Config, doing: str, flags: str) -> None:
    """Refuse FLAGS (--force, --adopt) unless the unix user running jarvis is one of the config's cli_admins."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    if user not in config.cli_admins:
        where = f" in {config.path}" if config.path else ""
        admins = ", ".join(config.cli_admins) or "nobody"
        raise NotAllowed(
            f"{doing}{f' with {flags}' if flags else ''} needs a cli_admins user; {user} is not one "
            f"(cli_admins{where}: {admins})"
        )


def _finish(running: RunningDeployment, store: DeploymentStore, check: bool) -> int:
    """Wait for the deployment (Ctrl-C cancels it), then print each host's summary or plan."""
    try:
        running.wait()
    except KeyboardInterrupt:
        print("canceling at the next task boundary...", file=sys.stderr, flush=True)
        running.cancel()
        running.wait()
    hosts = store.deployment_hosts(running.id)
    print()
    for host in hosts:
        print(plan_report(host) if check else summary(host))
    failed = [host.hostname for host in hosts if host.state not in DONE_STATES and host.state != "canceled"]
    canceled = [host.hostname for host in hosts if host.state == "canceled"]
    if not check and len(hosts) > 1:
        done = next((host.state for host in hosts if host.state in DONE_STATES), "ready")
        tail = f"; failed: {', '.join(failed)}" if failed else ""
        tail += f"; canceled: {', '.join(canceled)}" if canceled else ""
        print(f"\n{len(hosts) - len(failed) - len(canceled)} of {len(hosts)} hosts {done}{tail}")
    return 1 if failed or canceled or not hosts else 0


def _status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = DeploymentStore(config.store_path)
    for interrupted in reap(store, config.home, config.lease_seconds):
        for line in interrupted.lines():
            print(line, file=sys.stderr)
    orchestrator = Orchestrator(config, store)
    if args.host:
        host = orchestrator.host_status(args.host.lower())
        if host is None:
            raise DeploymentError(f"no deployment of {args.host!r} is recorded in {config.store_path}")
        hosts = [host]
    else:
        hosts = orchestrator.active_hosts()
    if args.json:
        payload = hosts[0].as_dict() if args.host else [host.as_dict() for host in hosts]
        print(json.dumps(payload, indent=2))
    elif not hosts:
        print("no deployment is running")
    else:
        print("\n".join(status_text(host) for host in hosts))
    return 0 if not args.host or hosts[0].state not in ("failed", "interrupted") else 1


def _unlock(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    host = args.host.lower()
    require_cli_admin(config, f"unlocking {host}", "")
    user = pwd.getpwuid(os.geteuid()).pw_name  # as require_cli_admin judged it, not $USER
    print(Orchestrator(config).unlock(host, f"{user} (cli)"))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if (args.host is None) == (args.cluster is None):
        raise DeploymentError("name one host, or --cluster DEPLOYMENT, to cancel")
    orchestrator = Orchestrator(config)
    if args.cluster is not None:
        print(orchestrator.cancel_cluster(args.cluster))
    else:
        print(orchestrator.cancel(args.host.lower(), cluster_command="jarvis cancel --cluster {id}"))
    return 0


def _playbook(args: argparse.Namespace) -> int:
    if args.write is None:
        sys.stdout.write(static_playbook_text(args.kind))
        return 0
    for kind in STATIC_KINDS:
        (args.write / f"{kind}.yml").write_text(static_playbook_text(kind))
    return 0


def _vars(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    values: dict[str, object] = dict(config.site_vars())
    if args.credentials:
        values["jarvis_credentials"] = config.credentials
    sys.stdout.write(yaml.safe_dump(values, sort_keys=False))
    return 0


def _env(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    exports = {
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        # The controller's modules need this interpreter's libraries (ldap3, boto3, ...); the hosts keep theirs.
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        **config.credential_environment(),
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox import world  # the sandbox is optional at run time: import it only when asked

    state_dir = args.state_dir or default_home() / "sandbox"
    if args.action == "up":
        info = world.up(state_dir)
        print(f"sandbox up in {state_dir}; jarvis uses {info['config']} when no other config is set")
    elif args.action == "down":
        world.down(state_dir)
        print(f"sandbox in {state_dir} is down")
    else:
        print(json.dumps(world.status(state_dir), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
