"""Slack auto-send end to end: `slack settings --auto-send` through the CLI, `summary.ready`
enqueues a `slack.summary` job, `zigznote worker sweep` posts the Block Kit summary to the
loopback fake Slack (tests/support/fake_slack.py, reached over real HTTP via SLACK_API_BASE).
A revoked token holds the job until `slack connect` releases it; a retry after a partial post
sends only the missing messages; a lost result or a lost lease never re-posts. SQLite and
Postgres (the `cli` fixture runs each test on both)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.cli._webhooks_support import sql
from tests.conftest import Cli
from tests.support.fake_slack import FakeSlack, SlackRequest
from tests.support.fake_slack_api import Reply
from tests.support.provider_helpers import attempts, import_and_emit, jobs, point_at, sweep_until
from zigznote import errors
from zigznote.config import load_settings
from zigznote.delivery import handlers
from zigznote.delivery.queue import Claimed, claim
from zigznote.delivery.result import AttemptResult
from zigznote.integrations.slack import handlers as slack_job
from zigznote.integrations.slack.blocks import summary_messages
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import MasterKey, Vault

KIND = "slack.summary"
CHANNEL = "C0GENERAL1"  # a public channel the fake's bot is a member of
OUTSIDER = "C0RANDOM01"  # a public channel the bot is not in
BOT_SCOPES = ("chat:write", "channels:read", "groups:read")  # no chat:write.public


def _meeting(external_id: str, *, paragraphs: int = 1) -> dict[str, Any]:
    para = " ".join(f"w{external_id}-{i}" for i in range(300))
    return {
        "external_id": external_id,
        "title": f"Planning {external_id}",
        "started_at": "2026-01-05T10:00:00Z",
        "ended_at": "2026-01-05T11:00:00Z",
        "url": f"https://app.example.com/meetings/{external_id}",
        "summary": "\n\n".join(para for _ in range(paragraphs)),
        "participants": [{"name": "Ana", "email": "ana@example.com"}],
        "action_items": [{"text": f"Ship {external_id}", "assignee_email": "ana@example.com"}],
    }


@pytest.fixture
def fake(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The fake Slack with SLACK_* pointing at it, fast retries, org `acme`, Slack connected with
    a bot token (`slack connect --token-stdin`) and auto-send on to CHANNEL."""
    with FakeSlack() as fake:
        point_at(monkeypatch, fake)
        monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "50ms,50ms")  # an attempt and two retries
        cli.ok("orgs", "create", "acme")
        connect(cli, fake)
        settings = cli.ok("--org", "acme", "slack", "settings", "--channel", CHANNEL, "--auto-send")
        assert settings == {
            "channel_id": CHANNEL,
            "channel_name": "general",
            "auto_send": True,
            "rule": {"events": ["summary.ready"], "targets": [CHANNEL]},
        }
        yield fake


def connect(cli: Cli, fake: FakeSlack) -> dict[str, Any]:
    token = fake.install(scopes=BOT_SCOPES)["access_token"]
    return dict(cli.ok("--org", "acme", "slack", "connect", "--token-stdin", input=token))


def status_of(cli: Cli, job_id: str) -> str:
    return str(cli.ok("--org", "acme", "jobs", "show", job_id)["status"])


def expected(cli: Cli, external_id: str) -> list[dict[str, Any]]:
    """The messages `send_summary` builds for the stored meeting (what Slack must receive)."""
    return [dict(m) for m in summary_messages(cli.ok("--org", "acme", "meetings", "show", external_id))]


def assert_posted(posted: list[dict[str, Any]], messages: list[dict[str, Any]], channel: str = CHANNEL) -> None:
    """``posted`` (the fake's records) are exactly ``messages``: the first in the channel, the
    others as replies in its thread."""
    assert len(posted) == len(messages)
    first = posted[0]["ts"]
    for i, (got, want) in enumerate(zip(posted, messages, strict=True)):
        thread = {} if i == 0 else {"thread_ts": first}
        assert got == {"channel": channel, "text": want["text"], "blocks": want["blocks"], **thread, "ts": got["ts"]}


def job_state(cli: Cli, job_id: str) -> dict[str, Any] | None:
    rows = sql(cli.db_url, "SELECT state FROM job_state WHERE delivery_id = :id", id=job_id)
    if not rows:
        return None
    value = rows[0][0]
    return dict(json.loads(value) if isinstance(value, str) else value)


