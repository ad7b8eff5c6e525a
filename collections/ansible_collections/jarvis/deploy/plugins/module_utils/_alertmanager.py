# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Silences over Alertmanager's v2 HTTP API, behind the jarvis.deploy.alertmanager_silence module."""

from __future__ import annotations

import datetime
import json
import re
import socket
import urllib.error
from urllib.parse import quote, urlsplit, urlunsplit

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

ACTIVE_STATES = ("active", "pending")
# timezone.utc, not datetime.UTC, and socket.timeout beside TimeoutError: modules also run on Python < 3.10.
_UTC = datetime.timezone.utc  # noqa: UP017
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# (isEqual, isRegex) -> the operator Alertmanager's own tools write.
_OPERATORS = {(True, False): "=", (True, True): "=~", (False, False): "!=", (False, True): "!~"}
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class AlertmanagerError(Exception):
    """A failure whose message is safe to show: it names the URL without credentials, never the password."""


def parse_duration(text):
    """Seconds in a duration like C(30m), C(2h) or C(1h30m) (units w, d, h, m, s); at least one second."""
    compact = (text or "").strip().replace(" ", "")
    if not _DURATION.match(compact):
        raise AlertmanagerError(f"duration {text!r} is not a duration like 30m, 2h or 1h30m (units: w, d, h, m, s)")
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(compact))
    if seconds < 1:
        raise AlertmanagerError(f"duration {text!r} must be longer than zero: the silence would end at once")
    return seconds


def format_time(moment):
    """MOMENT (aware) as Alertmanager writes times: UTC, milliseconds, Z."""
    utc = moment.astimezone(_UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text):
    """An Alertmanager time (RFC 3339, any fraction, Z or an offset) as an aware datetime; None if unreadable."""
    match = _TIMESTAMP.match(text or "")
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    moment = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    moment = moment.replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))
    if zone == "Z":
        return moment.replace(tzinfo=_UTC)
    sign = 1 if zone[0] == "+" else -1
    offset = datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment.replace(tzinfo=datetime.timezone(sign * offset))


def normalise_matchers(matchers):
    """MATCHERS in the API's form, sorted and de-duplicated, so equal sets compare equal."""
    seen = {}
    for matcher in matchers or []:
        name = matcher.get("name")
        value = matcher.get("value")
        if not name:
            raise AlertmanagerError(f"matcher {matcher!r} needs a name")
        if value is None:
            raise AlertmanagerError(f"matcher {name!r} needs a value")
        # The module hands over is_regex/is_equal (their aliases copied in), the API isRegex/isEqual.
        is_regex = matcher["is_regex"] if "is_regex" in matcher else matcher.get("isRegex")
        is_equal = matcher["is_equal"] if "is_equal" in matcher else matcher.get("isEqual")
        clean = {
            "name": name,
            "value": value,
            "isRegex": bool(is_regex) if is_regex is not None else False,
            # Alertmanager before 0.22 knows no negative matchers and leaves isEqual out: it means true.
            "isEqual": bool(is_equal) if is_equal is not None else True,
        }
        seen[(clean["name"], clean["value"], clean["isRegex"], clean["isEqual"])] = clean
    return [seen[key] for key in sorted(seen)]


def describe_matchers(matchers):
    """MATCHERS the way Alertmanager's UI and amtool write them: instance="a", job=~"b.*"."""
    parts = [
        f"{matcher['name']}{_OPERATORS[matcher['isEqual'], matcher['isRegex']]}{json.dumps(matcher['value'])}"
        for matcher in matchers
    ]
    return "{" + ", ".join(parts) + "}"


def has_tag(comment, tag):
    """Whether COMMENT carries TAG as a whole word: tag deploy-4 is not found in "deploy-42"."""
    pattern = r"(?<![\w-])" + re.escape(tag) + r"(?![\w-])"
    return re.search(pattern, comment or "") is not None


def comment_with_tag(comment, tag):
    """The comment to write: COMMENT itself when it carries TAG, else COMMENT with TAG added (the lookup key)."""
    if comment and has_tag(comment, tag):
        return comment
    if comment:
        return f"{comment} [{tag}]"
    return f"jarvis silence [{tag}]"


