"""Cost Anomaly Detection: GetAnomalies once per refresh (from the payer in payer mode, else each account).

**Open** anomalies only, which keeps the series bounded: detected on one of the last :data:`OPEN_DAYS`
complete days (``AnomalyEndDate``, the last day AWS detected it, on or after today − OPEN_DAYS; the
request's ``DateInterval`` asks for exactly those) and not dismissed by feedback (``NO``: not an anomaly,
``PLANNED_ACTIVITY``). An anomaly belongs to the account its first root cause names (``LinkedAccount``), or to
the monitor's dimension when that is an account id; failing both, in per-account mode to the account that
asked, in payer mode to none (counted in the log line). ``Impact.TotalImpact`` is the figure
(``MaxImpact`` when AWS gives no total); it is a JSON number in the API, kept as the decimal it reads as.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from exporter.answers import reads_answer
from exporter.collectors.paging import MAX_PAGES, paged
from exporter.model import CostAnomaly

OPEN_DAYS = 2
DISMISSED = frozenset({"NO", "PLANNED_ACTIVITY"})
ACCOUNT_ID = re.compile(r"^\d{12}$")


def anomalies_request(as_of: dt.date, next_page_token: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"DateInterval": {"StartDate": (as_of - dt.timedelta(days=OPEN_DAYS)).isoformat(),
                                                "EndDate": as_of.isoformat()}}
    if next_page_token:
        request["NextPageToken"] = next_page_token
    return request


def fetch_anomaly_pages(client: Any, as_of: dt.date, max_pages: int = MAX_PAGES) -> Iterator[Mapping[str, Any]]:
    return paged(client.get_anomalies, lambda token: anomalies_request(as_of, token), "GetAnomalies", max_pages)


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def parse_anomaly(anomaly: Mapping[str, Any], as_of: dt.date) -> tuple[str | None, CostAnomaly] | None:
    """(the account it belongs to, if AWS names one; the anomaly), or None when it is not open."""
    end = _day(anomaly.get("AnomalyEndDate"))
    if anomaly.get("Feedback") in DISMISSED or (end is not None and end < as_of - dt.timedelta(days=OPEN_DAYS)):
        return None
    causes = anomaly.get("RootCauses") or [{}]
    cause = causes[0]
    impact = anomaly["Impact"]
    total = impact.get("TotalImpact", impact.get("MaxImpact"))
    dimension = anomaly.get("DimensionValue") or ""
    account = cause.get("LinkedAccount") or (dimension if ACCOUNT_ID.match(dimension) else None)
    return account, CostAnomaly(anomaly_id=anomaly["AnomalyId"], service=cause.get("Service") or "",
                                impact=Decimal(str(total)), start=_day(anomaly.get("AnomalyStartDate")), end=end)


@reads_answer("GetAnomalies")
def open_anomalies(pages: Iterator[Mapping[str, Any]], as_of: dt.date) -> list[tuple[str | None, CostAnomaly]]:
    """Every open anomaly of the answer, once (sorted by id), with the account it belongs to."""
    found: dict[str, tuple[str | None, CostAnomaly]] = {}
    for page in pages:
        for anomaly in page.get("Anomalies", ()):
            parsed = parse_anomaly(anomaly, as_of)
            if parsed is not None:
                found[parsed[1].anomaly_id] = parsed
    return [found[key] for key in sorted(found)]
