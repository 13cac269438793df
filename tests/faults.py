"""A stand-in AWS on loopback that answers every operation the exporter calls, well or with a chosen fault.

It speaks the protocol the installed botocore picks for each service (read from botocore's own model, so an
upgrade that moves CloudWatch or Health to ``smithy-rpc-v2-cbor`` is followed): AWS JSON 1.0/1.1 (Cost
Explorer, Health, CloudWatch today), RPC v2 CBOR, and query/XML (STS). Operations are told apart by name
(``X-Amz-Target``, the CBOR path, or the query's ``Action``), which is unique across the services used here.

Good answers are small, real-shaped documents (:data:`GOOD`). A fault replaces one operation's answers
until cleared (:meth:`FaultyAws.fault`):

* ``truncated``: a 200 whose body is cut in half (and its Content-Length with it);
* ``short``: a 200 that declares the whole body's Content-Length, sends half and closes the connection;
* ``html``: a 200 with an HTML page (a proxy's or a captive portal's);
* ``wrong_type``, ``not_a_list``, ``missing_key``: a well-formed answer of the wrong shape (:data:`SHAPES`);
* ``access_denied``: the API's AccessDenied error; ``server_error``: HTTP 500 InternalFailure.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import botocore.session

from aws_ops_demo.loopback import LoopbackServer, post_handler

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 5, 1, 10, tzinfo=UTC)  # every timestamp the answers carry
EXPIRES = dt.datetime(2099, 1, 1, tzinfo=UTC)  # assumed-role credentials never need refreshing in a test
EVENT_ARN = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_1"
SECRET, SESSION_TOKEN = "stand-in-secret-key", "stand-in-session-token"  # never to be seen in a log
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# service (botocore's name) → the operations the exporter calls on it
OPERATIONS = {
    "ce": ("GetCostAndUsage",),
    "health": ("DescribeEvents", "DescribeEntityAggregates", "DescribeEventDetails"),
    "cloudwatch": ("GetMetricData",),
    "sts": ("AssumeRole", "GetCallerIdentity"),
}
SERVICE_OF = {operation: service for service, operations in OPERATIONS.items() for operation in operations}


@functools.lru_cache(maxsize=None)
def protocol_of(service: str) -> str:
    """The wire protocol the installed botocore uses for ``service`` (once per service: a stand-in answering
    thousands of requests would otherwise load botocore's model for each)."""
    return botocore.session.get_session().get_service_model(service).resolved_protocol


def _events(request: Mapping[str, Any]) -> dict[str, Any]:
    if "closed" in request.get("filter", {}).get("eventStatusCodes", ()):
        return {"events": []}
    return {"events": [{
        "arn": EVENT_ARN, "service": "EC2", "eventTypeCode": "AWS_EC2_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue", "region": "us-east-1", "startTime": WHEN, "lastUpdatedTime": WHEN,
        "statusCode": "open", "eventScopeCode": "ACCOUNT_SPECIFIC"}]}


def _assume_role(request: Mapping[str, Any]) -> dict[str, Any]:
    account_id = request["RoleArn"].split(":")[4]
    return {"Credentials": {"AccessKeyId": f"ASIA{account_id}", "SecretAccessKey": SECRET,
                            "SessionToken": SESSION_TOKEN, "Expiration": EXPIRES},
            "AssumedRoleUser": {"AssumedRoleId": f"AROA{account_id}:s",
                                "Arn": f"arn:aws:sts::{account_id}:assumed-role/ops/s"}}


GOOD: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "GetCostAndUsage": lambda request: {"ResultsByTime": [{
        "TimePeriod": {"Start": "2024-04-30", "End": "2024-05-01"}, "Total": {}, "Estimated": False,
        "Groups": [{"Keys": ["Amazon Elastic Compute Cloud - Compute"],
                    "Metrics": {"AmortizedCost": {"Amount": "12.5", "Unit": "USD"}}}]}],
        "DimensionValueAttributes": []},
    "DescribeEvents": _events,
    "DescribeEntityAggregates": lambda request: {"entityAggregates": [{"eventArn": EVENT_ARN, "count": 2}]},
    "DescribeEventDetails": lambda request: {"successfulSet": [{
        "event": {"arn": EVENT_ARN}, "eventDescription": {"latestDescription": "Elevated API error rates."}}],
        "failedSet": []},
    "GetMetricData": lambda request: {"MetricDataResults": [
        {"Id": q["Id"], "Label": q["Id"], "Timestamps": [WHEN], "Values": [42.0], "StatusCode": "Complete"}
        for q in request["MetricDataQueries"]], "Messages": []},
    "AssumeRole": _assume_role,
    "GetCallerIdentity": lambda request: {"UserId": "AIDAMAIN", "Account": "000000000000",
                                          "Arn": "arn:aws:iam::000000000000:user/exporter"},
}