def redact_url(url):
    """URL without any user:password@ part, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def summary(silence):
    """The part of an API silence that the module returns and compares."""
    return {
        "id": silence.get("id"),
        "status": {"state": (silence.get("status") or {}).get("state")},
        "matchers": normalise_matchers(silence.get("matchers")),
        "startsAt": silence.get("startsAt"),
        "endsAt": silence.get("endsAt"),
        "createdBy": silence.get("createdBy"),
        "comment": silence.get("comment"),
    }


class Alertmanager:
    """One Alertmanager's v2 API; every HTTP or connection failure becomes an AlertmanagerError."""

    def __init__(self, url, username=None, password=None, validate_certs=True, timeout=10):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AlertmanagerError(f"url {redact_url(url)!r} is not an http:// or https:// URL")
        self.base = url.strip().rstrip("/")
        self.where = redact_url(self.base)
        self.username = username
        self.password = password
        self.validate_certs = validate_certs
        self.timeout = timeout

    def request(self, method, path, what, body=None):
        """Send one request to the API; return its decoded JSON answer (None when the body is empty)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(
                self.base + path,
                data=data,
                headers=headers,
                method=method,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                url_username=self.username,
                url_password=self.password,
                force_basic_auth=bool(self.username),
                follow_redirects="safe",
                use_netrc=False,
            )
            text = to_text(response.read(), errors="surrogate_or_replace")
        except urllib.error.HTTPError as exc:
            raise AlertmanagerError(self._http_error_message(exc, what)) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise AlertmanagerError(
                    f"Alertmanager at {self.where} did not answer within {self.timeout} s ({what})"
                ) from None
            detail = getattr(reason, "strerror", None) or reason
            raise AlertmanagerError(f"cannot reach Alertmanager at {self.where} ({what}): {detail}") from None
        except (socket.timeout, TimeoutError):  # noqa: UP041
            raise AlertmanagerError(
                f"Alertmanager at {self.where} did not answer within {self.timeout} s ({what})"
            ) from None
        except (UrlsConnectionError, OSError) as exc:
            detail = getattr(exc, "strerror", None) or exc
            raise AlertmanagerError(f"cannot reach Alertmanager at {self.where} ({what}): {detail}") from None
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise AlertmanagerError(
                f"Alertmanager at {self.where} answered something that is not JSON ({what}): {text[:200]!r}"
            ) from None

    def _http_error_message(self, exc, what):
        try:
            raw = exc.read()
        except Exception:  # the body of an error is a courtesy; the status alone still explains
            raw = b""
        text = to_text(raw or b"", errors="surrogate_or_replace").strip()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = text
        if isinstance(answer, dict):
            answer = answer.get("message") or answer.get("error") or text
        reason = f"HTTP {exc.code} {exc.reason}" if exc.reason else f"HTTP {exc.code}"
        message = f"Alertmanager at {self.where} answered {reason} ({what})"
        if answer:
            message += f": {str(answer)[:500]}"
        if exc.code == 401:
            message += " - check username and password" if self.username else " - it wants a username and password"
        return message

    def silences(self):
        """Every silence Alertmanager knows, expired ones included."""
        answer = self.request("GET", "/api/v2/silences", "listing silences")
        if not isinstance(answer, list):
            raise AlertmanagerError(f"Alertmanager at {self.where} did not answer a list of silences")
        return answer

    def silence(self, silence_id):
        return self.request("GET", f"/api/v2/silence/{quote(silence_id)}", f"reading silence {silence_id}")

    def create(self, silence):
        """Create SILENCE; return its new id."""
        answer = self.request("POST", "/api/v2/silences", "creating a silence", body=silence)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not silence_id:
            raise AlertmanagerError(f"Alertmanager at {self.where} created a silence but gave no silenceID")
        return silence_id

    def expire(self, silence_id):
        self.request("DELETE", f"/api/v2/silence/{quote(silence_id)}", f"expiring silence {silence_id}")


def tagged_active(silences, tag):
    """The active or pending silences whose comment carries TAG, in the API's order."""
    return [
        summary(silence)
        for silence in silences
        if (silence.get("status") or {}).get("state") in ACTIVE_STATES and has_tag(silence.get("comment"), tag)
    ]


def _latest(silences):
    """The silence that ends last (the one to report when several match)."""
    far_past = datetime.datetime.min.replace(tzinfo=_UTC)
    return max(silences, key=lambda silence: parse_time(silence["endsAt"]) or far_past)


def _describe(silence):
    return f"{describe_matchers(silence['matchers'])} until {silence['endsAt']}"


def run_alertmanager_silence(module):
    """Bring our silence to the wanted state and exit the module with the silence, actions and diff."""
    params = module.params
    state = params["state"]
    tag = (params["tag"] or "").strip()
    silence = {}
    expired = []
    actions = []
    before = after = []
    try:
        if not tag:
            raise AlertmanagerError("tag must not be empty: it is how the module finds its own silence again")
        seconds = parse_duration(params["duration"]) if state == "present" else None
        matchers = normalise_matchers(params["matchers"]) if state == "present" else []
        if state == "present" and not matchers:
            raise AlertmanagerError("matchers must hold at least one matcher when state=present")
        api = Alertmanager(
            params["url"],
            username=params["username"],
            password=params["password"],
            validate_certs=params["validate_certs"],
            timeout=params["timeout"],
        )
        before = tagged_active(api.silences(), tag)
        after = list(before)

        if state == "present":
            ours = [candidate for candidate in before if candidate["matchers"] == matchers]
            if ours:
                silence = _latest(ours)
            else:
                now = datetime.datetime.now(_UTC)
                wanted = {
                    "matchers": matchers,
                    "startsAt": format_time(now),
                    "endsAt": format_time(now + datetime.timedelta(seconds=seconds)),
                    "createdBy": params["created_by"],
                    "comment": comment_with_tag(params["comment"], tag),
                }
                actions.append(f"create silence {describe_matchers(matchers)} for {params['duration']} [{tag}]")
                if module.check_mode:
                    silence = summary(dict(wanted, id=None, status={"state": None}))
                else:
                    silence = summary(api.silence(api.create(wanted)) or {})
                after.append(silence)
        else:
            for candidate in before:
                actions.append(f"expire silence {candidate['id']} {_describe(candidate)} [{tag}]")
                if not module.check_mode:
                    api.expire(candidate["id"])
                expired.append(candidate["id"])
            after = []
    except AlertmanagerError as exc:
        module.fail_json(msg=str(exc))

    result = {
        "changed": bool(actions),
        "silence": silence,
        "silences_expired": expired,
        "actions": actions,
    }
    if module._diff:
        result["diff"] = {"before": {"silences": before}, "after": {"silences": after}}
    module.exit_json(**result)
