"""The AWX executor against the AWX double (tests/support/awx_double.py), without the sandbox.

AWX cannot run here; the double serves the job templates of awx/assets.yml and really runs their
playbooks with ansible-runner. No sandbox server is up, so these jobs end early (the production_check stage
finds no CMDB to read), which is enough to see what jarvis sends, how events come back (in counter
order, across pages, late and shuffled), and how refusals, bad tokens, cancels and timeouts end.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orchestrator import awx as awx_module
from orchestrator.awx import AwxExecutor
from orchestrator.config import Config
from orchestrator.design import parse_design
from orchestrator.errors import ConfigError, DeploymentError
from orchestrator.job import Job
from orchestrator.stages import playbook_stages
from sandbox._process import free_port
from tests.support.awx_double import AwxDouble, load_assets

TOKEN = "awx-t0ken-never-shown"
DESIGN = """
instance: {hostname: loki, fqdn: loki.websages.com, provider: EC2, guestid: ami-0123456789abcdef0,
           datacenter: Atlanta, size: 512}
"""


def make_job(tmp_path: Path, kind: str = "deploy", from_stage: str | None = None) -> Job:
    stages = list(playbook_stages("deploy" if kind == "plan" else kind))
    if from_stage:
        stages = [
            stage
            for stage in stages
            if stage.id in ("production_check", "credentials")
            or stages.index(stage) >= [s.id for s in stages].index(from_stage)
        ]
    return Job(
        private_dir=tmp_path / "run",
        ident="20260101-000000-abcdef",
        kind=kind,
        hosts=parse_design(DESIGN, "test").hosts,
        stages=stages,
        site_vars={"jarvis_secrets_dir": str(tmp_path / "secrets"), "jarvis_vault_password_file": "/nonexistent"},
        host_vars={"loki": {"jarvis_ip": "10.0.0.9"}},
        credentials={"dns": {"key_secret": "tsig-secret-value"}},
    )


@pytest.fixture
def double(tmp_path: Path) -> Iterator[AwxDouble]:
    with AwxDouble(token=TOKEN, credentials=[], work_dir=tmp_path / "awx", event_delay=0.2) as running:
        yield running


def executor(double: AwxDouble, **options: Any) -> AwxExecutor:
    return AwxExecutor(url=double.url, token=TOKEN, poll_interval=0.1, **options)


def test_launch_sends_the_design_and_events_come_back_in_order_across_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(awx_module, "PAGE_SIZE", 4)
    job = make_job(tmp_path)
    events: list[dict[str, Any]] = []
    with AwxDouble(
        token=TOKEN, credentials=[], work_dir=tmp_path / "awx", event_delay=0.3, shuffle_events=True
    ) as double:
        status = executor(double).execute(job, events.append, lambda: False)
        stored = double.jobs[1].events
    assert status == "failed"  # no CMDB here: the production_check stage, the first, fails
    assert [event["counter"] for event in events] == list(range(1, len(stored) + 1))
    (launch,) = double.launches
    assert launch["extra_vars"]["instances"] == job.hosts
    assert launch["extra_vars"]["jarvis_host_vars"] == job.host_vars
    assert launch["extra_vars"]["jarvis_secrets_dir"] == job.site_vars["jarvis_secrets_dir"]
    assert (launch["job_type"], launch["skip_tags"]) == ("run", "")
    assert "tsig-secret-value" not in json.dumps(launch), "credentials are AWX's, never sent"
    failed = [event for event in events if event["event"] == "runner_on_failed"]
    assert failed and failed[0]["event_data"]["host"] == "loki"
    assert failed[0]["event_data"]["task_path"].split(":")[0].endswith("/roles/pipeline/tasks/production_check.yml")
    assert set(events[0]) >= {"event", "event_data", "counter", "uuid", "stdout"}
    pages = [path for method, path in double.requests if path.endswith("/job_events/")]
    assert len(pages) > 1


def test_a_resume_skips_done_stages_and_a_plan_is_a_check_job_with_diff(double: AwxDouble, tmp_path: Path) -> None:
    executor(double).execute(make_job(tmp_path, from_stage="dns"), lambda event: None, lambda: False)
    executor(double).execute(make_job(tmp_path, kind="plan"), lambda event: None, lambda: False)
    resume, plan = double.launches
    assert resume["skip_tags"] == "instance,address,ssh" and resume["job_type"] == "run"
    assert double.jobs[1].options["skip_tags"] == "instance,address,ssh"
    assert (plan["job_type"], plan["diff_mode"]) == ("check", True)
    assert double.jobs[2].template["name"] == "jarvis deploy"


def test_a_wrong_token_is_refused_without_showing_it(double: AwxDouble, tmp_path: Path) -> None:
    wrong = AwxExecutor(url=double.url, token="not-" + TOKEN)
    with pytest.raises(DeploymentError) as caught:
        wrong.execute(make_job(tmp_path), lambda event: None, lambda: False)
    message = str(caught.value)
    assert "HTTP 401" in message and "Authentication credentials were not provided" in message
    assert TOKEN not in message and "executor.token" in message
    assert not double.launches


def test_a_refused_launch_says_what_awx_wants(tmp_path: Path) -> None:
    assets = load_assets()
    deploy = assets["job_templates"][0]
    deploy["related"]["survey_spec"]["spec"][0]["required"] = True
    with AwxDouble(token=TOKEN, credentials=[], work_dir=tmp_path / "awx", assets=assets) as double:
        with pytest.raises(DeploymentError) as caught:
            executor(double).execute(make_job(tmp_path), lambda event: None, lambda: False)
        assert not double.jobs
    assert "HTTP 400" in str(caught.value)
    assert "variables_needed_to_start: 'design_hostname' value missing" in str(caught.value)


def test_a_template_that_would_drop_skip_tags_is_not_launched(tmp_path: Path) -> None:
    assets = load_assets()
    assets["job_templates"][0]["ask_skip_tags_on_launch"] = False
    with AwxDouble(token=TOKEN, credentials=[], work_dir=tmp_path / "awx", assets=assets) as double:
        with pytest.raises(DeploymentError, match="does not prompt for skip_tags on launch"):
            executor(double).execute(make_job(tmp_path, from_stage="dns"), lambda event: None, lambda: False)
        assert not double.launches


def test_templates_by_name_or_id(double: AwxDouble, tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="has no job template named 'jarvis deploy v2'"):
        executor(double, job_templates={"deploy": "jarvis deploy v2"}).execute(
            make_job(tmp_path), lambda event: None, lambda: False
        )
    with pytest.raises(DeploymentError, match="has no job template with id 99"):
        executor(double, job_templates={"deploy": 99}).execute(make_job(tmp_path), lambda event: None, lambda: False)
    executor(double, job_templates={"destroy": 3}).execute(
        make_job(tmp_path, kind="destroy"), lambda event: None, lambda: False
    )
    assert double.jobs[1].template["name"] == "jarvis destroy"


def test_awx_out_of_reach_or_not_speaking_json(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match=r"cannot reach AWX at http://127\.0\.0\.1:\d+: .*refused"):
        AwxExecutor(url=f"http://127.0.0.1:{free_port()}", token=TOKEN).execute(
            make_job(tmp_path), lambda event: None, lambda: False
        )

    class Html(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<html>a login page</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(
            DeploymentError, match="answered GET /api/v2/job_templates/ with something that is not JSON"
        ):
            AwxExecutor(url=f"http://127.0.0.1:{server.server_address[1]}", token=TOKEN).execute(
                make_job(tmp_path), lambda event: None, lambda: False
            )
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slow_double(tmp_path: Path) -> Iterator[AwxDouble]:
    """The double with a deploy template whose playbook takes long (a stand-in for a real deployment)."""
    playbook = tmp_path / "slow.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: started}\n"
        "    - ansible.builtin.command: sleep 60\n"
    )
    assets = copy.deepcopy(load_assets())
    assets["job_templates"][0]["playbook"] = str(playbook)
    with AwxDouble(token=TOKEN, credentials=[], work_dir=tmp_path / "awx", assets=assets) as double:
        yield double


def test_cancel_reaches_awx_and_the_job_ends_canceled(slow_double: AwxDouble, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    status = executor(slow_double).execute(make_job(tmp_path), events.append, lambda: len(events) >= 3)
    assert status == "canceled"
    assert slow_double.jobs[1].status == "canceled"
    assert ("POST", "/api/v2/jobs/1/cancel/") in slow_double.requests


def test_a_job_over_its_time_is_canceled_as_timeout(slow_double: AwxDouble, tmp_path: Path) -> None:
    status = executor(slow_double, timeout=1.0).execute(make_job(tmp_path), lambda event: None, lambda: False)
    assert status == "timeout"
    assert slow_double.jobs[1].status == "canceled"


def test_awx_going_away_mid_job_is_waited_for_then_given_up(
    slow_double: AwxDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(awx_module, "OUTAGE_LIMIT", 1.0)
    server = slow_double._server
    assert server is not None

    def first_event(event: dict[str, Any]) -> None:
        server.shutdown()  # AWX restarts, or the network between goes away
        server.server_close()

    with pytest.raises(DeploymentError, match=r"cannot reach AWX .*gave up following AWX job 1, which may still be"):
        executor(slow_double).execute(make_job(tmp_path), first_event, lambda: False)
    assert slow_double.jobs[1].status == "running"
    slow_double._server = None  # stop() ends the job itself


def test_a_job_awx_could_not_run_fails_with_awx_reason(
    double: AwxDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> str:
        raise RuntimeError("receptor is not answering")

    monkeypatch.setattr(AwxDouble, "_run_playbook", broken)
    with pytest.raises(DeploymentError, match="ended in error: The job could not run. - RuntimeError: receptor"):
        executor(double).execute(make_job(tmp_path), lambda event: None, lambda: False)
    assert double.jobs[1].status == "error"


def config(**executor_section: Any) -> tuple[dict[str, Any], Config]:
    return {"type": "awx", **executor_section}, Config(path=Path("/etc/jarvis/config.yml"))


def test_from_config_defaults_and_refusals(tmp_path: Path) -> None:
    made = AwxExecutor.from_config(*config(url="https://awx.example.com/", token=TOKEN))
    assert made.url == "https://awx.example.com" and made.verify is True and made.poll_interval == 1.0
    assert made.job_templates == {"deploy": "jarvis deploy", "redeploy": "jarvis redeploy", "destroy": "jarvis destroy"}
    assert TOKEN not in repr(made)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    made = AwxExecutor.from_config(
        *config(url="https://awx", token=TOKEN, verify=str(ca), job_templates={"deploy": 7}, timeout=3600)
    )
    assert (made.verify, made.job_templates["deploy"], made.timeout) == (str(ca), 7, 3600.0)
    for section, message in [
        ({"token": TOKEN}, "executor.url: expected AWX's http"),
        ({"url": "https://awx"}, "executor.token: AWX needs an OAuth2 token"),
        ({"url": "https://awx", "token": TOKEN, "templates": {}}, "unknown key 'templates'"),
        ({"url": "https://awx", "token": TOKEN, "job_templates": {"plan": "x"}}, "executor.job_templates"),
        ({"url": "https://awx", "token": TOKEN, "verify": str(tmp_path / "nope.pem")}, "no CA bundle"),
        ({"url": "https://awx", "token": TOKEN, "poll_interval": 0}, "poll_interval: expected a positive"),
    ]:
        with pytest.raises(ConfigError, match=message):
            AwxExecutor.from_config(*config(**section))


def test_site_vars_of_the_awx_side_replace_or_drop_jarvis_local_settings(tmp_path: Path) -> None:
    section, cfg = config(
        url="https://awx",
        token=TOKEN,
        site_vars={"jarvis_secrets_dir": "/runner/jarvis/secrets", "jarvis_vault_password_file": None},
    )
    made = AwxExecutor.from_config(section, cfg)
    extra = made._launch_request(make_job(tmp_path), made.site_vars)["extra_vars"]
    assert extra["jarvis_secrets_dir"] == "/runner/jarvis/secrets"
    assert "jarvis_vault_password_file" not in extra
    with pytest.raises(ConfigError, match="site_vars: expected a mapping"):
        AwxExecutor.from_config(*config(url="https://awx", token=TOKEN, site_vars=["x"]))
