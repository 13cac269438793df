"""A stand-in AWS that enforces a rate per API: :class:`tests.faults.FaultyAws`'s answers (STS AssumeRole in
query/XML, Cost Explorer in JSON 1.1, Health, CloudWatch in the protocol botocore picks), and to any request
beyond its operation's rate the error AWS answers then: ``Throttling`` (query: STS, older CloudWatch),
``LimitExceededException`` "Rate limit exceeded" (Cost Explorer), ``ThrottlingException`` (the JSON APIs), HTTP 400.

Each operation has its own bucket here (rate, burst of ``max(2, rate)``), kept by the server's own clock and
written apart from :mod:`exporter.ratelimit`, so the exporter's buckets are checked against an independent one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.faults import SERVICE_OF, FaultyAws, protocol_of

THROTTLE_CODES = {"GetCostAndUsage": "LimitExceededException"}  # what Cost Explorer answers; else by protocol
MESSAGES = {"LimitExceededException": "Rate limit exceeded"}


class ThrottlingAws(FaultyAws):
    """``ThrottlingAws({"GetCostAndUsage": 10, "AssumeRole": 5})``: requests per second per operation (others
    unlimited), bursts of ``burst`` (else ``max(2, rate)``). ``served`` and ``throttled`` count the answers per operation."""

    def __init__(self, rates: Mapping[str, float], burst: float | None = None) -> None:
        super().__init__()
        self.rates = dict(rates)
        self.burst = burst
        self._level: dict[str, tuple[float, float]] = {}  # operation → (tokens, when)
        self._bucket_lock = threading.Lock()
        self.served: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def _admit(self, operation: str) -> bool:
        rate = self.rates.get(operation)
        if rate is None:
            return True
        burst = self.burst or max(2.0, rate)
        with self._bucket_lock:
            now = time.monotonic()  # clock-ok: the stand-in enforces a rate in real time
            tokens, when = self._level.get(operation, (burst, now))
            tokens = min(burst, tokens + (now - when) * rate)
            admitted = tokens >= 1
            self._level[operation] = (tokens - 1 if admitted else tokens, now)
            (self.served if admitted else self.throttled)[operation] += 1
            return admitted

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length", 0))
        body = http.rfile.read(length)
        operation = self._operation(http, body)
        if self._admit(operation):
            keep, http.rfile = http.rfile, _Replay(body)  # FaultyAws reads the body again
            try:
                return super()._serve(http)
            finally:
                http.rfile = keep
        protocol = protocol_of(SERVICE_OF[operation])
        request_type = http.headers.get("Content-Type", "")
        json_type = request_type if request_type.startswith("application/x-amz-json") else "application/json"
        code = THROTTLE_CODES.get(operation) or ("Throttling" if protocol == "query" else "ThrottlingException")
        self._error(http, protocol, json_type, 400, code, code, MESSAGES.get(code, "Rate exceeded"))


class _Replay:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self, n: int = -1) -> bytes:
        data, self.body = (self.body, b"") if n < 0 else (self.body[:n], self.body[n:])
        return data

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)