def test_summary_ready_posts_the_summary_through_worker_sweep(cli: Cli, fake: FakeSlack) -> None:
    event = import_and_emit(cli, _meeting("m-1"))
    cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-1"}')  # no rule
    [job] = jobs(cli)
    assert (job["kind"], job["target"], job["event_id"], job["status"]) == (KIND, CHANNEL, event["id"], "pending")
    assert fake.messages == []

    cli.ok("worker", "sweep")

    assert_posted(fake.messages, expected(cli, "m-1"))
    assert len(fake.messages) == 1
    assert fake.messages[0]["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Planning m-1"}}
    ts = fake.messages[0]["ts"]
    assert cli.ok("--org", "acme", "jobs", "show", job["id"])["status"] == "succeeded"
    assert attempts(cli, job["id"]) == [(1, 200, None, f"posted 1 message(s) to {CHANNEL} (ts {ts})")]
    assert job_state(cli, job["id"]) == {"channel": CHANNEL, "sent": {"0": ts}, "complete": True, "attempts": 0}
    # The bot token went as a bearer token, never in a body.
    [post] = fake.calls("chat.postMessage")
    assert post.token is not None and post.token not in json.dumps(post.json)
    cli.ok("orgs", "delete", "acme", "--force")  # the state goes with its job (ON DELETE CASCADE)
    assert sql(cli.db_url, "SELECT count(*) FROM job_state")[0][0] == 0


def test_revoked_token_holds_the_job_until_slack_connect_releases_it(cli: Cli, fake: FakeSlack) -> None:
    fake.revoke_all()
    import_and_emit(cli, _meeting("m-2"))
    cli.ok("worker", "sweep")

    [job] = jobs(cli)
    assert job["status"] == "held"
    [(number, status, error, _)] = attempts(cli, job["id"])
    assert (number, status) == (1, 410)
    assert error.startswith("slack credentials_rejected: Slack refused the access token (chat.postMessage: ")
    assert "slack connect" in error  # the hint says what repairs it
    [rule] = cli.ok("--org", "acme", "jobs", "rules", "list")
    assert (rule["kind"], rule["held"], rule["held_reason"]) == (KIND, True, error)
    assert cli.ok("--org", "acme", "slack", "status")["status"] == "error"
    # Another summary while held: queued held, not tried.
    import_and_emit(cli, _meeting("m-3"))
    cli.ok("worker", "sweep")
    assert [j["status"] for j in jobs(cli)] == ["held", "held"]
    assert fake.messages == []

    connected = connect(cli, fake)
    assert connected["released_jobs"] == 2
    assert [j["status"] for j in jobs(cli)] == ["pending", "pending"]
    cli.ok("worker", "sweep")

    assert [j["status"] for j in jobs(cli)] == ["succeeded", "succeeded"]
    by_title = {m["blocks"][0]["text"]["text"]: m for m in fake.messages}
    assert sorted(by_title) == ["Planning m-2", "Planning m-3"]
    assert_posted([by_title["Planning m-2"]], expected(cli, "m-2"))
    assert_posted([by_title["Planning m-3"]], expected(cli, "m-3"))
    assert [a[1] for a in attempts(cli, job["id"])] == [410, 200]
    assert cli.ok("--org", "acme", "jobs", "rules", "list")[0]["held"] is False


def fail_second_post_once(fake: FakeSlack) -> None:
    """The fake answers the 2nd chat.postMessage call ever made with HTTP 500 internal_error."""
    original = fake.handle
    count = itertools.count(1)

    def handle(req: SlackRequest) -> Reply:
        if req.method == "chat.postMessage" and next(count) == 2:
            with fake.lock:
                fake.requests.append(req)
            return Reply({"ok": False, "error": "internal_error"}, 500)
        return original(req)

    fake.handle = handle  # type: ignore[method-assign]


