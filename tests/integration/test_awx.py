"""jarvis deploys through AWX: ``executor: {type: awx}``, the job templates of awx/assets.yml, the sandbox.

AWX itself cannot run here (it needs Kubernetes or a container engine, PostgreSQL, Redis and receptor),
so tests/support/awx_double.py stands in for its API v2. What is real: jarvis's CLI, runner, store and
stage tracking; the AWX executor talking HTTP; the job each launch starts, which runs
``playbooks/deploy.yml`` of this repository with ansible-runner and the extra vars, skip tags and
credentials environment AWX would give it (the sandbox's credentials, put through the credential types'
injectors as if an admin had attached them; jarvis's own config here holds none); and the sandbox it
deploys on: moto EC2 and the podman host its instance becomes, named, slapd, the git server.
"""

from __future__ import annotations

import copy
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.awx_double import AwxDouble, credentials_from_config, load_assets
from tests.support.secrets import assert_no_secret

pytestmark = pytest.mark.integration

TOKEN = secrets.token_urlsafe(24)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOeAGDN0WmIZi5BTuSuqzmkE9n0VqEbJTZ4jT8Q5lmm7 ops@example.com"
CREDENTIAL_PREFIXES = ("AWS_", "JARVIS_DNS", "JARVIS_TSIG", "JARVIS_LDAP", "JARVIS_ALERTMANAGER", "LINODE_", "VMWARE_")


def design(hostname: str) -> dict[str, Any]:
    """A one-host EC2 design in the seed's format, like examples/loki.yml."""
    return {
        "instance": {
            "hostname": hostname,
            "fqdn": f"{hostname}.websages.com",
            "provider": "EC2",
            "guestid": "Debian 6",
            "datacenter": "Atlanta",
            "size": 512,
            "gitosis-admin": "gitosis@freyr.websages.com:gitosis-admin.git",
            "sshpubkey": KEY,
        }
    }


def jarvis(env: dict[str, str], *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=env, check=check
    )


