"""Local HTTP servers for the reporter's tests: an OpenAI-compatible gateway, chat webhooks, a known history;
and typed snapshots (:mod:`exporter.model`) as an exporter publishes them.

No tests here: the other ``test_reporter_*`` modules import these.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from exporter.app import App
from exporter.model import DAILY, AccountInfo, AccountResult, CostRecord, HealthEvent, Record, Snapshot
from exporter.server import WebServer
from tests.aws_helpers import config_for, monthly_response, serve as http_server

KNOWN_AS_OF = dt.date(2026, 11, 16)
KNOWN_DAY = dt.date(2026, 11, 15)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


# ------------------------------------------------------------------------------------- fake LLM


@dataclass
class FakeLlm:
    """``POST /v1/chat/completions``. Script items: a str (the answer), ``("status", code, headers)``,
    ``("sleep", seconds)``, ``("raw", status, headers, body_bytes)``. When the script is empty it answers
    ``default``."""

    script: list[Any] = field(default_factory=list)
    default: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                item = fake.script.pop(0) if fake.script else fake.default
                if self.path != "/v1/chat/completions":
                    return _reply(self, 404, {"error": {"message": "not found"}})
                if isinstance(item, tuple) and item[0] == "sleep":
                    time.sleep(item[1])
                    item = "too late"
                if isinstance(item, tuple) and item[0] == "status":
                    return _reply(self, item[1], {"error": {"message": "busy", "type": "rate_limit"}},
                                  item[2] if len(item) > 2 else None)
                if isinstance(item, tuple) and item[0] == "raw":  # ("raw", status, headers, body bytes)
                    return _reply(self, item[1], item[3], item[2])
                if item is None:
                    return _reply(self, 500, {"error": {"message": "no answer scripted"}})
                _reply(self, 200, {"id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model"),
                                   "choices": [{"index": 0, "finish_reason": "stop",
                                                "message": {"role": "assistant", "content": item}}],
                                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def fake_llm(script: list[Any] | None = None, default: str | None = None) -> Iterator[FakeLlm]:
    fake = FakeLlm(list(script or []), default)
    with http_server(fake.handler()) as url:
        fake.url = url
        yield fake


# ------------------------------------------------------------------------------------- chat receivers


@dataclass
class Receiver:
    """A chat webhook that records what it got. ``fail`` holds statuses for the next requests; ``kill_pid``
    makes the first request SIGKILL that process before answering (a crash between post and record).
    ``delay`` holds seconds to wait before answering the next requests (a platform slower than the timeout).
    Google Chat semantics: a repeated ``messageId`` answers 409, as the Chat API does.

    Like the real platforms, a receiver refuses a request whose URL lost the query its webhook URL carries
    (Google Chat's ``key`` and ``token``, a Teams workflow's ``sig``), and a body over the platform's
    documented size (Teams about 28 KB: 413; Google Chat 32,000 bytes; Slack 3,000 characters per section
    and 50 blocks: 400)."""

    kind: str
    fail: list[int] = field(default_factory=list)
    kill_pid: int | None = None
    delay: list[float] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    path: str = "/hooks/T000/B000/very-secret-token"
    url_query: str = ""  # the query string the webhook URL carries; every request must keep it

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw or b"{}")
                seen_ids = [parse_qs(r["query"]).get("messageId") for r in receiver.requests]
                request = {"path": parts.path, "query": parts.query, "headers": dict(self.headers), "body": body,
                           "size": len(raw)}
                receiver.requests.append(request)
                if receiver.kill_pid is not None:
                    pid, receiver.kill_pid = receiver.kill_pid, None
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.5)
                    return
                if receiver.delay:
                    time.sleep(receiver.delay.pop(0))
                if receiver.fail:
                    return _reply(self, receiver.fail.pop(0), {"error": "failing on demand"})
                query = parse_qs(parts.query)
                if any(query.get(k) != v for k, v in parse_qs(receiver.url_query).items()):
                    return _reply(self, 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                refusal = _too_big(receiver.kind, raw, body)
                if refusal:
                    return _reply(self, refusal, {"error": "message too big"})
                if receiver.kind == "google_chat" and parse_qs(parts.query).get("messageId") in seen_ids:
                    return _reply(self, 409, {"error": {"code": 409, "status": "ALREADY_EXISTS"}})
                if receiver.kind == "teams":
                    return _reply(self, 202, b"")
                if receiver.kind == "slack":
                    return _reply(self, 200, b"ok")
                _reply(self, 200, {"ok": True})

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


# What each platform's webhook URL carries in its query (Slack's carries none).
URL_QUERIES = {"google_chat": "key=k-secret&token=t-secret",
               "teams": "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s-secret",
               "webhook": "token=w-secret"}
PLATFORM_MAX_BYTES = {"teams": 28_000, "google_chat": 32_000}


def _too_big(kind: str, raw: bytes, body: dict[str, Any]) -> int | None:
    """The status the platform answers for a body over its documented limit, else None."""
    if len(raw) > PLATFORM_MAX_BYTES.get(kind, len(raw)):
        return 413 if kind == "teams" else 400
    if kind == "slack":
        blocks = body.get("blocks", [])
        if len(blocks) > 50 or any(len(b.get("text", {}).get("text", "")) > 3000 for b in blocks):
            return 400
    return None


@contextmanager
def receivers(*kinds: str) -> Iterator[dict[str, Receiver]]:
    out: dict[str, Receiver] = {}
    with _nested([(kind, Receiver(kind)) for kind in kinds], out) as result:
        yield result


@contextmanager
def _nested(items: list[tuple[str, Receiver]], out: dict[str, Receiver]) -> Iterator[dict[str, Receiver]]:
    if not items:
        yield out
        return
    (kind, receiver), rest = items[0], items[1:]
    with http_server(receiver.handler()) as url:
        receiver.url_query = URL_QUERIES.get(kind, "")
        receiver.url = url + receiver.path + (f"?{receiver.url_query}" if receiver.url_query else "")
        out[kind] = receiver
        with _nested(rest, out) as result:
            yield result


def chat_config(recv: dict[str, Receiver]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The ``reporter.chat`` list and the environment that holds the webhook URLs."""
    chat, env = [], {}
    for kind, receiver in recv.items():
        name = f"{kind.replace('_', '-')}-ops"
        var = f"WEBHOOK_{kind.upper()}"
        chat.append({"type": kind, "name": name, "webhook_url_env": var, "timeout": "5s"})
        env[var] = receiver.url
    return chat, env


