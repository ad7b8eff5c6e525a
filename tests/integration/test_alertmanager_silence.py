"""jarvis.deploy.alertmanager_silence against the sandbox's real Alertmanager, through ansible-playbook."""

from __future__ import annotations

import base64
import datetime
import json
import urllib.request
import uuid
from typing import Any

import pytest

from sandbox._process import free_port
from sandbox.alertmanager import AlertmanagerInfo
from tests.support.ansible import run_module

pytestmark = pytest.mark.integration


def api(info: AlertmanagerInfo, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Ask Alertmanager itself, to check what the module did."""
    request = urllib.request.Request(f"{info.url}{path}", method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if info.password is not None:
        login = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {login}")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the sandbox's loopback URL
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


def silences_with(info: AlertmanagerInfo, word: str) -> list[dict[str, Any]]:
    """Every silence (expired ones too) whose comment mentions WORD."""
    return [silence for silence in api(info, "GET", "/api/v2/silences") if word in silence["comment"]]


def create_silence(info: AlertmanagerInfo, comment: str, instance: str) -> str:
    """A silence made without the module: the module must find it by its tag all the same."""
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "matchers": [{"name": "instance", "value": instance, "isRegex": False}],
        "startsAt": now.isoformat(),
        "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
        "createdBy": "someone",
        "comment": comment,
    }
    silence_id: str = api(info, "POST", "/api/v2/silences", body)["silenceID"]
    return silence_id


def parse(timestamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(timestamp)


def new_tag() -> str:
    return f"deploy-{uuid.uuid4().hex[:8]}"


def assert_ok(result: dict[str, Any], changed: bool) -> None:
    assert not result.get("failed"), result.get("msg", result)
    assert result["changed"] is changed, result


def test_present_in_four_beats(alertmanager_server: AlertmanagerInfo) -> None:
    tag = new_tag()
    matcher = {"name": "instance", "value": f"{tag}.websages.com"}
    args = {"tag": tag, "comment": f"jarvis deployment {tag}", "matchers": [matcher], "duration": "2h"}
    env = alertmanager_server.env()
    expected_matchers = [{**matcher, "isRegex": False, "isEqual": True}]

    check = run_module("alertmanager_silence", args, check=True, diff=True, env=env)
    assert_ok(check, changed=True)
    assert check["actions"] == [f'create silence {{instance="{tag}.websages.com"}} for 2h [{tag}]']
    assert check["silence"]["id"] is None
    assert check["diff"]["before"] == {"silences": []}
    assert check["diff"]["after"]["silences"][0]["matchers"] == expected_matchers
    assert silences_with(alertmanager_server, tag) == []

    created = run_module("alertmanager_silence", args, env=env)
    assert_ok(created, changed=True)
    [served] = silences_with(alertmanager_server, tag)
    assert served["id"] == created["silence"]["id"]
    assert served["status"]["state"] == "active"
    assert served["matchers"] == expected_matchers
    assert served["comment"] == f"jarvis deployment {tag}"
    assert served["createdBy"] == "jarvis"
    in_two_hours = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)
    assert abs(parse(served["endsAt"]) - in_two_hours) < datetime.timedelta(seconds=30)
    assert created["silence"]["endsAt"] == served["endsAt"]

    again = run_module("alertmanager_silence", args, check=True, env=env)
    assert_ok(again, changed=False)
    assert again["actions"] == []
    assert again["silence"]["id"] == served["id"]

    # A shorter duration does not shorten (nor a longer one extend) the silence that is there.
    last = run_module("alertmanager_silence", {**args, "duration": "30m"}, env=env)
    assert_ok(last, changed=False)
    assert last["silence"] == created["silence"]
    assert silences_with(alertmanager_server, tag) == [served]


def test_absent_in_four_beats_expires_every_silence_of_the_tag(alertmanager_server: AlertmanagerInfo) -> None:
    tag = new_tag()
    host = f"{tag}.websages.com"
    ours = {create_silence(alertmanager_server, f"jarvis deployment {tag}", host)}
    ours.add(create_silence(alertmanager_server, f"{tag}: its exporters too", f"{host}:9100"))
    args = {"tag": tag, "state": "absent"}
    env = alertmanager_server.env()

    check = run_module("alertmanager_silence", args, check=True, diff=True, env=env)
    assert_ok(check, changed=True)
    assert set(check["silences_expired"]) == ours
    assert len(check["actions"]) == 2
    assert all(action.startswith("expire silence ") for action in check["actions"])
    assert {s["id"] for s in check["diff"]["before"]["silences"]} == ours
    assert check["diff"]["after"] == {"silences": []}
    assert {s["status"]["state"] for s in silences_with(alertmanager_server, tag)} == {"active"}

    expired = run_module("alertmanager_silence", args, env=env)
    assert_ok(expired, changed=True)
    assert set(expired["silences_expired"]) == ours
    assert expired["silence"] == {}
    served = silences_with(alertmanager_server, tag)
    assert {s["id"] for s in served} == ours
    assert {s["status"]["state"] for s in served} == {"expired"}

    again = run_module("alertmanager_silence", args, check=True, env=env)
    assert_ok(again, changed=False)
    assert (again["silences_expired"], again["actions"]) == ([], [])
    assert_ok(run_module("alertmanager_silence", args, env=env), changed=False)


def test_two_tags_do_not_interfere(alertmanager_server: AlertmanagerInfo) -> None:
    first = new_tag()
    # The second tag starts with the first one: a tag is a whole word, not a prefix.
    second = f"{first}2"
    args = {"matchers": [{"name": "instance", "value": f"{first}.websages.com"}], "duration": "10m"}
    env = alertmanager_server.env()

    one = run_module("alertmanager_silence", {**args, "tag": first}, env=env)
    assert_ok(one, changed=True)
    assert one["silence"]["comment"] == f"jarvis silence [{first}]"
    two = run_module("alertmanager_silence", {**args, "tag": second, "comment": "second opinion"}, env=env)
    assert_ok(two, changed=True)
    assert two["silence"]["comment"] == f"second opinion [{second}]"
    assert two["silence"]["id"] != one["silence"]["id"]

    gone = run_module("alertmanager_silence", {"tag": first, "state": "absent"}, env=env)
    assert_ok(gone, changed=True)
    assert gone["silences_expired"] == [one["silence"]["id"]]
    states = {s["id"]: s["status"]["state"] for s in silences_with(alertmanager_server, first)}
    assert states == {one["silence"]["id"]: "expired", two["silence"]["id"]: "active"}


def test_basic_auth_and_no_password_in_the_output(alertmanager_server_with_password: AlertmanagerInfo) -> None:
    info = alertmanager_server_with_password
    assert info.password is not None
    tag = new_tag()
    args = {"tag": tag, "matchers": [{"name": "instance", "value": f"{tag}.websages.com"}]}

    refused = run_module("alertmanager_silence", {**args, "password": "wrong-password"}, env=info.env())
    assert refused.get("failed"), refused
    assert f"Alertmanager at {info.url} answered HTTP 401" in refused["msg"]
    assert "check username and password" in refused["msg"]
    assert "wrong-password" not in refused["_stdout"]

    created = run_module("alertmanager_silence", args, env=info.env())
    assert_ok(created, changed=True)
    assert info.password not in created["_stdout"]
    assert [s["id"] for s in silences_with(info, tag)] == [created["silence"]["id"]]


def test_unreachable_url_fails_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_module("alertmanager_silence", {"url": url, "tag": "deploy-1", "state": "absent"})
    assert result.get("failed"), result
    assert result["msg"].startswith(f"cannot reach Alertmanager at {url} (listing silences): ")
    assert "Traceback" not in result["_stdout"]


@pytest.mark.parametrize(
    ("duration", "reason"),
    [("2 hours", "is not a duration like 30m, 2h or 1h30m"), ("0m", "must be longer than zero")],
)
def test_bad_duration_fails_before_any_change(
    alertmanager_server: AlertmanagerInfo, duration: str, reason: str
) -> None:
    tag = new_tag()
    args = {"tag": tag, "matchers": [{"name": "instance", "value": "x"}], "duration": duration}
    result = run_module("alertmanager_silence", args, env=alertmanager_server.env())
    assert result.get("failed"), result
    assert result["msg"].startswith(f"duration {duration!r} {reason}")
    assert silences_with(alertmanager_server, tag) == []


def test_alertmanager_error_text_is_shown(alertmanager_server: AlertmanagerInfo) -> None:
    args = {"tag": new_tag(), "matchers": [{"name": "instance", "value": "(", "isRegex": True}]}
    result = run_module("alertmanager_silence", args, env=alertmanager_server.env())
    assert result.get("failed"), result
    assert "answered HTTP 400 Bad Request (creating a silence): silence invalid" in result["msg"]
    assert "invalid regular expression" in result["msg"]
