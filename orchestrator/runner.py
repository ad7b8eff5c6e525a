"""Run one deployment's playbook (through an executor: here by default) and follow it stage by stage.

Each deployment gets a private data dir under ``<home>/runs/<id>``. Credentials go to the
playbook in a vars file of mode 0600 outside that dir (so they never land in the runner's
artifacts) and are removed from this process's environment, which ansible-runner would
otherwise copy into ``artifacts/<id>/command``. Whatever this process writes from then on, the
runner's artifacts included, is private to its user (umask 077).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator._collection import COLLECTIONS_PATH
from orchestrator.cmdb import redeploy_facts
from orchestrator.config import Config
from orchestrator.credentials import CREDENTIAL_ENV, SECRET_KEYS
from orchestrator.design import Design
from orchestrator.errors import DeploymentError
from orchestrator.events import DONE_STATES, Listener, Redactor, StageTracker
from orchestrator.executors import make_executor
from orchestrator.heartbeat import Heartbeat
from orchestrator.job import Executor, Job
from orchestrator.leases import this_process
from orchestrator.reaper import Interrupted, reap
from orchestrator.run_options import DEFAULT_RUN, RunOptions
from orchestrator.stages import BY_ID, Stage, deploy_stages, handed_back, playbook_stages
from orchestrator.store import DeploymentStore

log = logging.getLogger("jarvis.runner")
RESUMABLE = ("failed", "canceled", "interrupted")
SLOT_POLL = 0.25  # seconds between two looks at the run slots while a deployment is queued
REAP_WHILE_QUEUED = 5.0  # seconds between two looks for dead owners (whose slots free) while queued


def make_redactor(secrets: Iterable[str], found: Callable[[], Iterable[str]] | None = None) -> Redactor:
    """A function that replaces every known secret in a text with ********.

    FOUND, if given, is asked at every call for the secrets learnt while jarvis runs: hosts' root
    passwords, which the credentials stage makes in the middle of a deployment.
    """
    known = {secret for secret in secrets if secret}
    ordered = sorted(known, key=len, reverse=True)

    def redact(text: str) -> str:
        nonlocal ordered
        if found is not None and (new := {secret for secret in found() if secret} - known):
            known.update(new)
            ordered = sorted(known, key=len, reverse=True)
        for secret in ordered:
            text = text.replace(secret, "********")
        return text

    return redact


class StoredRootPasswords:
    """The root passwords (and their hashes) that the credentials stage keeps vault-encrypted in
    ``<secrets_dir>/<fqdn>.yml`` for the hosts watched: the runner's only way to know them.

    Asking costs a stat per host; a file is decrypted only when it is new or replaced (a rotated
    password), and a password once seen stays known. It never logs: an unreadable file is skipped.
    """

    def __init__(self, secrets_dir: Path, vault_password_file: Path | None) -> None:
        self.secrets_dir = secrets_dir
        self.vault_password_file = vault_password_file
        self._fqdns: set[str] = set()
        self._read: dict[str, tuple[int, int, int]] = {}  # fqdn -> (inode, mtime, size) of the file decrypted
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def watch(self, fqdns: Iterable[str]) -> None:
        with self._lock:
            self._fqdns.update(fqdn.lower() for fqdn in fqdns)  # the credentials stage names files in lower case

    def __call__(self) -> set[str]:
        with self._lock:
            for fqdn in self._fqdns:
                path = self.secrets_dir / f"{fqdn}.yml"
                try:
                    status = path.stat()
                except OSError:
                    continue
                signature = (status.st_ino, status.st_mtime_ns, status.st_size)
                if self._read.get(fqdn) != signature:
                    self._read[fqdn] = signature
                    self._values.update(self._decrypt(path))
            return set(self._values)

    def _decrypt(self, path: Path) -> list[str]:
        from ansible.parsing.vault import VaultLib, VaultSecret  # slow to import: only once a file is there

        try:
            password = self.vault_password_file.read_bytes().strip() if self.vault_password_file else b""
            if not password:
                return []
            document = yaml.safe_load(VaultLib([("default", VaultSecret(password))]).decrypt(path.read_bytes()))
        except Exception:  # noqa: BLE001 - whatever is wrong with the file, saying so could leak it
            return []
        if not isinstance(document, dict):
            return []
        return [str(document[key]) for key in ("root_password", "root_password_hash") if document.get(key)]


def scrub_environment() -> None:
    """Drop secret credentials from os.environ once the config has read them (see module doc)."""
    for group, key in SECRET_KEYS:
        os.environ.pop(CREDENTIAL_ENV[group][key], None)


@dataclass
class RunningDeployment:
    """A deployment in progress; ``wait()`` until it ends, ``cancel()`` to stop at the next task."""

    id: str
    hostnames: list[str]
    _cancel: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    status: str = "starting"

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> str:
        self._done.wait(timeout)
        return self.status

    @property
    def finished(self) -> bool:
        return self._done.is_set()


class DeploymentRunner:
    """Starts deployments and keeps the status store up to date while they run."""

    def __init__(self, config: Config, store: DeploymentStore, executor: Executor | None = None) -> None:
        os.umask(0o077)  # see the module doc: a library caller's umask must not open the artifacts to others
        self.config = config
        self.store = store
        self.executor: Executor = executor or make_executor(config)
        self.heartbeat = Heartbeat(store, config.lease_seconds)
        self.reap()
        self.root_passwords = StoredRootPasswords(config.secrets_dir, config.vault_password_file)
        self.redact = make_redactor(config.secret_values(), self.root_passwords)

    def reap(self) -> list[Interrupted]:
        """Interrupt the deployments whose owner is gone (see orchestrator.reaper); what was interrupted."""
        return reap(self.store, self.config.home, self.config.lease_seconds)

    def record(self, design: Design, requested_by: str, options: RunOptions = DEFAULT_RUN) -> str:
        """Record a new deployment of DESIGN (validated already) as OPTIONS ask; return its id. Nothing runs yet."""
        kind = options.run_kind
        self.reap()  # a lock whose holder is gone is released first
        self.heartbeat.start()
        deployment_id = self.store.create_deployment(
            design.hosts,
            list(deploy_stages(kind)),
            source=design.source,
            requested_by=requested_by,
            kind=kind,
            options=options.stored(design.partial),
            design_text=design.text or None,
            design_digest=design.digest or None,
            design_source=design.resolved_source or design.source,
            owner=self.heartbeat.owner,
        )
        detail = _design_detail(design.source, design.digest)
        for host in design.hosts:
            self.store.end_stage(deployment_id, host["hostname"], "validate", "ok", detail)
        return deployment_id

    def start(
        self,
        design: Design,
        requested_by: str,
        options: RunOptions = DEFAULT_RUN,
        listener: Listener | None = None,
    ) -> RunningDeployment:
        """Record the deployment, then run its playbook in the background."""
        return self.run_recorded(self.record(design, requested_by, options), listener)

    def record_resume(
        self, hostname: str, requested_by: str, *, force: bool = False, approval: str | None = None
    ) -> str:
        """Record a deployment that continues HOSTNAME's failed (or interrupted, or canceled) one from the stage it
        stopped at; return its id.

        FORCE and APPROVAL as for :meth:`record` (a resume keeps the failed run's, and adds these).

        Earlier stages are not run again: what they learned (instance, address, host keys, root's key,
        moved pointers, kernel) comes from the store. Only the credentials stage, which is cheap and
        keeps the stored password, runs again to hand a provider its password.
        """
        self.reap()  # a deployment whose owner died is interrupted now, and so resumable
        last = self.store.host_status(hostname)
        if last is None or last.state not in RESUMABLE:
            state = "nothing recorded" if last is None else last.state
            raise DeploymentError(f"{hostname} has no failed or interrupted deployment to resume ({state})")
        previous = self.store.deployment(last.deployment_id)
        if previous is None or previous["kind"] == "plan":
            raise DeploymentError(f"{hostname}'s last deployment cannot be resumed")
        host = next(h for h in previous["hosts"] if h["hostname"] == hostname)
        kind = previous["kind"]
        from_stage = last.stage  # None: interrupted before its first stage, so everything runs again
        deployment_id = self.store.create_deployment(  # the host alone, with the design the failed run pinned
            [host],
            list(deploy_stages(kind)),
            source=previous["source"],
            requested_by=requested_by,
            kind=kind,
            options={
                **{key: value for key, value in previous["options"].items() if key != "from_stage"},
                "resume_of": last.deployment_id,
                **({"from_stage": from_stage} if from_stage else {}),
                **({"force": True} if force else {}),
                **({"approval": approval} if approval else {}),
            },
            design_text=previous.get("design_text"),
            design_digest=previous.get("design_digest"),
            design_source=previous.get("design_source"),
            owner=self.heartbeat.owner,
        )
        self.heartbeat.start()
        self.store.merge_facts(deployment_id, hostname, last.facts)
        for stage in _resumed_stages(kind, from_stage, skipped=True):
            self.store.end_stage(deployment_id, hostname, stage.id, "skipped", f"done in {last.deployment_id}")
        detail = _design_detail(previous["source"], previous.get("design_digest"))
        self.store.end_stage(deployment_id, hostname, "validate", "ok", detail)
        return deployment_id

    def run_recorded(self, deployment_id: str, listener: Listener | None = None) -> RunningDeployment:
        """Run a recorded deployment in a background thread of this process."""
        record = self.store.deployment(deployment_id)
        if record is None:
            raise DeploymentError(f"no deployment {deployment_id!r} is recorded")
        hosts = record["hosts"]
        names = [host["hostname"] for host in hosts]
        self.root_passwords.watch(host["fqdn"] for host in hosts)
        if not self.store.claim(deployment_id, this_process()):
            raise DeploymentError(f"deployment {deployment_id} is {record['state']} already: it does not run again")
        self.heartbeat.start()
        if not self.runs_here:
            self.store.set_deployment_state(deployment_id, "running")
        running = RunningDeployment(deployment_id, names)
        tracker = StageTracker(self.store, deployment_id, names, self.redact, listener, kind=record["kind"])
        thread = threading.Thread(
            target=self._run,
            args=(running, record, tracker),
            name=f"deploy-{deployment_id}",
        )
        thread.daemon = True
        thread.start()
        return running

    def _run(
        self,
        running: RunningDeployment,
        record: dict[str, Any],
        tracker: StageTracker,
    ) -> None:
        try:
            if self.runs_here and not self._wait_for_slot(running):
                status = "canceled"  # while it waited for a run slot: nothing of it ran
            else:
                status = self._execute(running, record, tracker)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the deployment must end recorded
            status = "failed"
            tracker.abort(self.redact(f"jarvis could not run: {exc}"))
        else:
            tracker.finish(status)
        self.store.set_deployment_state(running.id, _deployment_state(status, running.id, self.store))
        running.status = status
        running._done.set()

    def _execute(self, running: RunningDeployment, record: dict[str, Any], tracker: StageTracker) -> str:
        """Run the recorded deployment's playbook through the executor; its final status."""
        hosts: list[dict[str, Any]] = record["hosts"]
        kind, requested_by = record["kind"], record["requested_by"]
        scrub_environment()
        private_dir = self.config.runs_dir / running.id
        private_dir.mkdir(parents=True, mode=0o700)
        site_vars = {
            **self.config.site_vars(),
            "jarvis_deployed_by": requested_by,
            "jarvis_deployment_id": running.id,
        }
        cancel_dir = None
        if self.runs_here:  # the playbook runs here, so it sees the cancel flags in this machine's files
            cancel_dir = private_dir / "cancel"
            cancel_dir.mkdir(mode=0o700)
            site_vars["jarvis_cancel_dir"] = str(cancel_dir)
        job = Job(
            private_dir=private_dir,
            ident=running.id,
            kind=kind,
            hosts=hosts,
            stages=_resumed_stages(kind, record["options"].get("from_stage")),
            site_vars=site_vars,
            host_vars=self._host_vars(kind, hosts, record["options"]),
            credentials=self.config.credentials,
            envvars=self._envvars(),
            forks=max(1, min(len(hosts), 50)),
        )
        canceled = _cancel_check(running, self.store, _host_canceler(tracker, cancel_dir) if cancel_dir else None)
        return self.executor.execute(job, tracker.handle, canceled)

    @property
    def runs_here(self) -> bool:
        """Whether this runner's playbooks run on this machine (see orchestrator.job.Executor)."""
        return bool(getattr(self.executor, "runs_here", False))

    def _wait_for_slot(self, running: RunningDeployment) -> bool:
        """Wait until RUNNING may start (orchestrator.run_slots): True; False if it was canceled meanwhile.

        While it waits, deployments whose owner died are looked for now and then: a dead owner's slot frees.
        """
        limit, last_reap = self.config.parallel_runs, time.monotonic()
        while self.store.take_run_slot(running.id, limit):
            if running._cancel.wait(SLOT_POLL) or self.store.cancel_requested(running.id):
                return False
            if time.monotonic() - last_reap >= REAP_WHILE_QUEUED:
                self.reap()
                last_reap = time.monotonic()
        return True

    def _host_vars(self, kind: str, hosts: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per-host variables: the CMDB facts, confirmation and adoption production_check reads; a resume's
        earlier findings."""
        host_vars: dict[str, dict[str, Any]] = {host["hostname"]: {} for host in hosts}
        resuming = "resume_of" in options
        for host in hosts:
            found = host_vars[host["hostname"]]
            if kind in BY_ID["production_check"].kinds:
                found.update(redeploy_facts(self.config, host))
                found["jarvis_force"] = bool(options.get("force"))
                found["jarvis_adopt"] = bool(options.get("adopt", False))
            if kind == "redeploy":
                # A resume's earlier run rotated them already, unless it was interrupted before its first stage.
                found["jarvis_rotate_credentials"] = not resuming or not options.get("from_stage")
            if resuming:
                found.update(self._learned(options["resume_of"], host))
            if options.get("approval"):
                found["jarvis_approval"] = options["approval"]  # the cmdb stage writes it to jarvisApproval
        return host_vars

    def _learned(self, deployment_id: str, host: dict[str, Any]) -> dict[str, Any]:
        """What the stages of DEPLOYMENT_ID found out about HOST, as the variables later stages read."""
        status = self.store.host_status(host["hostname"], deployment_id)
        facts = status.facts if status else {}
        found = handed_back(facts)
        if "ip" in facts:
            found["ansible_host"] = facts["ip"]  # the address stage sets both; later stages connect there
        if "ssh" in facts:  # and check the host keys the ssh stage recorded
            known_hosts = self.config.home / "known_hosts" / host["fqdn"]
            found["ansible_ssh_common_args"] = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
            found["ansible_host_key_checking"] = True
        return found

    def _envvars(self) -> dict[str, str]:
        paths = [str(COLLECTIONS_PATH), os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")]
        return {
            "ANSIBLE_COLLECTIONS_PATH": ":".join(path for path in paths if path),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
        }


def _design_detail(source: str, digest: str | None) -> str:
    """The validate stage's note: where the design came from and which text it was."""
    return f"design from {source}" + (f" (sha256 {digest[:12]})" if digest else "")


def _resumed_stages(kind: str, from_stage: str | None, skipped: bool = False) -> list[Stage]:
    """The playbook stages a resume from FROM_STAGE runs, or those it skips: production_check (the production
    guard and the ownership check hold for a resume too) and credentials, then FROM_STAGE onwards."""
    stages = list(playbook_stages(kind))
    if from_stage is None:
        return [] if skipped else stages
    ids = [stage.id for stage in stages]
    start = ids.index(from_stage) if from_stage in ids else 0
    always = ("production_check", "credentials")
    run = [stage for index, stage in enumerate(stages) if index >= start or stage.id in always]
    return [stage for stage in stages if stage not in run] if skipped else run


def _cancel_check(
    running: RunningDeployment, store: DeploymentStore, cancel_hosts: Callable[[set[str]], None] | None = None
) -> Any:
    """ansible-runner's cancel callback: a cancel() here, or one asked in the store by another process.

    The runner calls it many times a second; the store is read at most once a second. CANCEL_HOSTS, if
    given, hears of the hosts asked in the store to stop alone (``cancel odin`` of a multi-host run).
    """
    last_read = 0.0

    def canceled() -> bool:
        nonlocal last_read
        if running._cancel.is_set():
            return True
        now = time.monotonic()
        if now - last_read >= 1.0:
            last_read = now
            if store.cancel_requested(running.id):
                running._cancel.set()
            elif cancel_hosts is not None and (hosts := store.host_cancels(running.id)):
                cancel_hosts(hosts)
        return running._cancel.is_set()

    return canceled


def _host_canceler(tracker: StageTracker, cancel_dir: Path) -> Callable[[set[str]], None]:
    """Set the cancel flag of each host asked to stop alone: a file ``<cancel_dir>/<hostname>`` that the
    cancel check at the start of every stage looks for (see orchestrator.render.cancel_check)."""
    flagged: set[str] = set()

    def cancel_hosts(hostnames: set[str]) -> None:
        for hostname in sorted(hostnames - flagged):
            if hostname in tracker.hosts:  # the deployment's own, validated hostnames: safe as file names
                tracker.cancel_host(hostname)  # first, so that the tracker expects the host to stop
                (cancel_dir / hostname).touch(mode=0o600)
            flagged.add(hostname)

    return cancel_hosts


def _deployment_state(runner_status: str, deployment_id: str, store: DeploymentStore) -> str:
    if runner_status == "canceled":
        return "canceled"
    hosts = store.deployment_hosts(deployment_id)
    if hosts and all(h.state in DONE_STATES for h in hosts):
        return "successful"
    if hosts and all(h.state in DONE_STATES or h.state == "canceled" for h in hosts):
        return "canceled"  # some hosts were canceled alone, the others are done
    return "failed"