# ------------------------------------------------------------------------------------- typed snapshots


def snapshot_of(*results: AccountResult, accounts: Iterable[tuple[str, str, str]] = ()) -> Snapshot:
    """A snapshot as the exporter publishes it: ``results`` merged into an empty one of ``accounts``
    (id, name, project)."""
    return Snapshot.empty(AccountInfo(*a) for a in accounts).with_run(None, results)


def result_of(collector: str, account_id: str, records: Iterable[Record] = (), up: bool = True,
              **fields: Any) -> AccountResult:
    return AccountResult(collector=collector, account_id=account_id, records=tuple(records), up=up, **fields)


def with_records(snapshot: Snapshot, collector: str, account_id: str, records: Iterable[Record]) -> Snapshot:
    """``snapshot`` with one collector × account's records replaced (what a later pull would see)."""
    result = snapshot.result(collector, account_id)
    assert result is not None
    return snapshot.with_run(None, [msgspec.structs.replace(result, records=tuple(records))])


def daily_cost(service: str, day: dt.date | str, amount: str, metric: str = "AmortizedCost",
               estimated: bool = False) -> CostRecord:
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return CostRecord(service, DAILY, day, day + dt.timedelta(days=1), Decimal(amount), "USD", metric, estimated)


def health_event(arn: str, status: str = "open", start: str = "2026-11-10T00:00:00Z",
                 last_updated: str | None = None, **fields: Any) -> HealthEvent:
    """An EC2 operational issue in us-east-1 (``fields`` override any other field)."""
    start_time = dt.datetime.fromisoformat(start)
    updated = dt.datetime.fromisoformat(last_updated) if last_updated else start_time
    return HealthEvent(**{"arn": arn, "service": "EC2", "event_type_code": "AWS_EC2_OPERATIONAL_ISSUE",
                          "category": "issue", "region": "us-east-1", "status": status, "scope": "",
                          "start": start_time, "end": None, "last_updated": updated, **fields})


# ------------------------------------------------------------------------------------- known history

EC2, LAMBDA, S3 = "Amazon EC2", "AWS Lambda", "Amazon Simple Storage Service"


def _daily(start: dt.date, amounts: dict[str, list[str]]) -> dict[str, Any]:
    days = len(next(iter(amounts.values())))
    return {"ResultsByTime": [
        {"TimePeriod": {"Start": (start + dt.timedelta(days=i)).isoformat(),
                        "End": (start + dt.timedelta(days=i + 1)).isoformat()},
         "Total": {}, "Estimated": i >= days - 1,
         "Groups": [{"Keys": [s], "Metrics": {"AmortizedCost": {"Amount": v[i], "Unit": "USD"}}}
                    for s, v in amounts.items()]}
        for i in range(days)], "DimensionValueAttributes": []}


def known_history() -> dict[str, list[dict[str, Any]]]:
    """Cost Explorer answers for a refresh as of 2026-11-16 (DAILY 11-01..11-15, MONTHLY Oct + Nov to date).

    acct-1 (proj-1): EC2 10.00 a day, 12.00 on 11-14, 50.00 on 11-15; Lambda 1.25 a day; October 337.50.
    acct-2 (proj-0): EC2 20.00 a day, 15.00 on 11-15; S3 3.10 a day; October 696.10.
    """
    start, oct1, nov1 = dt.date(2026, 11, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)
    ec2_1 = ["10.00"] * 13 + ["12.00", "50.00"]
    ec2_2 = ["20.00"] * 14 + ["15.00"]
    return {
        "000000000001": [_daily(start, {EC2: ec2_1, LAMBDA: ["1.25"] * 15}),
                         monthly_response([(oct1, nov1, {EC2: "300.00", LAMBDA: "37.50"}),
                                           (nov1, KNOWN_AS_OF, {EC2: "192.00", LAMBDA: "18.75"})])],
        "000000000002": [_daily(start, {EC2: ec2_2, S3: ["3.10"] * 15}),
                         monthly_response([(oct1, nov1, {EC2: "600.00", S3: "96.10"}),
                                           (nov1, KNOWN_AS_OF, {EC2: "295.00", S3: "46.50"})])],
    }


@contextmanager
def exporter_with_known_history(aws: Any, **sections: Any) -> Iterator[str]:
    """The real exporter (in-process, against moto) after one collection, serving /snapshot over HTTP."""
    for account_id, answers in known_history().items():
        aws.seed_cost(account_id, answers)
    config = config_for(1, 2, budgets={"projects": {"proj-1": "1000"}}, **sections)
    app = App.build(config, process_metrics=False)
    app.collect_once(KNOWN_AS_OF)
    server = WebServer("127.0.0.1", 0, app.exposition, lambda: app.holder.current)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def known_budgets() -> dict[str, Decimal]:
    return {"proj-1": Decimal("1000")}
