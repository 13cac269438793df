"""The cost split by record type (Cost Explorer's RECORD_TYPE: Usage, Credit, Refund, Tax, Support fees…), as
the console's "Charge type" shows it; ``aws_cost_usd`` keeps every record type together, as it always has.

Chosen by what it costs ($0.01 a request, a page): one request per refresh, MONTHLY over [1st of last month,
today), grouped by RECORD_TYPE only (per-account mode: filtered to the account; payer mode: one request for the
organization, grouped by LINKED_ACCOUNT and RECORD_TYPE). It gives last month and the month to date in a page or
two (a handful of record types per account and month); a daily split would cost a second request per refresh,
and the record types that are not usage (fees, tax, credits, refunds) are mostly booked per month anyway.
Grouping the existing MONTHLY request by SERVICE and RECORD_TYPE instead would multiply its pages, is not
available in payer mode (already two keys) and not when no MONTHLY request is sent (``history_days`` ≥ 62).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.answers import reads_answer
from exporter.model import MONTH_TO_DATE, MONTHLY, Amount, RecordTypeCost
from exporter.periods import first_of_month, previous_month_start


@dataclass(frozen=True, slots=True)
class RecordTypeQuery:
    start: dt.date
    end: dt.date
    metric: str
    account_id: str | None = None  # LINKED_ACCOUNT filter (per-account mode)
    by_account: bool = False  # payer mode: grouped by LINKED_ACCOUNT and RECORD_TYPE

    @classmethod
    def of(cls, as_of: dt.date, metric: str, account_id: str | None = None) -> RecordTypeQuery:
        return cls(previous_month_start(as_of), as_of, metric, account_id, by_account=account_id is None)

    def request(self, next_page_token: str | None = None) -> dict[str, Any]:
        keys = ("LINKED_ACCOUNT", "RECORD_TYPE") if self.by_account else ("RECORD_TYPE",)
        request: dict[str, Any] = {
            "TimePeriod": {"Start": self.start.isoformat(), "End": self.end.isoformat()},
            "Granularity": "MONTHLY",
            "Metrics": [self.metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in keys],
        }
        if self.account_id is not None:
            request["Filter"] = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [self.account_id]}}
        if next_page_token:
            request["NextPageToken"] = next_page_token
        return request


@reads_answer("GetCostAndUsage")
def parse_record_types(pages: Iterable[Mapping[str, Any]], query: RecordTypeQuery, as_of: dt.date
                       ) -> dict[str, tuple[RecordTypeCost, ...]]:
    """account id ("" when not grouped by account) → its record types' cost: last month (``monthly``) and the
    month to date (``month_to_date``; absent on the 1st, when the window holds last month only)."""
    this_month = first_of_month(as_of)
    found: dict[str, dict[tuple[str, str], RecordTypeCost]] = {}
    for page in pages:
        for result in page.get("ResultsByTime", ()):
            start = dt.date.fromisoformat(result["TimePeriod"]["Start"])
            end = dt.date.fromisoformat(result["TimePeriod"]["End"])
            granularity = MONTH_TO_DATE if start == this_month else MONTHLY
            for group in result.get("Groups", ()):
                value = group.get("Metrics", {}).get(query.metric)
                if value is None:
                    continue
                keys = group["Keys"]
                account_id = keys[0] if query.by_account else ""
                record = RecordTypeCost(sys.intern(keys[-1]), granularity, start, end, Amount(value["Amount"]),
                                        bool(result.get("Estimated", False)))
                found.setdefault(account_id, {})[(record.granularity, record.record_type)] = record
    return {account_id: tuple(sorted(records.values(), key=lambda r: (r.granularity, r.record_type)))
            for account_id, records in found.items()}