def test_a_retry_after_a_partial_post_sends_only_the_missing_messages(cli: Cli, fake: FakeSlack) -> None:
    import_and_emit(cli, _meeting("m-4", paragraphs=12))  # ~27,000 characters: three messages
    messages = expected(cli, "m-4")
    assert len(messages) == 3
    fail_second_post_once(fake)

    cli.ok("worker", "sweep")  # message 1 posted, message 2 refused: a failed attempt
    [job] = jobs(cli)
    assert len(fake.messages) == 1
    first = fake.messages[0]["ts"]
    assert job_state(cli, job["id"]) == {"channel": CHANNEL, "sent": {"0": first}, "complete": False, "attempts": 0}
    [(number, status, error, _)] = attempts(cli, job["id"])
    assert (number, status) == (1, None)
    assert error.startswith("slack slack_internal_error: ")
    assert "messages 1-1 were posted" in error

    sweep_until(cli, lambda: status_of(cli, job["id"]) == "succeeded")  # the retry: messages 2 and 3 only

    assert_posted(fake.messages, messages)
    assert fake.messages[0]["ts"] == first
    assert len(fake.calls("chat.postMessage")) == 4  # 1 ok, 1 refused, 2 ok: nothing posted twice
    sent = {str(i): m["ts"] for i, m in enumerate(fake.messages)}
    assert job_state(cli, job["id"]) == {"channel": CHANNEL, "sent": sent, "complete": True, "attempts": 1}
    assert [a[:2] for a in attempts(cli, job["id"])] == [(1, None), (2, 200)]


def test_not_in_channel_fails_with_the_hint_and_jobs_retry_sends_it_after_the_fix(cli: Cli, fake: FakeSlack) -> None:
    assert (fake.channel_pages[0][1]["id"], fake.channel_pages[0][1]["is_member"]) == (OUTSIDER, False)
    cli.ok("--org", "acme", "slack", "settings", "--channel", OUTSIDER)  # the rule follows the channel
    import_and_emit(cli, _meeting("m-5"))
    sweep_until(cli, lambda: jobs(cli)[0]["status"] == "failed")  # the attempt and its two retries
    [job] = jobs(cli)
    assert (job["target"], job["status"]) == (OUTSIDER, "failed")
    errors = [a[2] for a in attempts(cli, job["id"])]
    assert len(errors) == 3 and len(set(errors)) == 1
    assert errors[0].startswith("slack not_in_channel: the Slack app is not a member of the channel")
    assert "/invite @<bot>" in errors[0] and "chat:write.public" in errors[0]
    assert fake.messages == []

    # Someone invited the bot (a new dict: the fake's default channel objects are shared).
    fake.channel_pages[0][1] = {**fake.channel_pages[0][1], "is_member": True}
    cli.ok("--org", "acme", "jobs", "retry", job["id"])
    cli.ok("worker", "sweep")
    assert cli.ok("--org", "acme", "jobs", "show", job["id"])["status"] == "succeeded"
    assert_posted(fake.messages, expected(cli, "m-5"), channel=OUTSIDER)


def test_an_unknown_meeting_is_a_failed_attempt_naming_it(cli: Cli, fake: FakeSlack) -> None:
    cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "nope"}')
    cli.ok("worker", "sweep")
    [job] = jobs(cli)
    [(_, status, error, _)] = attempts(cli, job["id"])
    assert status is None
    assert error.startswith("slack meeting_not_found: meeting 'nope' not found in this organization")
    assert fake.calls("chat.postMessage") == []


# ---------------------------------------------------------------------------------------------
# The handler on claims taken by hand: a lost result, a lost lease, a replay
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def context(cli: Cli, env: dict[str, str], fake: FakeSlack) -> Iterator[handlers.JobContext]:
    db = Database(cli.db_url)
    vault = Vault([MasterKey(base64.b64decode(env["ZIGZNOTE_MASTER_KEY"]), "env")])
    yield handlers.JobContext(db=db, vault=vault, settings=load_settings())
    db.dispose()


def take(context: handlers.JobContext, *, later: float = 0.0) -> Claimed:
    """Claim the one due job as a worker would (``later``: as if that many seconds had passed,
    so an unexpired lease counts as lapsed)."""
    [claimed] = claim(context.db.engine, limit=10, lease_seconds=30, now=utcnow() + timedelta(seconds=later))
    return claimed


def test_a_finished_post_whose_result_was_lost_is_not_posted_again(
    cli: Cli, fake: FakeSlack, context: handlers.JobContext
) -> None:
    import_and_emit(cli, _meeting("m-6", paragraphs=12))
    first = take(context)
    done = slack_job.run(context, first)  # the worker "dies" before writing this result
    assert done.status_code == 200
    assert len(fake.messages) == 3

    again = take(context, later=31)  # the lease lapsed: claimed anew, no attempt recorded
    assert (again.id, again.attempts) == (first.id, 0)
    result = slack_job.run(context, again)

    assert (result.status_code, result.error) == (200, None)
    assert result.response_excerpt == (
        f"posted 3 message(s) to {CHANNEL} (ts {fake.messages[0]['ts']}), recorded by an earlier attempt"
    )
    assert len(fake.messages) == 3


