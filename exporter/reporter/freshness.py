"""Data freshness for the summary: each exporter's pulls, each collector's state, and the times they carry, in
``reporter.timezone`` to the minute.

A collector that fails for an expected reason is not "failing": an account without a Business or Enterprise
support plan answers AWS Health with ``SubscriptionRequiredException`` (the exporter backs off and says so);
it is listed apart (``expected``) and is no item to act on.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# An exporter whose last successful pull is older than this is stale; one whose last attempt is this much
# older than the newest attempt of any exporter is no longer pulled (taken out of reporter.exporter_urls).
STALE_PULL_HOURS = 6
REMOVED_ACCOUNT_AFTER = dt.timedelta(days=2)  # a collector status this far behind its newest: account removed
TENTH = Decimal("0.1")
UTC = dt.timezone.utc
# Error codes that are a known condition of the account, not a failure (the exporter's error text starts with the
# code: exporter/collectors/health.py).
EXPECTED_ERRORS = {"SubscriptionRequiredException": "no_business_support"}


def local_time(value: str | dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """A stored time (ISO 8601, UTC) in ``tz``, to the minute with its offset: ``2026-11-15T12:35+09:00``."""
    if not value:
        return None
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz).isoformat(timespec="minutes")


def age_hours(now: dt.datetime, then: dt.datetime | None) -> Decimal | None:
    return (Decimal((now - then).total_seconds()) / 3600).quantize(TENTH) if then else None


def exporter_freshness(pulls: list[dict[str, Any]], now: dt.datetime, tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Each exporter still pulled: its last successful pull and age; ``failing`` when its last pull failed,
    ``stale`` when its last success is older than :data:`STALE_PULL_HOURS` (URLs carry no credentials)."""
    stale_after = dt.timedelta(hours=STALE_PULL_HOURS)
    attempts = {p["exporter"]: dt.datetime.fromisoformat(p["last_attempt"]) for p in pulls}
    newest = max(attempts.values(), default=None)
    out = []
    for p in pulls:
        if newest - attempts[p["exporter"]] > stale_after:
            continue  # no longer in reporter.exporter_urls
        success = dt.datetime.fromisoformat(p["last_success"]) if p["last_success"] else None
        state = "failing" if p["last_error"] else ("stale" if now - success > stale_after else "ok")
        out.append({"exporter": p["exporter"], "state": state, "last_success": local_time(success, tz),
                    "last_success_age_hours": age_hours(now, success),
                    "failed_pulls_since_success": p["failed_since_success"], "last_error": p["last_error"]})
    return out


def expected_reason(error: str | None) -> str | None:
    code = (error or "").split(":", 1)[0].strip()
    return EXPECTED_ERRORS.get(code)


def collector_states(statuses: list[dict[str, Any]], tz: dt.tzinfo,
                     text_ref: Callable[[str, str | None], str | None]) -> tuple[list[dict[str, Any]],
                                                                                list[dict[str, Any]]]:
    """(failing, expected): collectors whose last attempt for an account failed, apart from known conditions.

    Rows far behind their collector's newest attempt belong to accounts no longer configured and are left out.
    """
    newest_attempt: dict[str, str] = {}
    for status in statuses:
        newest_attempt[status["collector"]] = max(newest_attempt.get(status["collector"], ""),
                                                  status.get("last_attempt") or "")
    failing, expected = [], []
    for status in statuses:
        attempt = status.get("last_attempt") or ""
        newest = newest_attempt[status["collector"]]
        if attempt and newest and (dt.datetime.fromisoformat(newest) - dt.datetime.fromisoformat(attempt)
                                   > REMOVED_ACCOUNT_AFTER):
            continue
        if status["up"]:
            continue
        reason = expected_reason(status.get("error"))
        if reason:
            expected.append({"collector": status["collector"], "account": status["account"],
                             "account_id": status["account_id"], "reason": reason})
            continue
        failing.append({"collector": status["collector"], "account": status["account"],
                        "account_id": status["account_id"],
                        "last_success": local_time(status.get("last_success"), tz),
                        "error_ref": text_ref("error", status.get("error"))})
    return failing, expected


def zone(name: str | None) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name) if name else UTC
