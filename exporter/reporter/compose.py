"""The day's message: the model's checked claims (:mod:`exporter.reporter.claims`), or the deterministic summary
with the reason, counted in ``aws_ops_reporter_fallbacks_total{reason}``; each item with its links.

Whatever goes wrong in the model call, the claims check or the guard, the day's summary is not lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter.config.reporter import ReporterSettings
from exporter.reporter import claims, guard, links, render
from exporter.reporter.factlist import Fact
from exporter.reporter.llm import LlmError
from exporter.reporter.selfmetrics import SelfMetrics
from exporter.reporter.summary import Facts

log = logging.getLogger("exporter.reporter")


@dataclass(frozen=True, slots=True)
class Message:
    day: dt.date
    title: str
    text: str
    deterministic: bool
    reason: str | None  # why the deterministic text was used
    facts: Facts
    links: tuple[str, ...] = ()  # the URLs the reporter put in ``text`` as [label](url): chat turns only these into links


def _linker(facts: Facts, metric: str, grafana_url: str | None) -> tuple[Callable[[Fact], str], list[str]]:
    made: list[str] = []

    def link(fact: Fact) -> str:
        pairs = links.for_fact(fact, facts.day, metric, grafana_url)
        made.extend(url for _, url in pairs if url not in made)
        return (" — " + " · ".join(f"[{label}]({url})" for label, url in pairs)) if pairs else ""

    return link, made


def compose(facts: Facts, settings: ReporterSettings, llm: Any, metrics: SelfMetrics, cost_metric: str) -> Message:
    language = settings.language
    title = render.title(facts, language)
    link, made = _linker(facts, cost_metric, settings.grafana_url)
    checked, reason_key, detail = _model_claims(facts, llm, language, metrics)
    if reason_key:
        metrics.fallbacks.labels(reason_key).inc()
        reason = render.reason_text(reason_key, language, detail)
        text = render.deterministic_text(facts, language, reason, link)
    else:
        reason = None
        text = render.claims_text(checked.accepted, len(checked.rejected), facts, language, link)
    metrics.summaries.labels("deterministic" if reason_key else "llm").inc()
    sparks = render.sparkline_block(facts, language)
    if sparks:
        text = f"{text}\n\n{sparks}"
    return Message(facts.day, title, text, deterministic=bool(reason_key), reason=reason, facts=facts,
                   links=tuple(made))


def _model_claims(facts: Facts, llm: Any, language: str,
                  metrics: SelfMetrics) -> tuple[claims.Review | None, str | None, str]:
    """The checked claims, or why the deterministic text must be used: (review, reason key, detail)."""
    if llm is None:
        return None, "llm_not_configured", ""
    try:
        answer = llm.summarize(facts, language)
    except LlmError as exc:
        reason = exc.reason
        log.warning("event=llm_failed reason=%s", reason)
    except Exception as exc:  # noqa: BLE001 - an unforeseen failure falls back like any other
        reason = "unexpected_error"
        log.error("event=llm_failed reason=%s error=%s", reason, type(exc).__name__, exc_info=True)
    else:
        return _checked(answer, facts, language, metrics)
    metrics.llm_failures.labels(reason).inc()
    return None, "llm_failed", reason


def _checked(answer: str, facts: Facts, language: str,
             metrics: SelfMetrics) -> tuple[claims.Review | None, str | None, str]:
    try:
        review = claims.review(answer, facts)
    except Exception as exc:  # noqa: BLE001 - an answer the check cannot read is an answer it rejects
        log.error("event=claims_check_failed error=%s", type(exc).__name__, exc_info=True)
        return None, "unparseable", ""
    metrics.claims.labels("accepted").inc(len(review.accepted))
    metrics.claims.labels("dropped").inc(len(review.rejected))
    for claim, problem in review.rejected:
        log.warning("event=claim_dropped facts=%s problem=%r", ",".join(claim.facts) or "-", problem)
    if review.fallback:
        log.warning("event=claims_fallback reason=%s accepted=%d dropped=%d missing=%s", review.fallback,
                    len(review.accepted), len(review.rejected), ",".join(review.missing) or "-")
        return review, review.fallback, ""
    # The guard on top, over every statement to be posted (headings and links are the reporter's own).
    text = "\n".join(claim.text for claim in review.accepted)
    try:
        verdict = guard.check(text, facts)
    except Exception as exc:  # noqa: BLE001 - a text the guard cannot read is a text it rejects
        log.error("event=guard_rejected reason=guard_error error=%s", type(exc).__name__, exc_info=True)
        return review, "guard_rejected", ""
    if not verdict.ok:
        log.warning("event=guard_rejected problems=%d first=%r", len(verdict.problems), verdict.problems[0])
        return review, "guard_rejected", ""
    return review, None, ""