def test_a_lost_lease_stops_posting_after_the_current_message(
    cli: Cli, fake: FakeSlack, context: handlers.JobContext
) -> None:
    import_and_emit(cli, _meeting("m-7", paragraphs=12))
    stale = take(context)
    current = take(context, later=31)  # another worker took the job over
    result = slack_job.run(context, stale)

    assert (result.status_code, result.error) == (None, "lost the job's lease after posting message 1; stopped")
    assert len(fake.messages) == 1
    assert job_state(cli, stale.id) is None  # the stale claim recorded nothing
    # The worker holding the lease posts everything (it could not know of message 1: the one
    # duplicate the module docstring allows), and records it.
    assert slack_job.run(context, current).status_code == 200
    assert len(fake.messages) == 4
    assert_posted(fake.messages[1:], expected(cli, "m-7"))


def test_jobs_retry_force_of_a_succeeded_job_posts_it_anew(cli: Cli, fake: FakeSlack) -> None:
    import_and_emit(cli, _meeting("m-8"))
    cli.ok("worker", "sweep")
    [job] = jobs(cli)
    cli.ok("--org", "acme", "jobs", "retry", job["id"], "--force")
    cli.ok("worker", "sweep")

    assert cli.ok("--org", "acme", "jobs", "show", job["id"])["status"] == "succeeded"
    assert len(fake.messages) == 2
    assert fake.messages[0]["ts"] != fake.messages[1]["ts"]
    assert_posted(fake.messages[1:], expected(cli, "m-8"))
    assert job_state(cli, job["id"]) == {
        "channel": CHANNEL,
        "sent": {"0": fake.messages[1]["ts"]},
        "complete": True,
        "attempts": 1,
    }


# ---------------------------------------------------------------------------------------------
# Pure: the error mapping and the registry
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.CredentialsRejected("Slack refused the token: token_revoked", provider="slack"), 410),
        (errors.NotFound("slack is not connected for this organization", code="not_connected"), 410),
        (errors.ConfigError("the Slack token lacks the scope chat:write", code="missing_scope"), 410),
        (errors.ConfigError("renewing the token needs SLACK_CLIENT_ID", code="slack_not_configured"), None),
        (errors.ProviderError("Slack is rate-limiting chat.postMessage", code="ratelimited"), None),
        (errors.ProviderError("cannot reach slack.com", code="provider_unreachable"), None),
        (errors.Conflict("the app is not in the channel", hint="invite the bot", code="not_in_channel"), None),
        (errors.NotFound("Slack cannot find the channel", code="channel_not_found"), None),
        (errors.NotFound("meeting 'x' not found in this organization", code="meeting_not_found"), None),
        (errors.InvalidInput("Slack refused the message: invalid_blocks", code="invalid_blocks"), None),
    ],
)
def test_outcome_of_each_error(error: errors.ZigznoteError, status: int | None) -> None:
    result = slack_job.outcome_of(error, duration_ms=7)
    hint = f" ({error.hint})" if error.hint else ""
    assert (result.status_code, result.error, result.duration_ms) == (
        status,
        f"slack {error.code}: {error.message}{hint}",
        7,
    )


def test_factories_are_built_with_the_context_and_a_broken_one_fails_its_attempts() -> None:
    assert KIND in handlers.kinds()
    assert KIND not in handlers.handlers()  # a factory kind needs a worker's context
    seen: list[handlers.JobContext] = []

    def built(context: handlers.JobContext) -> handlers.JobHandler:
        seen.append(context)
        return slack_job.factory(context)

    def broken(context: handlers.JobContext) -> handlers.JobHandler:
        raise RuntimeError("no client id")

    nothing: Any = None  # the factories here never touch the context
    context = handlers.JobContext(db=nothing, vault=nothing, settings=nothing)
    handlers.register_factory("test.built", built)
    handlers.register_factory("test.broken", broken)
    try:
        made = handlers.handlers(context)
        assert seen == [context]
        assert {KIND, "test.built", "test.broken"} <= set(made)

        async def attempt() -> AttemptResult:
            return await made["test.broken"](nothing)

        result = asyncio.run(attempt())
        assert (result.status_code, result.error) == (
            None,
            "the test.broken handler could not be set up: RuntimeError: no client id",
        )
    finally:
        handlers.unregister("test.built")
        handlers.unregister("test.broken")