def status(env: dict[str, str], hostname: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(jarvis(env, "status", hostname, "--json").stdout)
    return payload


def write_design(directory: Path, hostname: str) -> str:
    path = directory / f"{hostname}.yml"
    path.write_text(yaml.safe_dump(design(hostname)))
    return str(path)


@pytest.fixture(scope="module")
def sandbox_config(world: dict) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(Path(world["config"]).read_text())
    return config


@pytest.fixture(scope="module")
def awx(
    sandbox_config: dict[str, Any], jarvis_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AwxDouble]:
    """The AWX double with the sandbox's credentials attached, as an AWX admin would attach them."""
    assets = load_assets()
    double = AwxDouble(
        token=TOKEN,
        credentials=credentials_from_config(sandbox_config["credentials"], assets),
        work_dir=tmp_path_factory.mktemp("awx"),
        assets=assets,
        envvars={"PATH": jarvis_env["PATH"]},
        event_delay=0.2,
        shuffle_events=True,
    )
    with double:
        yield double


def awx_env(base: dict[str, str], sandbox_config: dict[str, Any], directory: Path, **executor: Any) -> dict[str, str]:
    """A jarvis environment of its own whose config runs playbooks in AWX and holds no credentials."""
    config = {key: value for key, value in sandbox_config.items() if key not in ("credentials", "bot")}
    config["executor"] = {"type": "awx", "poll_interval": 0.2, **executor}
    path = directory / "config.yml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    home = directory / "home"
    home.mkdir()
    env = {name: value for name, value in base.items() if not name.startswith(CREDENTIAL_PREFIXES)}
    return {**env, "JARVIS_CONFIG": str(path), "JARVIS_HOME": str(home)}


@pytest.fixture(scope="module")
def through_awx(
    awx: AwxDouble, jarvis_env: dict[str, str], sandbox_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return awx_env(jarvis_env, sandbox_config, tmp_path_factory.mktemp("jarvis-awx"), url=awx.url, token=TOKEN)


def stage_states(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(stage["stage"], stage["state"]) for stage in payload["stages"]]


def test_a_deployment_through_awx_ends_ready_with_the_stages_of_a_local_one(
    awx: AwxDouble, through_awx: dict[str, str], jarvis_env: dict[str, str], tmp_path: Path
) -> None:
    launches_before = len(awx.launches)
    proc = jarvis(through_awx, "deploy", write_design(tmp_path, "snotra"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    remote = status(through_awx, "snotra")
    assert remote["state"] == "ready", remote["reason"]
    assert remote["facts"]["instance_id"].startswith("i-") and remote["facts"]["ip"]

    local_proc = jarvis(jarvis_env, "deploy", write_design(tmp_path, "hoder"))
    assert local_proc.returncode == 0, local_proc.stdout + local_proc.stderr
    local = status(jarvis_env, "hoder")
    assert stage_states(remote) == stage_states(local)
    assert ("ready", "ok") in stage_states(remote) and ("dns", "changed") in stage_states(remote)

    (launch,) = awx.launches[launches_before:]
    assert launch["extra_vars"]["instances"][0]["hostname"] == "snotra"
    assert launch["extra_vars"]["jarvis_deployment_id"] == remote["deployment"]
    assert "jarvis_credentials" not in launch["extra_vars"]
    job = awx.jobs[max(awx.jobs)]
    assert (job.template["name"], job.status) == ("jarvis deploy", "successful")
    assert TOKEN not in proc.stdout + proc.stderr
    assert_no_secret({"AWX token": TOKEN}, [p for p in Path(through_awx["JARVIS_HOME"]).rglob("*") if p.is_file()])


def test_a_launch_awx_refuses_fails_the_deployment_with_awx_reason(
    jarvis_env: dict[str, str], sandbox_config: dict[str, Any], tmp_path: Path
) -> None:
    assets = copy.deepcopy(load_assets())
    assets["job_templates"][0]["related"]["survey_spec"]["spec"][0]["required"] = True
    with AwxDouble(token=TOKEN, credentials=[], work_dir=tmp_path / "awx", assets=assets) as strict:
        env = awx_env(jarvis_env, sandbox_config, tmp_path, url=strict.url, token=TOKEN)
        proc = jarvis(env, "deploy", write_design(tmp_path, "sjofn"))
        assert not strict.jobs
    assert proc.returncode == 1, proc.stdout + proc.stderr
    payload = status(env, "sjofn")
    assert payload["state"] == "failed"
    assert "HTTP 400" in payload["reason"]
    assert "variables_needed_to_start: 'design_hostname' value missing" in payload["reason"]


def test_a_wrong_token_is_a_clear_failure_that_never_shows_the_token(
    awx: AwxDouble, jarvis_env: dict[str, str], sandbox_config: dict[str, Any], tmp_path: Path
) -> None:
    wrong = "wrong-" + secrets.token_urlsafe(16)
    env = awx_env(jarvis_env, sandbox_config, tmp_path, url=awx.url, token=wrong)
    proc = jarvis(env, "deploy", write_design(tmp_path, "lofn"))
    assert proc.returncode == 1
    payload = status(env, "lofn")
    assert payload["state"] == "failed"
    assert "HTTP 401" in payload["reason"] and "executor.token" in payload["reason"]
    for text in (proc.stdout, proc.stderr, json.dumps(payload)):
        assert wrong not in text


def test_cancel_while_awx_runs_the_job_ends_canceled(
    awx: AwxDouble, through_awx: dict[str, str], tmp_path: Path
) -> None:
    deploy = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "deploy", write_design(tmp_path, "gefjon")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=through_awx,
    )
    assert deploy.stdout is not None
    try:
        for line in deploy.stdout:
            if " -> " in line and " ssh" in line:  # the instance exists; the job is well under way
                break
        else:
            pytest.fail(f"the deployment ended before its ssh stage: {deploy.stderr.read() if deploy.stderr else ''}")
        assert jarvis(through_awx, "cancel", "gefjon").returncode == 0
        deploy.communicate(timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    payload = status(through_awx, "gefjon")
    assert payload["state"] == "canceled", payload["reason"]
    job = awx.jobs[max(awx.jobs)]
    assert job.status == "canceled"
    assert ("POST", f"/api/v2/jobs/{job.id}/cancel/") in awx.requests
    states = dict(stage_states(payload))
    assert states["credentials"] == states["instance"] == "changed"
