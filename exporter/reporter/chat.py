"""Chat destinations: Slack incoming webhook, Teams workflow webhook (Adaptive Card), Google Chat webhook, JSON.

Text is cleaned before it leaves: no ``@channel``/``@here``/``@everyone``, no ``<!everyone>``-style
broadcasts, no user pings (``<@U123>``, ``<at>…</at>``, ``<users/…>``), and cut to the platform's
limit. Webhook URLs are credentials: they appear in no log line, error, metric or SQLite row.

Idempotency: each (day, destination) carries a stable key. Google Chat takes it as the message id
(``messageId=client-…``; a second post with the same id answers 409, read here as "already posted");
the generic webhook sends it in the body and an ``Idempotency-Key`` header for the receiver to
deduplicate. Slack incoming webhooks and Teams workflows have no such field, so for them the reporter
chooses at most once: a post whose outcome a crash or a missing answer left unknown is not sent again
(see runner).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import httpx

from exporter.reporter.settings import ChatDestination

LIMITS = {"slack": 12000, "teams": 20000, "google_chat": 4000, "webhook": 20000}
SLACK_BLOCK_LIMIT = 3000  # characters per section block's text
SLACK_FALLBACK_LIMIT = 3000
DEDUPLICATING = frozenset({"google_chat", "webhook"})
# Errors raised before any byte of the request reached the platform: retrying cannot post twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

_BROADCAST_RE = re.compile(r"<[!@][^>\n]*>")  # Slack <!channel> <!here> <!everyone> <!subteam^…> <@U123>
_GOOGLE_USER_RE = re.compile(r"<users/[^>\n]*>")
_TEAMS_AT_RE = re.compile(r"</?at>", re.IGNORECASE)
_AT_WORD_RE = re.compile(r"(?<![\w.@])@(channel|here|everyone|all)\b", re.IGNORECASE)
_AT_NAME_RE = re.compile(r"(?<![\w.@])@(?=[\w.-])")


def idempotency_key(day: str, destination: str) -> str:
    digest = hashlib.sha256(f"{day}|{destination}".encode()).hexdigest()[:16]
    return f"aws-ops-{day}-{digest}"


def clean(text: str, platform: str) -> str:
    """Mentions out, length in: what a summary may look like in a shared channel."""
    text = _BROADCAST_RE.sub("", text)
    text = _GOOGLE_USER_RE.sub("", text)
    text = _TEAMS_AT_RE.sub("", text)
    text = _AT_WORD_RE.sub(lambda m: m.group(1), text)
    text = _AT_NAME_RE.sub("", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    limit = LIMITS.get(platform, 4000)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _chunks(text: str, size: int) -> list[str]:
    chunks, current = [], ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:size])
            line = line[size:]
        if current and len(current) + 1 + len(line) > size:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _teams_markdown(line: str) -> str:
    return re.sub(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])", r"**\1**", line)


def payload(destination: ChatDestination, title: str, text: str, key: str, deterministic: bool,
            day: str) -> dict[str, Any]:
    """The JSON body each platform expects."""
    kind = destination.type
    if kind == "slack":
        body_text = clean(text, kind)
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                   for chunk in _chunks(body_text, SLACK_BLOCK_LIMIT)][:49]
        return {"text": f"{title}\n{body_text}"[:SLACK_FALLBACK_LIMIT], "blocks": blocks,
                "unfurl_links": False, "unfurl_media": False}
    if kind == "teams":
        body_text = clean(text, kind)
        card_body = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}]
        card_body += [{"type": "TextBlock", "text": _teams_markdown(line), "wrap": True, "spacing": "Small"}
                      for line in body_text.split("\n") if line.strip()]
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                        "version": "1.4", "body": card_body}}]}
    if kind == "google_chat":
        return {"text": clean(f"*{title}*\n{text}", kind)}
    return {"idempotency_key": key, "date": day, "destination": destination.name, "title": title,
            "deterministic": deterministic, "text": clean(text, kind)}


@dataclass(frozen=True, slots=True)
class PostResult:
    ok: bool
    status: int | None
    error: str | None = None
    duplicate: bool = False  # the platform says this idempotency key was already posted
    maybe_delivered: bool = False  # no answer after the request went out: the platform may have posted it


def post(destination: ChatDestination, body: dict[str, Any], key: str,
         transport: httpx.BaseTransport | None = None) -> PostResult:
    """One POST; success is a 2xx (or Google Chat's 409 for a message id it already has)."""
    if not destination.webhook_url:
        return PostResult(False, None, "no webhook URL")
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    params: dict[str, str] = {}
    if destination.type == "webhook":
        headers["Idempotency-Key"] = key
    elif destination.type == "google_chat":
        params["messageId"] = f"client-{key}"[:63]
    try:
        with httpx.Client(timeout=destination.timeout_seconds, transport=transport) as http:
            response = http.post(destination.webhook_url, json=body, headers=headers, params=params or None)
    except _NOT_SENT as exc:
        return PostResult(False, None, type(exc).__name__)  # the message could carry the URL: class only
    except httpx.TimeoutException:  # a read or write timeout: the request may have been posted already
        return PostResult(False, None, "timeout", maybe_delivered=True)
    except httpx.TransportError as exc:
        return PostResult(False, None, type(exc).__name__, maybe_delivered=True)
    if 200 <= response.status_code < 300:
        return PostResult(True, response.status_code)
    if response.status_code == 409 and destination.type == "google_chat":
        return PostResult(True, 409, duplicate=True)
    return PostResult(False, response.status_code, f"HTTP {response.status_code}")
