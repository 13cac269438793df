"""Chat destinations: Slack incoming webhook, Teams workflow webhook (Adaptive Card), Google Chat webhook, JSON.

Text is cleaned before it leaves: no ``@channel``/``@here``/``@everyone``, no ``<!everyone>``-style
broadcasts, no user pings (``<@U123>``, ``<at>…</at>``, ``<users/…>``), and cut to the platform's
limit. Pings are removed until none is left (removing ``<!here>`` from ``<<!here>!here>`` must not leave
a new one), and for Slack and Google Chat, which read ``<…>`` as markup (pings, ``<url|text>`` links),
``&``, ``<`` and ``>`` are escaped as ``&amp;``, ``&lt;`` and ``&gt;`` so no markup can form at all.
Webhook URLs are credentials: they appear in no log line, error, metric or SQLite row.

Size: each platform refuses a message over its limit, so the text is cut (with a visible note) until the
JSON body as sent fits :data:`MAX_BODY_BYTES`.

Links: the reporter writes each item's links as ``[label](url)`` and passes the URLs it made; only those become
links, in the platform's own syntax (Slack and Google Chat ``<url|label>``, Teams and the generic webhook keep
Markdown), after the rest of the text is cleaned. A text that would be cut with its links is sent without them.

Idempotency: each (day, destination) carries a stable key. Google Chat takes it as the message id
(``messageId=client-…``, added to the webhook URL's own ``key`` and ``token``; a second post with the
same id answers 409, read here as "already posted"); the generic webhook sends it in the body and an
``Idempotency-Key`` header for the receiver to deduplicate. Slack incoming webhooks and Teams workflows
have no such field, so for them the reporter chooses at most once: a post whose outcome a crash or a
missing answer left unknown is not sent again (see runner).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from exporter.config.reporter import ChatDestination

LIMITS = {"slack": 12000, "teams": 20000, "google_chat": 4000, "webhook": 20000}  # characters of text
# The JSON body as sent (UTF-8), per platform:
# - Google Chat documents 32,000 bytes per message, text and cards included.
# - Teams documents about 28 KB for a webhook message; posts of Adaptive Cards have been reported to get
#   413 from about 20 KB, so 20,000 bytes, a conservative figure.
# - Slack documents characters only (text truncated after 40,000; 3,000 per section block; 50 blocks);
#   a byte is never less than a character, so 40,000 bytes is the conservative reading.
# The generic webhook's receiver sets its own limits: only LIMITS applies.
MAX_BODY_BYTES = {"slack": 40_000, "teams": 20_000, "google_chat": 32_000}
SLACK_BLOCK_LIMIT = 3000  # characters per section block's text
SLACK_FALLBACK_LIMIT = 3000
CUT_NOTE = "… (cut to fit the chat message size limit)"
DEDUPLICATING = frozenset({"google_chat", "webhook"})
# Platforms that read <…> in text as markup. Slack documents this escaping; Google Chat documents the markup
# (<users/all>, <url|text>) but no escape, so there an escaped character may show as written: looks, never a ping.
ESCAPED = frozenset({"slack", "google_chat"})
# Errors raised before any byte of the request reached the platform: retrying cannot post twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

_PING_RES = (
    re.compile(r"<[!@][^>\n]*>"),  # Slack <!channel> <!here> <!everyone> <!subteam^…> <@U123>
    re.compile(r"<users/[^>\n]*>"),  # Google Chat <users/all> <users/123…>
    re.compile(r"</?at\b[^>\n]*>", re.IGNORECASE),  # Teams <at>…</at>
)
_AT_WORD_RE = re.compile(r"(?<!\w)@+(channel|here|everyone|all)\b", re.IGNORECASE)
_AT_NAME_RE = re.compile(r"(?<!\w)@+(?=[\w.-])")
_PARTIAL_ENTITY_RE = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?$")  # an escape the cut split in two


def idempotency_key(day: str, destination: str) -> str:
    digest = hashlib.sha256(f"{day}|{destination}".encode()).hexdigest()[:16]
    return f"aws-ops-{day}-{digest}"


def _without_pings(text: str) -> str:
    # Every pass only deletes characters, so this ends; it ends when no ping is left.
    while True:
        before = text
        for pattern in _PING_RES:
            text = pattern.sub("", text)
        text = _AT_WORD_RE.sub(lambda m: m.group(1), text)
        text = _AT_NAME_RE.sub("", text)
        if text == before:
            return text


def escape(text: str) -> str:
    """Slack's and Google Chat's escaping: the three characters their markup is made of."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and :data:`CUT_NOTE`, ``limit`` in all."""
    if len(text) <= limit:
        return text
    kept = _PARTIAL_ENTITY_RE.sub("", text[:max(0, limit - len(CUT_NOTE))])
    return kept.rstrip() + CUT_NOTE


LINK_RE = re.compile(r"\[([^\[\]\n]{1,40})\]\((https://[^\s()<>|]+)\)")
_LINK_LEFTOVER_RE = re.compile(r"[ \t]+—(?:[ \t]+·)*[ \t]*$", re.MULTILINE)