def _first_group(answer: dict[str, Any]) -> dict[str, Any]:
    return answer["ResultsByTime"][0]["Groups"][0]


# (operation, shape) → how a good answer is spoiled; each is well-formed in its protocol.
SHAPES: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("GetCostAndUsage", "wrong_type"): lambda a: _first_group(a)["Metrics"]["AmortizedCost"].update(Amount="twelve"),
    ("GetCostAndUsage", "not_a_list"): lambda a: a["ResultsByTime"][0].update(Groups="Amazon EC2"),
    ("GetCostAndUsage", "missing_key"): lambda a: a["ResultsByTime"][0].pop("TimePeriod"),
    ("DescribeEvents", "wrong_type"): lambda a: a["events"] and a["events"][0].update(startTime="yesterday"),
    ("DescribeEvents", "not_a_list"): lambda a: a.update(events={"arn": EVENT_ARN}),
    ("DescribeEvents", "missing_key"): lambda a: a["events"] and a["events"][0].pop("arn"),
    ("GetMetricData", "wrong_type"): lambda a: [r.update(Values=["high"]) for r in a["MetricDataResults"]],
    ("GetMetricData", "not_a_list"): lambda a: a.update(MetricDataResults="m0"),
    ("GetMetricData", "missing_key"): lambda a: [r.pop("Id") for r in a["MetricDataResults"]],
    ("AssumeRole", "wrong_type"): lambda a: a["Credentials"].update(Expiration="soon"),
    ("AssumeRole", "missing_key"): lambda a: a.pop("Credentials"),
}
BODY_FAULTS = ("truncated", "short", "html")
ERROR_FAULTS = {"access_denied": (403, "AccessDenied", "AccessDeniedException",
                                  "User: arn:aws:iam::000000000000:user/exporter is not authorized to perform this"),
                "server_error": (500, "InternalFailure", "InternalFailure", "We encountered an internal error.")}


# ----------------------------------------------------------------------------------------- encoding


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for size, code in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | code]) + n.to_bytes(size, "big")
    raise ValueError(n)


def cbor(value: Any) -> bytes:
    """The few CBOR items AWS answers use (timestamps as tag 1, epoch seconds)."""
    if value is None or isinstance(value, bool):
        return {None: b"\xf6", True: b"\xf5", False: b"\xf4"}[value]
    if isinstance(value, int):
        return _cbor_head(0, value) if value >= 0 else _cbor_head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, dt.datetime):
        return b"\xc1" + cbor(value.timestamp())
    if isinstance(value, str):
        data = value.encode()
        return _cbor_head(3, len(data)) + data
    if isinstance(value, list):
        return _cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return _cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value).__name__)


def _xml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items())
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def encode(protocol: str, operation: str, answer: dict[str, Any], json_type: str) -> tuple[str, bytes]:
    """(Content-Type, body) of an answer in ``protocol``."""
    if protocol == "smithy-rpc-v2-cbor":
        return "application/cbor", cbor(answer)
    if protocol == "query":
        xml = (f'<{operation}Response xmlns="{STS_NS}"><{operation}Result>{_xml(answer)}</{operation}Result>'
               f"<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></{operation}Response>")
        return "text/xml", xml.encode()
    return json_type, json.dumps(answer, default=_json_default).encode()


