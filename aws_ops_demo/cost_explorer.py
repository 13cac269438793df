"""A Cost Explorer stand-in that interprets GetCostAndUsage, GetAnomalies and GetCostForecast (moto only replays
GetCostAndUsage answers it was seeded with, and answers the other two with a 500).

A threaded loopback HTTP server speaking the protocol botocore uses for ``ce`` (botocore's service model:
``protocol: json``, ``jsonVersion: 1.1``, ``targetPrefix: AWSInsightsIndexService``): a POST with
``X-Amz-Target: AWSInsightsIndexService.<operation>`` and a JSON body; errors as ``{"__type", "Message"}``.
It answers from :class:`~aws_ops_demo.cost_data.CostData` (accounts × services × days, exact amounts with ten
decimals, split by usage type and record type) or any :class:`~aws_ops_demo.cost_data.Splits`, and honours:

* ``TimePeriod`` (End exclusive), ``Granularity`` DAILY / MONTHLY (periods cut at month boundaries and at the
  window's ends), ``Metrics`` (each one its own deterministic amounts);
* ``GroupBy`` up to two of SERVICE, LINKED_ACCOUNT, USAGE_TYPE, RECORD_TYPE (not the last two together; ``Keys``
  in the order asked), or none (``Total``);
* ``Filter`` ``Dimensions`` on LINKED_ACCOUNT or SERVICE, or an ``And`` of them;
* ``Estimated``: the last ``estimated_days`` days before ``today`` (and today), and every month period that
  is in the current month or holds such a day;
* pagination like real Cost Explorer: at most ``page_size`` groups a page, counted across ResultsByTime, so a
  period's groups can be split over two pages (the same TimePeriod on both, with other groups); a period
  without groups sits on the page where it falls in order. ``page_size`` is this stand-in's assumption
  (real Cost Explorer does not document its page size).

GetAnomalies and GetCostForecast: :mod:`aws_ops_demo.ce_insights`. Every request is recorded
(:attr:`CostExplorerStandIn.requests`: the bodies of the answered, billed GetCostAndUsage requests;
:attr:`CostExplorerStandIn.calls`: (operation, body) of every answered request). The management account's view is
simply every account of the data: a fleet may serve fewer, and it does not tell who asks.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from typing import Any

from aws_ops_demo.cost_data import (LINKED_ACCOUNT, ONE_DAY, RECORD_TYPE, SERVICE, USAGE_TYPE, CostData,  # noqa: F401
                                    Splits, _Invalid, scope, usd)
from aws_ops_demo.ce_insights import answer_anomalies, answer_forecast
from aws_ops_demo.loopback import serve
from exporter.periods import first_of_month, month_windows

PREFIX = "AWSInsightsIndexService."
TARGET = PREFIX + "GetCostAndUsage"
OPERATIONS = ("GetCostAndUsage", "GetAnomalies", "GetCostForecast")
GROUP_KEYS = (SERVICE, LINKED_ACCOUNT, USAGE_TYPE, RECORD_TYPE)


Result = tuple[tuple[dt.date, dt.date, bool], list[tuple[tuple[str, ...], list[int]]]]


class _Answer:
    """One request's answer, kept compact (a million groups would not fit as dicts); pages rendered on demand.

    Pages hold at most ``page_size`` groups, counted across ResultsByTime: a period's groups continue on the
    next page when one fills up; a period without groups stays on the page where it falls."""

    def __init__(self, key: str, metrics: list[str], group_keys: list[str], results: list[Result], page_size: int):
        self.key, self.metrics, self.group_keys, self.results = key, metrics, group_keys, results
        self.slices: list[list[tuple[int, int, int]]] = [[]]  # per page: (result index, first group, end)
        room = page_size
        for index, (_, groups) in enumerate(results):
            if not groups:
                self.slices[-1].append((index, 0, 0))
            offset = 0
            while offset < len(groups):
                if room == 0:
                    self.slices.append([])
                    room = page_size
                taken = min(room, len(groups) - offset)
                self.slices[-1].append((index, offset, offset + taken))
                offset, room = offset + taken, room - taken

    def __len__(self) -> int:
        return len(self.slices)

    def _money(self, values: list[int]) -> dict[str, Any]:
        return {m: {"Amount": usd(v), "Unit": "USD"} for m, v in zip(self.metrics, values)}

    def page(self, number: int) -> dict[str, Any]:
        results_by_time = []
        for index, lo, hi in self.slices[number]:
            (start, end, estimated), groups = self.results[index]
            head = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Estimated": estimated}
            if not self.group_keys:
                total = groups[0][1] if groups else [0] * len(self.metrics)
                results_by_time.append({**head, "Total": self._money(total), "Groups": []})
            else:
                results_by_time.append({**head, "Total": {}, "Groups": [
                    {"Keys": list(keys), "Metrics": self._money(values)} for keys, values in groups[lo:hi]]})
        page: dict[str, Any] = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": k} for k in self.group_keys],
                                "ResultsByTime": results_by_time, "DimensionValueAttributes": []}
        if number + 1 < len(self.slices):
            page["NextPageToken"] = base64.b64encode(f"{number + 1}:{self.key}".encode()).decode()
        return page


class CostExplorerStandIn:
    """``today``: the day the stand-in treats as today (tests pin it to the exporter's ``as_of``), or a function
    that says it (a demo served for days follows the clock)."""

    def __init__(self, data: Splits, today: dt.date | Callable[[], dt.date], estimated_days: int = 3,
                 page_size: int = 100, anomalies: Sequence[dict[str, Any]] | Callable[[dt.date], Sequence[dict[str, Any]]] = ()):
        """``anomalies``: GetAnomalies' anomaly objects as AWS writes them (or a function of today giving them)."""
        self.data, self.estimated_days, self.page_size = data, estimated_days, page_size
        self._today = today
        self.anomalies = anomalies
        self.requests: list[dict[str, Any]] = []  # answered (billed) GetCostAndUsage bodies, in order
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every answered (billed) request: (operation, body)
        self.attempts = 0  # every request, failed ones included
        self.lock = threading.Lock()
        self._failure: tuple[str, int, Callable[[str, dict[str, Any]], bool] | None] | None = None
        self._answers: OrderedDict[str, _Answer] = OrderedDict()  # request → its answer, kept for its pages

    @property
    def today(self) -> dt.date:
        return self._today() if callable(self._today) else self._today

    @today.setter
    def today(self, day: dt.date) -> None:
        self._today = day

    # ------------------------------------------------------------------------------------- test controls

    def fail(self, kind: str, after: int = 0, when: Callable[[str, dict[str, Any]], bool] | None = None) -> None:
        """From the request after the next ``after`` ones on, answer every request with ``kind``: ``"500"``
        (InternalServerError), ``"denied"`` (AccessDeniedException) or ``"truncated"`` (a body cut short).
        ``when(operation, body)``: only the requests it is true for (and counted by ``after``)."""
        with self.lock:
            self._failure = (kind, after, when)

    def heal(self) -> None:
        with self.lock:
            self._failure = None

    def billed(self, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests[since:])

    def _anomalies(self) -> Sequence[dict[str, Any]]:
        return self.anomalies(self.today) if callable(self.anomalies) else self.anomalies

    # ----------------------------------------------------------------------------------------- answers

    def estimated(self, start: dt.date, end: dt.date, granularity: str) -> bool:
        last_final = self.today - dt.timedelta(days=self.estimated_days)  # days from this one on are estimated
        if granularity == "MONTHLY" and start >= first_of_month(self.today):
            return True
        return end > last_final

    def pages(self, request: dict[str, Any]) -> _Answer:
        """The answer to a request (its NextPageToken left out), computed once and kept for its next pages."""
        key = _canonical(request)
        with self.lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = self._compute(request, key)
        with self.lock:
            self._answers[key] = answer
            while len(self._answers) > 4:
                self._answers.popitem(last=False)
        return answer

    def _periods(self, request: dict[str, Any]) -> list[tuple[dt.date, dt.date]]:
        try:
            start = dt.date.fromisoformat(request["TimePeriod"]["Start"])
            end = dt.date.fromisoformat(request["TimePeriod"]["End"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _Invalid("ValidationException", f"bad TimePeriod: {exc}") from exc
        if start >= end:
            raise _Invalid("ValidationException", "Start date must be before End date")
        granularity = request.get("Granularity")
        if granularity == "DAILY":
            return [(start + i * ONE_DAY, start + (i + 1) * ONE_DAY) for i in range((end - start).days)]
        if granularity == "MONTHLY":
            return month_windows(start, end)
        raise _Invalid("ValidationException", f"unsupported Granularity {granularity!r}")

    def _compute(self, request: dict[str, Any], key: str) -> _Answer:
        periods, (accounts, services) = self._periods(request), scope(self.data, request.get("Filter"))
        metrics = request.get("Metrics") or []
        if not metrics:
            raise _Invalid("ValidationException", "Metrics must be given")
        group_keys = [g.get("Key") for g in request.get("GroupBy", [])]
        split = next((k for k in group_keys if k in (USAGE_TYPE, RECORD_TYPE)), None)
        if any(k not in GROUP_KEYS for k in group_keys) or len(set(group_keys)) != len(group_keys) \
                or len(group_keys) > 2 or {USAGE_TYPE, RECORD_TYPE} <= set(group_keys):
            raise _Invalid("ValidationException", f"unsupported GroupBy {request.get('GroupBy')!r}")
        results = []
        for start, end in periods:
            sums: dict[tuple[str, ...], list[int]] = {}
            for account in accounts:
                for service in services:
                    for i, metric in enumerate(metrics):
                        if split is None:
                            value = self.data.total(metric, account, service, start, end)
                            parts = {"": value} if value is not None else {}
                        else:
                            parts = self.data.split(split, metric, account, service, start, end)
                        for part, value in parts.items():
                            names = {LINKED_ACCOUNT: account, SERVICE: service, split: part}
                            keys = tuple(names[k] for k in group_keys)
                            sums.setdefault(keys, [0] * len(metrics))[i] += value
            results.append(((start, end, self.estimated(start, end, request["Granularity"])), sorted(sums.items())))
        return _Answer(key, metrics, group_keys, results, self.page_size)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        token = request.get("NextPageToken")
        answer = self.pages({k: v for k, v in request.items() if k != "NextPageToken"})
        if not token:
            return answer.page(0)
        try:
            number, key = base64.b64decode(token).decode().split(":", 1)
            if key != answer.key:
                raise ValueError("token of another request")
            return answer.page(int(number))
        except (ValueError, IndexError) as exc:
            raise _Invalid("InvalidNextTokenException", f"The next page token is invalid: {exc}") from exc

    # ------------------------------------------------------------------------------------------ server

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects

            def setup(self) -> None:
                super().setup()
                # Headers and body are two writes: without this, Nagle's algorithm and the client's delayed
                # ACK hold every answer back ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target") or ""
                operation = target[len(PREFIX):] if target.startswith(PREFIX) else ""
                if operation not in OPERATIONS:
                    return self._reply(400, {"__type": "UnknownOperationException", "Message": f"not served here: {target}"})
                request = json.loads(body or b"{}")
                with stand_in.lock:
                    stand_in.attempts += 1
                    failure = stand_in._failure
                    if failure is not None and failure[2] is not None and not failure[2](operation, request):
                        failure = None
                    elif failure is not None and failure[1] > 0:
                        stand_in._failure = (failure[0], failure[1] - 1, failure[2])
                        failure = None
                if failure is not None:
                    return self._fail(failure[0], operation)
                try:
                    page = stand_in.answer(request) if operation == "GetCostAndUsage" else \
                        answer_anomalies(stand_in._anomalies(), request, stand_in.page_size) \
                        if operation == "GetAnomalies" else answer_forecast(stand_in.data, stand_in.today, request)
                except _Invalid as exc:
                    return self._reply(400, {"__type": exc.code, "Message": exc.message})
                with stand_in.lock:
                    stand_in.calls.append((operation, request))
                    if operation == "GetCostAndUsage":
                        stand_in.requests.append(request)
                self._reply(200, page)

            def _fail(self, kind: str, operation: str) -> None:
                if kind == "500":
                    return self._reply(500, {"__type": "InternalServerError", "Message": "stand-in failure"})
                if kind == "denied":
                    return self._reply(400, {"__type": "AccessDeniedException",
                                             "Message": f"User is not authorized to perform: ce:{operation}"})
                return self._reply(200, {"ResultsByTime": [{"TimePeriod": {"Start": "2026-01-01"}}]}, cut=True)

            def _reply(self, status: int, payload: dict[str, Any], cut: bool = False) -> None:
                """``cut``: announce the whole body, send half of it and close (a body cut short)."""
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("x-amzn-RequestId", hashlib.sha1(data).hexdigest())
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2] if cut else data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = self.close_connection or cut

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def serve(self) -> AbstractContextManager[str]:
        """The endpoint URL while the server runs (point ``AWS_ENDPOINT_URL_COST_EXPLORER`` at it)."""
        return serve(self.handler())


def _canonical(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:32]