def _plain(text: str, platform: str) -> str:
    text = _without_pings(text)
    if platform in ESCAPED:
        text = escape(text)
    return re.sub(r"[ \t]{2,}", " ", text)


def _link(label: str, url: str, platform: str) -> str:
    if platform == "slack":
        return f"<{url.replace('&', '&amp;')}|{escape(label)}>"
    if platform == "google_chat":
        return f"<{url}|{escape(label)}>"
    return f"[{label}]({url})"


def clean(text: str, platform: str, links: Iterable[str] = (), with_links: bool = True) -> str:
    """Mentions out, markup escaped where the platform reads it, the reporter's own ``links`` in the platform's
    syntax (or left out), length in: fit for a shared channel."""
    allowed = set(links)
    out, last = [], 0
    for m in LINK_RE.finditer(text):
        if m.group(2) not in allowed:
            continue
        out.append(_plain(text[last:m.start()], platform))
        out.append(_link(m.group(1), m.group(2), platform) if with_links else "")
        last = m.end()
    out.append(_plain(text[last:], platform))
    joined = "".join(out)
    if not with_links:
        joined = _LINK_LEFTOVER_RE.sub("", joined)
    return cut(joined, LIMITS.get(platform, 4000))


def _fits(text: str, platform: str, links: Iterable[str]) -> str:
    """The cleaned text with its links if it fits the platform's character limit, else without them."""
    links = tuple(links)
    full = clean(text, platform, links)
    if not links or not full.endswith(CUT_NOTE):
        return full
    return clean(text, platform, links, with_links=False)


def encode(body: dict[str, Any]) -> bytes:
    """The bytes :func:`post` sends: the size :data:`MAX_BODY_BYTES` bounds."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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


def _slack(title: str, text: str) -> dict[str, Any]:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
               for chunk in _chunks(text, SLACK_BLOCK_LIMIT)][:49]
    return {"text": cut(f"{title}\n{text}", SLACK_FALLBACK_LIMIT), "blocks": blocks,
            "unfurl_links": False, "unfurl_media": False}


def _teams(title: str, text: str) -> dict[str, Any]:
    card_body = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}]
    card_body += [{"type": "TextBlock", "text": _teams_markdown(line), "wrap": True, "spacing": "Small"}
                  for line in text.split("\n") if line.strip()]
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": card_body}}]}


def _fitted(build: Callable[[str], dict[str, Any]], text: str, max_bytes: int | None) -> dict[str, Any]:
    """``build(text)``, with ``text`` cut as little as needed for the encoded body to fit ``max_bytes``."""
    body = build(text)
    if max_bytes is None or len(encode(body)) <= max_bytes:
        return body
    fits, too_long = 0, len(text)  # characters kept: the longest cut that fits, found by bisection
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if len(encode(build(cut(text, middle)))) <= max_bytes:
            fits = middle
        else:
            too_long = middle
    return build(cut(text, fits))


def payload(destination: ChatDestination, title: str, text: str, key: str, deterministic: bool,
            day: str, links: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON body each platform expects, within its size limit (without the links if they do not fit)."""
    kind = destination.type
    max_bytes = MAX_BODY_BYTES.get(kind)
    builders: dict[str, Callable[[str], dict[str, Any]]] = {
        "slack": lambda body_text: _slack(title, body_text), "teams": lambda body_text: _teams(title, body_text),
        "google_chat": lambda body_text: {"text": body_text}}
    if kind in builders:
        source = f"*{title}*\n{text}" if kind == "google_chat" else text
        build = builders[kind]
        cleaned = _fits(source, kind, links)
        if links and max_bytes is not None and len(encode(build(cleaned))) > max_bytes:
            cleaned = clean(source, kind, links, with_links=False)
        return _fitted(build, cleaned, max_bytes)
    return {"idempotency_key": key, "date": day, "destination": destination.name, "title": title,
            "deterministic": deterministic, "text": _fits(text, kind, links)}


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
    url = httpx.URL(destination.webhook_url)
    if destination.type == "webhook":
        headers["Idempotency-Key"] = key
    elif destination.type == "google_chat":
        # Merged into the URL's query: a Google Chat webhook URL carries its key and token there.
        url = url.copy_merge_params({"messageId": f"client-{key}"[:63]})
    try:
        with httpx.Client(timeout=destination.timeout_seconds, transport=transport) as http:
            response = http.post(url, content=encode(body), headers=headers)
    except _NOT_SENT as exc:
        return PostResult(False, None, type(exc).__name__)  # the message could carry the URL: class only
    except httpx.TimeoutException:  # a read or write timeout: the request may have been posted already
        return PostResult(False, None, "timeout", maybe_delivered=True)
    except httpx.HTTPError as exc:  # e.g. a dropped connection or an undecodable answer, after sending
        return PostResult(False, None, type(exc).__name__, maybe_delivered=True)
    if 200 <= response.status_code < 300:
        return PostResult(True, response.status_code)
    if response.status_code == 409 and destination.type == "google_chat":
        return PostResult(True, 409, duplicate=True)
    return PostResult(False, response.status_code, f"HTTP {response.status_code}")