def decode_request(protocol: str, content_type: str, body: bytes) -> dict[str, Any]:
    if protocol == "query":
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}
    if protocol == "smithy-rpc-v2-cbor":
        from botocore.parsers import RpcV2CBORParser  # the one CBOR reader at hand

        parser = RpcV2CBORParser()
        return parser.parse_data_item(parser.get_peekable_stream_from_bytes(body)) if body else {}
    return json.loads(body or b"{}")


HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Please sign in.</p></body></html>"


# ---------------------------------------------------------------------------------------- the server


class FaultyAws:
    """The stand-in: ``with FaultyAws() as aws:`` then point ``AWS_ENDPOINT_URL`` at ``aws.endpoint``."""

    def __init__(self) -> None:
        self._faults: dict[str, str] = {}
        self._lock = threading.Lock()
        self.calls: list[str] = []
        self.server = LoopbackServer(post_handler(self._serve))

    def __enter__(self) -> FaultyAws:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def fault(self, operation: str, kind: str) -> None:
        if kind not in (*BODY_FAULTS, *ERROR_FAULTS) and (operation, kind) not in SHAPES:
            raise KeyError(f"no {kind} fault for {operation}")
        with self._lock:
            self._faults[operation] = kind

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @staticmethod
    def _operation(http: BaseHTTPRequestHandler, body: bytes) -> str:
        target = http.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        if "/operation/" in http.path:
            return http.path.rsplit("/", 1)[-1]
        return parse_qs(body.decode()).get("Action", [""])[0]

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        body = http.rfile.read(int(http.headers.get("Content-Length", 0)))
        operation = self._operation(http, body)
        with self._lock:
            self.calls.append(operation)
            kind = self._faults.get(operation)
        protocol = protocol_of(SERVICE_OF[operation])
        request_type = http.headers.get("Content-Type", "")
        json_type = request_type if request_type.startswith("application/x-amz-json") else "application/json"
        if kind in ERROR_FAULTS:
            return self._error(http, protocol, json_type, *ERROR_FAULTS[kind])
        answer = copy.deepcopy(GOOD[operation](decode_request(protocol, request_type, body)))
        if (operation, kind) in SHAPES:
            SHAPES[(operation, kind)](answer)
        content_type, data = encode(protocol, operation, answer, json_type)
        if kind == "html":
            content_type, data = "text/html; charset=utf-8", HTML
        declared = len(data)
        if kind == "truncated":
            data = data[: len(data) // 2]
            declared = len(data)
        elif kind == "short":
            data = data[: len(data) // 2]
        http.send_response(200)
        http.send_header("Content-Type", content_type)
        http.send_header("x-amzn-RequestId", "r-1")
        if protocol == "smithy-rpc-v2-cbor":
            http.send_header("smithy-protocol", "rpc-v2-cbor")
        http.send_header("Content-Length", str(declared))
        http.end_headers()
        http.wfile.write(data)
        if kind == "short":  # the connection ends before the body does
            http.wfile.flush()
            http.close_connection = True
            http.connection.shutdown(socket.SHUT_WR)

    @staticmethod
    def _error(http: BaseHTTPRequestHandler, protocol: str, json_type: str, status: int, query_code: str,
               json_code: str, message: str) -> None:
        if protocol == "query":
            content_type = "text/xml"
            data = (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{query_code}</Code>'
                    f"<Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>").encode()
        elif protocol == "smithy-rpc-v2-cbor":
            content_type, data = "application/cbor", cbor({"__type": json_code, "message": message})
        else:
            content_type = json_type
            data = json.dumps({"__type": json_code, "message": message}).encode()
        http.send_response(status)
        http.send_header("Content-Type", content_type)
        if protocol == "smithy-rpc-v2-cbor":
            http.send_header("smithy-protocol", "rpc-v2-cbor")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)
