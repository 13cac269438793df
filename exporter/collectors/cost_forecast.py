"""The month-end forecast: GetCostForecast for the rest of the month, plus the month to date's actual cost.

``aws_cost_forecast_month_usd`` is the month's total as it will likely end: the actual cost of the month's
complete days ([1st, today), the same figures as ``aws_cost_month_to_date_usd``, summed over services) plus
GetCostForecast's ``Total`` (the mean forecast) for [today, 1st of next month), today included. Cost
Explorer refuses a forecast that starts before its current day; the window is never empty (today is in it, on
the last day of a month too), and on the 1st the month to date is $0 and the forecast covers the whole month.
An account with too little history for AWS to forecast (``DataUnavailableException``) has no forecast: a reason,
not a failure. Same metric as the cost (``AmortizedCost`` → ``AMORTIZED_COST``), filtered to the account
(LINKED_ACCOUNT) unless it is payer mode's forecast for the whole organization.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from exporter.answers import reads_answer
from exporter.model import MONTHLY, Amount, CostForecast, CostRecord
from exporter.periods import first_of_month, next_month_start

# GetCostAndUsage's metric names → GetCostForecast's.
FORECAST_METRICS = {"AmortizedCost": "AMORTIZED_COST", "UnblendedCost": "UNBLENDED_COST",
                    "BlendedCost": "BLENDED_COST", "NetAmortizedCost": "NET_AMORTIZED_COST",
                    "NetUnblendedCost": "NET_UNBLENDED_COST"}
NO_FORECAST_CODES = frozenset({"DataUnavailableException"})  # AWS has nothing to forecast from: no forecast


def forecast_window(as_of: dt.date) -> tuple[dt.date, dt.date]:
    return as_of, next_month_start(as_of)


def forecast_request(as_of: dt.date, metric: str, account_id: str | None) -> dict[str, Any] | None:
    """The request for the rest of ``as_of``'s month; None when the window is empty (nothing to ask)."""
    start, end = forecast_window(as_of)
    if start >= end:
        return None
    request: dict[str, Any] = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                               "Metric": FORECAST_METRICS[metric], "Granularity": "MONTHLY"}
    if account_id is not None:
        request["Filter"] = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account_id]}}
    return request


def month_to_date(records: Iterable[CostRecord], as_of: dt.date) -> Decimal:
    """The month's complete days' cost, every service (0 on the 1st): the MONTHLY month-to-date records."""
    start = first_of_month(as_of)
    return sum((r.amount for r in records if r.granularity == MONTHLY and r.period_start == start
                and r.period_end == as_of), Decimal(0))


@reads_answer("GetCostForecast")
def parse_forecast(answer: Mapping[str, Any], as_of: dt.date, actual: Decimal) -> CostForecast:
    start, end = forecast_window(as_of)
    return CostForecast(month_start=first_of_month(as_of), forecast_start=start, forecast_end=end,
                        month_to_date=Amount(actual), forecast=Amount(answer["Total"]["Amount"]))
