"""Posting: local Slack / Teams / Google Chat / generic receivers over HTTP, exactly once per day and destination."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from exporter.config.reporter import load_settings
from exporter.reporter import chat
from exporter.reporter.runner import Reporter
from exporter.reporter.store import Store
from tests.aws_helpers import account_doc
from tests.conftest import ROOT, write_config
from tests.test_reporter_fakes import KNOWN_DAY, chat_config, exporter_with_known_history, fake_llm, receivers

NOW = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.timezone.utc)
MENTIONS = ("Heads up @channel @here <!everyone> <!here> <@U123ABC> <at>Kim</at> <users/all> @everyone "
            "<<!here>!here> <<at>!channel> <<users/x>!everyone> <<users/all>users/all> @@here "
            "<https://evil.example|click to fix billing>:")
CLAIMS = [(["spike:acct-1:Amazon EC2"], "`acct-1` / `Amazon EC2` cost $50.00 on 2026-11-15."),
          (["total:yesterday"], "The fleet spent $69.35 on 2026-11-15."),
          (["total:yesterday"], f"{MENTIONS} the fleet spent $69.35 on 2026-11-15.")]
ANSWER = json.dumps({"claims": [{"facts": ids, "text": text} for ids, text in CLAIMS]})


def _reporter(tmp_path: Path, url: str, recv, llm_url: str | None = None) -> Reporter:
    chat_list, env = chat_config(recv)
    section = {"exporter_urls": [url], "database": str(tmp_path / "h.db"), "chat": chat_list}
    if llm_url:
        section["llm"] = {"base_url": f"{llm_url}/v1", "model": "m", "api_key_env": "AI_KEY", "max_attempts": 1}
        env["AI_KEY"] = "sk-very-secret"
    settings = load_settings(section, "<test>", env)
    return Reporter(settings, Store.open(settings.database), now=lambda: NOW)


def test_each_platform_gets_its_own_payload_once_per_day_without_mentions(aws, tmp_path):
    with exporter_with_known_history(aws) as url, fake_llm(default=ANSWER) as gateway, \
            receivers("slack", "teams", "google_chat", "webhook") as recv:
        r = _reporter(tmp_path, url, recv, gateway.url)
        assert r.once(KNOWN_DAY)
        assert r.once(KNOWN_DAY)  # a second run posts nothing again
        r2 = _reporter(tmp_path, url, recv, gateway.url)  # nor does a restarted reporter
        assert r2.once(KNOWN_DAY)
    assert {kind: len(rv.requests) for kind, rv in recv.items()} == {
        "slack": 1, "teams": 1, "google_chat": 1, "webhook": 1}
    assert len(gateway.requests) == 1  # no summary is composed when every destination has the day

    slack = recv["slack"].bodies[0]
    assert slack["blocks"][0] == {"type": "header", "text": {"type": "plain_text",
                                                             "text": "AWS cost summary for 2026-11-15"}}
    assert slack["blocks"][1]["type"] == "section" and slack["blocks"][1]["text"]["type"] == "mrkdwn"
    assert "$69.35" in slack["text"]
    card = recv["teams"].bodies[0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][0]["text"].startswith("AWS cost")
    google = recv["google_chat"].requests[0]
    assert parse_qs(google["query"])["messageId"][0].startswith("client-aws-ops-2026-11-15-")
    assert "$50.00" in google["body"]["text"]
    generic = recv["webhook"].requests[0]
    assert generic["headers"]["Idempotency-Key"] == generic["body"]["idempotency_key"]
    assert generic["body"]["date"] == "2026-11-15" and generic["body"]["deterministic"] is False

    everything = json.dumps([rv.bodies for rv in recv.values()], ensure_ascii=False)
    # The claim with pings and a disguised link is dropped by the claims check before chat sees it.
    assert "Heads up" not in everything and "evil.example" not in everything and "1 dropped" in everything
    # The reporter's own links are links, in each platform's syntax.
    console = "https://us-east-1.console.aws.amazon.com/costmanagement/home#/cost-explorer?chartStyle=STACK"
    assert f"<{console}&amp;costAggregate=amortizedCost&amp;" in slack["blocks"][1]["text"]["text"]
    assert f"<{console}&costAggregate=amortizedCost&" in google["body"]["text"]
    assert f"[Cost Explorer]({console}&costAggregate=amortizedCost&" in json.dumps(card, ensure_ascii=False)


def test_a_failed_post_is_retried_on_the_next_cycle_and_only_there(aws, tmp_path):
    with exporter_with_known_history(aws) as url, receivers("slack", "webhook") as recv:
        recv["slack"].fail = [500]
        r = _reporter(tmp_path, url, recv)
        assert not r.once(KNOWN_DAY)
        assert r.store.post_state(KNOWN_DAY, "slack-ops")["state"] == "failed"  # no 2xx: still due
        assert r.store.post_state(KNOWN_DAY, "webhook-ops")["state"] == "posted"
        assert r.once(KNOWN_DAY)
        assert r.once(KNOWN_DAY)
    assert len(recv["slack"].requests) == 2 and len(recv["webhook"].requests) == 1
    assert "Deterministic summary" in recv["slack"].bodies[1]["text"]  # no LLM configured: marked as such
    m = r.metrics.registry.get_sample_value
    assert m("aws_ops_reporter_posts_total", {"destination": "slack-ops", "result": "failed"}) == 1
    assert m("aws_ops_reporter_posts_total", {"destination": "slack-ops", "result": "ok"}) == 1
    assert m("aws_ops_reporter_last_post_timestamp_seconds", {"destination": "slack-ops"}) > 0


def _cli_config(tmp_path: Path, url: str, recv) -> tuple[Path, dict[str, str]]:
    chat_list, env = chat_config(recv)
    path = write_config(tmp_path, {"accounts": [account_doc(1), account_doc(2)], "reporter": {
        "exporter_urls": [url], "database": str(tmp_path / "h.db"), "chat": chat_list}})
    return path, {**os.environ, **env}


def _run_once(config: Path, env: dict[str, str], receiver_kill=None) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "exporter.reporter.cli", "--config", str(config), "--once",
                             "--date", KNOWN_DAY.isoformat()], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if receiver_kill is not None:
        receiver_kill.kill_pid = proc.pid
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_crash_between_posting_and_recording_does_not_double_post(aws, tmp_path):
    with exporter_with_known_history(aws) as url, receivers("slack", "webhook") as recv:
        config, env = _cli_config(tmp_path, url, recv)
        first = _run_once(config, env, receiver_kill=recv["slack"])  # killed while Slack holds the post
        assert first.returncode == -9
        second = _run_once(config, env, receiver_kill=recv["webhook"])  # killed while the webhook holds it
        assert second.returncode == -9
        third = _run_once(config, env)
        assert third.returncode == 0, third.stderr
    # Slack cannot deduplicate: at most once, the unknown outcome is logged, never posted twice.
    assert len(recv["slack"].requests) == 1
    assert "event=post_outcome_unknown" in second.stderr and "destination=slack-ops" in second.stderr
    # The generic webhook got the same idempotency key again, for the receiver to deduplicate.
    keys = [r["headers"]["Idempotency-Key"] for r in recv["webhook"].requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    store = Store.open(tmp_path / "h.db")
    assert store.post_state(KNOWN_DAY, "slack-ops")["state"] == "unknown"
    assert store.post_state(KNOWN_DAY, "webhook-ops")["state"] == "posted"
    # No secret anywhere: logs, SQLite.
    dump = "\n".join(store.db.iterdump())
    for secret in ("very-secret-token", "T000/B000"):
        assert secret not in first.stderr + second.stderr + third.stderr + dump


def test_google_chat_409_for_a_known_message_id_counts_as_posted(tmp_path):
    with receivers("google_chat") as recv:
        chat_list, env = chat_config(recv)
        settings = load_settings({"chat": chat_list}, "<test>", env)
        destination = settings.chat[0]
        key = chat.idempotency_key("2026-11-15", destination.name)
        body = chat.payload(destination, "t", "x", key, False, "2026-11-15")
        assert chat.post(destination, body, key) == chat.PostResult(True, 200)
        assert chat.post(destination, body, key) == chat.PostResult(True, 409, duplicate=True)
    query = parse_qs(recv["google_chat"].requests[0]["query"])  # the webhook URL's key and token kept
    assert query == {"key": ["k-secret"], "token": ["t-secret"], "messageId": [f"client-{key}"]}


def test_every_destination_keeps_the_query_its_webhook_url_carries(tmp_path):
    with receivers("slack", "teams", "google_chat", "webhook") as recv:
        chat_list, env = chat_config(recv)
        settings = load_settings({"database": str(tmp_path / "h.db"), "chat": chat_list}, "<test>", env)
        r = Reporter(settings, Store.open(settings.database), now=lambda: NOW)
        assert r.post_day(KNOWN_DAY)
    for kind, receiver in recv.items():
        query = parse_qs(receiver.requests[0]["query"])
        assert all(query[k] == v for k, v in parse_qs(receiver.url_query).items()), kind
        assert r.store.post_state(KNOWN_DAY, f"{kind.replace('_', '-')}-ops")["state"] == "posted"


# Pieces of pings: any string made of them must reach chat without one, however they nest.
PING_PIECES = ("<", ">", "!here", "!channel", "users/all", "at", "/at", "@", "@U1", "everyone")
PING_LEFT_RE = re.compile(r"<[!@][^>]*>|<users/[^>]*>|</?at\b[^>]*>|(?<!\w)@+(channel|here|everyone|all)\b",
                          re.IGNORECASE)


@pytest.mark.parametrize("platform", sorted(chat.LIMITS))
def test_no_nesting_of_pings_survives_cleaning(platform):
    for pieces in itertools.product(PING_PIECES, repeat=4):
        text = "".join(pieces)
        cleaned = chat.clean(text, platform)
        assert not PING_LEFT_RE.search(cleaned), (text, cleaned)
        if platform in ("slack", "google_chat"):  # no markup at all can form
            assert "<" not in cleaned and ">" not in cleaned, (text, cleaned)
    for nested, rest in (("<<!here>!here>", ""), ("<<at>!channel>", ""), ("<<users/x>!everyone>", ""),
                         ("<<users/all>users/all>", ""), ("@@here", "here"), ("<AT>Kim</At >", "Kim")):
        assert chat.clean(nested, platform) == rest
    assert chat.clean("R&D <b> spent", "slack") == "R&amp;D &lt;b&gt; spent"
    assert chat.clean("R&D <b> spent", "teams") == "R&D <b> spent"


def test_only_the_reporters_own_links_become_links():
    ours, theirs = "https://grafana.example/d/aws-ops-cost?viewPanel=18&var-account=a", "https://evil.example/x"
    text = f"spike<!here> — [Grafana]({ours}) · [fix billing]({theirs})"
    assert chat.clean(text, "slack", [ours]) == (
        f"spike — <{ours.replace('&', '&amp;')}|Grafana> · [fix billing]({theirs})")
    assert chat.clean(text, "google_chat", [ours]) == f"spike — <{ours}|Grafana> · [fix billing]({theirs})"
    assert chat.clean(text, "teams", [ours]) == f"spike — [Grafana]({ours}) · [fix billing]({theirs})"
    # When the text with its links would be cut, it goes without them, and without their separators.
    long = "\n".join(f"item {i} — [Grafana]({ours})" for i in range(200))
    body = chat.payload(chat.ChatDestination("g", "google_chat", "X"), "t", long, "k", False, "2026-11-15", [ours])
    assert "Grafana" not in body["text"] and "item 199" in body["text"] and "—" not in body["text"]


@pytest.mark.parametrize("platform, limit", sorted(chat.LIMITS.items()))
def test_text_is_cut_to_the_platform_limit(platform, limit):
    cleaned = chat.clean("word " * 10000, platform)
    assert len(cleaned) == limit and cleaned.endswith(chat.CUT_NOTE)
    if platform in chat.ESCAPED:  # an escape is never cut in two
        cleaned = chat.clean("&" * 10000, platform)
        assert len(cleaned) <= limit and cleaned.startswith("&amp;") and not re.search(r"&(amp?)?…", cleaned)


def _large_fleet_text() -> str:
    """A summary for a fleet of 120 accounts with two open Health events each, in English and Korean."""
    return "\n".join(f"• `team{i:03d}-prod` AWS Health: `AWS_EC2_OPERATIONAL_ISSUE` open in `us-east-1` since "
                     f"2026-11-24T03:00 — 계정 `team{i:03d}-prod` 의 이벤트 {n + 1}/2 & <detail>"
                     for i in range(120) for n in range(2))


@pytest.mark.parametrize("platform", ["slack", "teams", "google_chat"])
def test_a_large_fleet_summary_is_cut_to_the_platform_message_size_and_still_posted(platform):
    with receivers(platform) as recv:
        chat_list, env = chat_config(recv)
        destination = load_settings({"chat": chat_list}, "<test>", env).chat[0]
        key = chat.idempotency_key("2026-11-24", destination.name)
        body = chat.payload(destination, "AWS cost summary for 2026-11-24", _large_fleet_text(), key, True,
                            "2026-11-24")
        result = chat.post(destination, body, key)
    assert result.ok, result  # before the bound: Teams answered 413 (a 33 KB card)
    request = recv[platform].requests[0]
    assert request["size"] <= chat.MAX_BODY_BYTES[platform]
    shown = json.dumps(request["body"], ensure_ascii=False)
    assert chat.CUT_NOTE in shown and "team000-prod" in shown  # the start kept, the cut visible


def test_no_answer_after_sending_is_not_sent_again_where_the_platform_cannot_deduplicate(tmp_path):
    """Slack took the post but answered after the timeout: it may be in the channel, so it is not sent again."""
    with receivers("slack", "webhook") as recv:
        recv["slack"].delay, recv["webhook"].delay = [1.5], [1.5]
        chat_list, env = chat_config(recv)
        for destination in chat_list:
            destination["timeout"] = 0.3  # seconds
        settings = load_settings({"database": str(tmp_path / "h.db"), "chat": chat_list}, "<test>", env)
        r = Reporter(settings, Store.open(settings.database), now=lambda: NOW)
        assert not r.post_day(KNOWN_DAY)
        assert r.post_day(KNOWN_DAY)
    assert len(recv["slack"].requests) == 1  # at most once
    assert r.store.post_state(KNOWN_DAY, "slack-ops")["state"] == "unknown"
    keys = [q["headers"]["Idempotency-Key"] for q in recv["webhook"].requests]  # sent again, the same key
    assert len(keys) == 2 and keys[0] == keys[1] and r.store.post_state(KNOWN_DAY, "webhook-ops")["state"] == "posted"
    m = r.metrics.registry.get_sample_value
    assert m("aws_ops_reporter_posts_total", {"destination": "slack-ops", "result": "unknown"}) == 1
    assert m("aws_ops_reporter_posts_total", {"destination": "webhook-ops", "result": "failed"}) == 1
