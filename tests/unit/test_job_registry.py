"""The job-handler registry and the default fan-out rule (pure, no database)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from zigznote.delivery import handlers
from zigznote.delivery.queue import Claimed
from zigznote.delivery.queue.jobs import dedupe_key
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.retry import classify
from zigznote.errors import InvalidInput


async def _echo(claim: Claimed) -> AttemptResult:
    return AttemptResult(200, None, 0)


@pytest.fixture
def registered() -> Iterator[str]:
    handlers.register("test.echo", _echo)
    yield "test.echo"
    handlers.unregister("test.echo")


def test_register_and_look_up(registered: str) -> None:
    assert handlers.handlers()["test.echo"] is _echo
    assert "test.echo" in handlers.kinds()
    handlers.unregister("test.echo")
    assert "test.echo" not in handlers.handlers()


@pytest.mark.parametrize("kind", ["webhook", "Slack.summary", "slack", "slack..x", "a." + "b" * 40, "slack.sum mary"])
def test_malformed_kinds_are_refused(kind: str) -> None:
    with pytest.raises(InvalidInput, match="invalid job kind") as info:
        handlers.register(kind, _echo)
    assert info.value.code == "invalid_job_kind"
    assert kind not in handlers.kinds()


def test_settings_rule_matches_types_and_ignores_malformed_settings() -> None:
    rule = handlers.settings_rule("slack.summary")
    settings = {"jobs": {"slack.summary": {"events": ["summary.ready"], "targets": ["C1", "", 7, "C2"]}}}
    assert rule(settings, "summary.ready", {}) == ["C1", "C2"]
    assert rule(settings, "meeting.ended", {}) == []
    assert rule({"jobs": {"slack.summary": {"events": ["*"], "targets": ["C1"]}}}, "bot.error", {}) == ["C1"]
    broken_settings: list[dict[str, Any]] = [
        {},
        {"jobs": []},
        {"jobs": {"slack.summary": "yes"}},
        {"jobs": {"slack.summary": {"events": "*"}}},
    ]
    for broken in broken_settings:
        assert rule(broken, "summary.ready", {}) == []


def test_custom_rule_is_used_for_its_kind(registered: str) -> None:
    handlers.register("test.echo", _echo, fanout=lambda settings, type_, data: [str(data["meeting_id"])])
    assert handlers.rule_for("test.echo")({}, "meeting.ended", {"meeting_id": "m-7"}) == ["m-7"]
    # A kind no handler is registered for still fans out by the settings rule.
    assert handlers.rule_for("other.kind")({"jobs": {"other.kind": {"events": ["*"], "targets": ["t"]}}}, "x", {}) == [
        "t"
    ]


def test_gone_is_the_410_outcome() -> None:
    result = handlers.gone("token revoked", duration_ms=12)
    assert (result.status_code, result.error, result.duration_ms) == (410, "token revoked", 12)
    assert classify(result.status_code, result.error) == "gone"


def test_dedupe_key_names_event_kind_and_target() -> None:
    assert dedupe_key("evt_1", "slack.summary", "C1") == "evt_1/slack.summary/C1"
