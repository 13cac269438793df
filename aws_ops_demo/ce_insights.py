"""The stand-in's GetAnomalies and GetCostForecast (moto answers both with a 500), as pure answers to a request.

* GetAnomalies: the anomalies given (AWS's own objects), those whose ``AnomalyEndDate`` is in the request's
  ``DateInterval`` (one without an end date always), filtered by ``Feedback`` when asked, ``page_size`` (or
  ``MaxResults``) a page with a ``NextPageToken``.
* GetCostForecast: the mean daily cost of the :data:`FORECAST_BASIS_DAYS` days before today, over the accounts and
  services the Filter selects, times the days of the window; ``ResultsByTime`` per month. Refused as Cost Explorer
  does: a start before today, an empty window, an unknown metric or granularity; and
  ``DataUnavailableException`` when the scope had no cost in those days (nothing to forecast from).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from typing import Any

from aws_ops_demo.cost_data import Splits, _Invalid, scope, usd
from exporter.periods import month_windows

FORECAST_BASIS_DAYS = 14
FORECAST_METRICS = {"AMORTIZED_COST": "AmortizedCost", "UNBLENDED_COST": "UnblendedCost",
                    "BLENDED_COST": "BlendedCost", "NET_AMORTIZED_COST": "NetAmortizedCost",
                    "NET_UNBLENDED_COST": "NetUnblendedCost"}


def _date(request: dict[str, Any], container: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(request[container][key][:10])
    except (KeyError, TypeError, ValueError) as exc:
        raise _Invalid("ValidationException", f"bad {container}.{key}: {exc}") from exc


def answer_anomalies(anomalies: Sequence[dict[str, Any]], request: dict[str, Any], page_size: int) -> dict[str, Any]:
    start = _date(request, "DateInterval", "StartDate")
    end = _date(request, "DateInterval", "EndDate") if request.get("DateInterval", {}).get("EndDate") else None
    feedback = request.get("Feedback")
    found = []
    for anomaly in anomalies:
        last = anomaly.get("AnomalyEndDate")
        day = dt.date.fromisoformat(last[:10]) if last else None
        if day is not None and (day < start or (end is not None and day > end)):
            continue
        if feedback is not None and anomaly.get("Feedback") != feedback:
            continue
        found.append(anomaly)
    size = int(request.get("MaxResults") or page_size)
    token = request.get("NextPageToken")
    try:
        offset = int(base64.b64decode(token).decode()) if token else 0
    except ValueError as exc:
        raise _Invalid("InvalidNextTokenException", f"The next page token is invalid: {exc}") from exc
    page: dict[str, Any] = {"Anomalies": found[offset:offset + size]}
    if offset + size < len(found):
        page["NextPageToken"] = base64.b64encode(str(offset + size).encode()).decode()
    return page


def answer_forecast(data: Splits, today: dt.date, request: dict[str, Any]) -> dict[str, Any]:
    start, end = _date(request, "TimePeriod", "Start"), _date(request, "TimePeriod", "End")
    if start < today:
        raise _Invalid("ValidationException", "Start date must be equal to or later than the current date")
    if start >= end:
        raise _Invalid("ValidationException", "Start date must be before End date")
    if request.get("Granularity") not in ("DAILY", "MONTHLY"):
        raise _Invalid("ValidationException", f"unsupported Granularity {request.get('Granularity')!r}")
    metric = FORECAST_METRICS.get(request.get("Metric") or "")
    if metric is None:
        raise _Invalid("ValidationException", f"unsupported Metric {request.get('Metric')!r}")
    accounts, services = scope(data, request.get("Filter"))
    basis_start = today - dt.timedelta(days=FORECAST_BASIS_DAYS)
    basis = [data.total(metric, a, s, basis_start, today) for a in accounts for s in services]
    if not any(v for v in basis if v):
        raise _Invalid("DataUnavailableException", "Insufficient amount of historical data to generate forecast.")
    per_day = sum(v for v in basis if v) // FORECAST_BASIS_DAYS
    windows = month_windows(start, end) if request["Granularity"] == "MONTHLY" else [
        (start + dt.timedelta(days=i), start + dt.timedelta(days=i + 1)) for i in range((end - start).days)]
    results = [{"TimePeriod": {"Start": s.isoformat(), "End": e.isoformat()}, "MeanValue": usd(per_day * (e - s).days)}
               for s, e in windows]
    return {"Total": {"Amount": usd(per_day * (end - start).days), "Unit": "USD"}, "ForecastResultsByTime": results}
