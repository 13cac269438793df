"""A loopback stand-in for CloudWatch cross-account observability: STS, OAM and CloudWatch on one server.

moto has no OAM and ignores CloudWatch's cross-account fields, so this server answers from its own per-account,
per-region datapoints, in the wire protocols botocore uses (real boto3 clients talk to it; if botocore's
serializers and parsers accept it, the exporter runs its production code path):

* STS (``query``: form-encoded request, XML answer): AssumeRole, whose access key names the role's account.
* OAM (``rest-json``): ``POST /ListSinks`` and ``POST /ListAttachedLinks`` (MaxResults/NextToken pages).
* CloudWatch (``json``, awsJson1_0, ``X-Amz-Target: GraniteServiceVersion20100801.<Operation>``, the protocol
  botocore picks from the model's ``protocols``): ListMetrics (``IncludeLinkedAccounts``, ``OwningAccount``
  → ``Metrics`` + ``OwningAccounts``; ``page_size`` metrics a page) and GetMetricData (each query's
  ``AccountId``; at most 500 queries, unique ids; buckets aligned to StartTime as moto aligns them).

The caller is told by the access key of the request's SigV4 ``Authorization`` header (the main keys are the
monitoring account; AssumeRole hands out ``ASIA<account id>…``), the region and service by its credential
scope. A caller reads its own metrics, and with ``IncludeLinkedAccounts``/``AccountId`` those of the accounts
linked to its sink in that region that share ``AWS::CloudWatch::Metric``; asking for another account's metric
is refused (a ValidationError), so a collector that asks for an unlinked account fails loudly here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from aws_ops_demo.loopback import post_handler

UTC = dt.timezone.utc
METRIC_RESOURCE_TYPE = "AWS::CloudWatch::Metric"
CLOUDWATCH_TARGET = "GraniteServiceVersion20100801."
CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
ASSUMED_KEY_RE = re.compile(r"^ASIA(\d{12})")
QUERY_ID_RE = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
MAX_QUERIES = 500
# Over the statistic sets (SampleCount, Sum, Minimum, Maximum) of a bucket's datums.
STATS: dict[str, Callable[[list[tuple[float, float, float, float]]], float]] = {
    "Average": lambda v: sum(s[1] for s in v) / sum(s[0] for s in v), "Sum": lambda v: sum(s[1] for s in v),
    "Minimum": lambda v: min(s[2] for s in v), "Maximum": lambda v: max(s[3] for s in v),
    "SampleCount": lambda v: sum(s[0] for s in v),
}


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Datum:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]  # sorted by name
    timestamp: dt.datetime
    value: float
    statistics: tuple[float, float, float, float] | None = None  # (SampleCount, Sum, Minimum, Maximum)

    @property
    def statistic_set(self) -> tuple[float, float, float, float]:
        return self.statistics or (1.0, self.value, self.value, self.value)


@dataclass(frozen=True)
class Request:
    service: str  # the SigV4 signing name: sts | oam | monitoring
    operation: str
    caller: str  # the account the access key belongs to
    access_key: str
    region: str
    body: Mapping[str, Any]


@dataclass
class Seed:
    """What the stand-in knows: datapoints per (account, region), the monitoring account's sinks and links."""

    monitoring_account: str
    now: dt.datetime
    datapoints: dict[tuple[str, str], list[Datum]] = field(default_factory=dict)
    sink_regions: set[str] = field(default_factory=set)
    links: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # region → account → types
    denied_roles: set[str] = field(default_factory=set)  # AssumeRole into these is AccessDenied

    def put(self, account_id: str, region: str, namespace: str, metric: str, dimensions: Mapping[str, str],
            timestamp: dt.datetime, value: float) -> None:
        self.datapoints.setdefault((account_id, region), []).append(
            Datum(namespace, metric, tuple(sorted(dimensions.items())), timestamp, value))

    def put_datum(self, account_id: str, region: str, namespace: str, datum: Mapping[str, Any]) -> None:
        """One PutMetricData datum (``Value`` or ``StatisticValues``), as an account would publish it."""
        dims = tuple(sorted((d["Name"], d["Value"]) for d in datum.get("Dimensions", ())))
        stats = datum.get("StatisticValues")
        statistics = None if stats is None else (
            float(stats["SampleCount"]), float(stats["Sum"]), float(stats["Minimum"]), float(stats["Maximum"]))
        value = float(datum["Value"]) if stats is None else statistics[1] / statistics[0]
        self.datapoints.setdefault((account_id, region), []).append(
            Datum(namespace, datum["MetricName"], dims, datum["Timestamp"], value, statistics))
        self.now = max(self.now, datum["Timestamp"])

    def link(self, account_id: str, *regions: str, resource_types: tuple[str, ...] = (METRIC_RESOURCE_TYPE,)) -> None:
        """Link ``account_id`` to the monitoring account's sink in ``regions`` (creating the sinks)."""
        for region in regions:
            self.sink_regions.add(region)
            self.links.setdefault(region, {})[account_id] = resource_types

    def sink_arn(self, region: str) -> str:
        return f"arn:aws:oam:{region}:{self.monitoring_account}:sink/{uuid.uuid5(uuid.NAMESPACE_URL, region)}"

    def readable(self, caller: str, region: str) -> list[str]:
        """The accounts whose metrics ``caller`` reads in ``region``: its own, then its linked ones."""
        linked = []
        if caller == self.monitoring_account and region in self.sink_regions:
            linked = sorted(a for a, types in self.links.get(region, {}).items() if METRIC_RESOURCE_TYPE in types)
        return [caller] + [a for a in linked if a != caller]


class CloudWatchMonitoringStandIn:
    """The three APIs over HTTP; ``requests`` lists every request (OAM and CloudWatch ones with their JSON body)."""

    def __init__(self, seed: Seed, page_size: int = 500, links_page_size: int = 100, results_page_size: int = 0):
        """``page_size``: ListMetrics metrics a page; ``links_page_size``: ListAttachedLinks items a page;
        ``results_page_size``: GetMetricData results a page (0: all in one)."""
        self.seed = seed
        self.page_size = page_size
        self.links_page_size = links_page_size
        self.results_page_size = results_page_size
        self.failures: dict[tuple[str, str], tuple[str, str]] = {}  # (operation, region) → (code, message)
        self.requests: list[Request] = []
        self.assumed: list[str] = []  # role ARNs, in AssumeRole order
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler to serve (``tests.aws_helpers.serve``)."""
        return post_handler(self._serve)

    def calls(self, service: str, operation: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.service == service and operation in (None, r.operation)]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.assumed.clear()

    # -------------------------------------------------------------------------------------- dispatch

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        raw = http.rfile.read(int(http.headers.get("Content-Length") or 0))
        match = CREDENTIAL_RE.search(http.headers.get("Authorization", ""))
        if not match:
            return self._reply(http, 403, b'{"message": "Missing Authentication Token"}', "application/json")
        access_key, region, service = match.groups()
        assumed = ASSUMED_KEY_RE.match(access_key)
        caller = assumed.group(1) if assumed else self.seed.monitoring_account
        if service == "sts":
            return self._sts(http, parse_qs(raw.decode()), caller, access_key, region)
        json_type = "application/json" if service == "oam" else "application/x-amz-json-1.0"
        try:
            if service == "oam":
                operation = http.path.strip("/")
            elif service == "monitoring":
                target = http.headers.get("X-Amz-Target", "")
                if not target.startswith(CLOUDWATCH_TARGET):
                    raise ApiError("UnknownOperationException", "the stand-in speaks CloudWatch's awsJson1_0 only "
                                   f"(X-Amz-Target {CLOUDWATCH_TARGET}*), got {target!r}")
                operation = target[len(CLOUDWATCH_TARGET):]
            else:
                raise ApiError("UnknownServiceException", f"the stand-in does not serve {service!r}")
            body = json.loads(raw or b"{}")
            with self.lock:
                self.requests.append(Request(service, operation, caller, access_key, region, body))
                failure = self.failures.get((operation, region))
            if failure is not None:
                raise ApiError(*failure)
            handler = {("oam", "ListSinks"): self._list_sinks, ("oam", "ListAttachedLinks"): self._list_attached_links,
                       ("monitoring", "ListMetrics"): self._list_metrics,
                       ("monitoring", "GetMetricData"): self._get_metric_data}.get((service, operation))
            if handler is None:
                raise ApiError("UnknownOperationException", f"{service} {operation} is not served here")
            payload: dict[str, Any] = handler(caller, region, body)
        except ApiError as exc:
            headers = {"x-amzn-ErrorType": exc.code} if service == "oam" else {}
            return self._reply(http, exc.status, json.dumps({"__type": exc.code, "message": exc.message}).encode(),
                               json_type, headers)
        return self._reply(http, 200, json.dumps(payload).encode(), json_type)

    @staticmethod
    def _reply(http: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str,
               headers: Mapping[str, str] | None = None) -> None:
        http.send_response(status)
        http.send_header("Content-Type", content_type)
        http.send_header("Content-Length", str(len(data)))
        http.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            http.send_header(name, value)
        http.end_headers()
        http.wfile.write(data)

    # ------------------------------------------------------------------------------------------- STS

    def _sts(self, http: BaseHTTPRequestHandler, form: dict[str, list[str]], caller: str, access_key: str,
             region: str) -> None:
        action = form.get("Action", [""])[0]
        role_arn = form.get("RoleArn", [""])[0]
        with self.lock:
            self.requests.append(Request("sts", action, caller, access_key, region, {"RoleArn": role_arn}))
        if action != "AssumeRole" or role_arn in self.seed.denied_roles:
            code, message = (("AccessDenied", f"not authorized to perform sts:AssumeRole on {role_arn}")
                             if action == "AssumeRole" else ("InvalidAction", f"{action} is not served here"))
            body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                    f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>")
            return self._reply(http, 403, body.encode(), "text/xml")
        with self.lock:
            self.assumed.append(role_arn)
        account_id = role_arn.split(":")[4]
        expires = (self.seed.now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = f"ASIA{account_id}{len(self.assumed):04d}"
        body = (f'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
                f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>"
                f"<SessionToken>token-{key}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
                f"<AssumedRoleUser><AssumedRoleId>AROA{account_id}:s</AssumedRoleId><Arn>{role_arn}</Arn>"
                "</AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId>"
                "</ResponseMetadata></AssumeRoleResponse>")
        return self._reply(http, 200, body.encode(), "text/xml")

    # ------------------------------------------------------------------------------------------- OAM

    def _list_sinks(self, caller: str, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if caller != self.seed.monitoring_account or region not in self.seed.sink_regions:
            return {"Items": []}
        arn = self.seed.sink_arn(region)
        return {"Items": [{"Arn": arn, "Id": arn.rsplit("/", 1)[1], "Name": "monitoring"}]}

    def _list_attached_links(self, caller: str, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if caller != self.seed.monitoring_account or body.get("SinkIdentifier") != self.seed.sink_arn(region):
            raise ApiError("ResourceNotFoundException", f"no sink {body.get('SinkIdentifier')!r}", 404)
        items = [{"Label": f"acct-{account_id}", "ResourceTypes": list(types),
                  "LinkArn": f"arn:aws:oam:{region}:{account_id}:link/{uuid.uuid5(uuid.NAMESPACE_URL, account_id)}"}
                 for account_id, types in sorted(self.seed.links.get(region, {}).items())]
        size = min(self.links_page_size, int(body.get("MaxResults") or self.links_page_size))
        return paged(items, body.get("NextToken"), size, lambda page: {"Items": page})

    # ------------------------------------------------------------------------------------ CloudWatch

    def _list_metrics(self, caller: str, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        linked = bool(body.get("IncludeLinkedAccounts"))
        accounts = self.seed.readable(caller, region) if linked else [caller]
        if body.get("OwningAccount"):
            if not linked:
                raise ApiError("InvalidParameterCombination", "OwningAccount needs IncludeLinkedAccounts")
            accounts = [a for a in accounts if a == body["OwningAccount"]]
        recent = self.seed.now - dt.timedelta(hours=3 if body.get("RecentlyActive") == "PT3H" else 14 * 24)
        wanted = [(d["Name"], d.get("Value")) for d in body.get("Dimensions", ())]
        found: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], None] = {}  # in the order first put
        for account_id in accounts:
            for d in self.seed.datapoints.get((account_id, region), ()):
                dims = dict(d.dimensions)
                if (body.get("Namespace") not in (None, d.namespace) or body.get("MetricName") not in (None, d.metric)
                        or d.timestamp < recent or any(n not in dims or v not in (None, dims[n]) for n, v in wanted)):
                    continue
                found.setdefault((account_id, d.namespace, d.metric, d.dimensions), None)
        metrics = [(a, {"Namespace": ns, "MetricName": name, "Dimensions": [{"Name": n, "Value": v} for n, v in dims]})
                   for a, ns, name, dims in found]

        def page(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
            answer: dict[str, Any] = {"Metrics": [m for _, m in items]}
            if linked:
                answer["OwningAccounts"] = [a for a, _ in items]
            return answer

        return paged(metrics, body.get("NextToken"), self.page_size, page)

    def _get_metric_data(self, caller: str, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        queries = body.get("MetricDataQueries", [])
        if len(queries) > MAX_QUERIES:
            raise ApiError("ValidationError", f"The collection MetricDataQueries must not have a size greater than "
                           f"{MAX_QUERIES}.")
        ids = [q["Id"] for q in queries]
        if len(set(ids)) != len(ids) or not all(QUERY_ID_RE.match(i) for i in ids):
            raise ApiError("ValidationError", "MetricDataQueries ids must be unique and match ^[a-z][a-zA-Z0-9_]*$")
        readable = self.seed.readable(caller, region)
        start, end = float(body["StartTime"]), float(body["EndTime"])
        results = []
        for q in queries:
            account_id = q.get("AccountId", caller)
            if account_id not in readable:
                raise ApiError("ValidationError", f"account {account_id} is not linked to {caller} in {region}")
            results.append(self._result(q, account_id, region, start, end))
        results.sort(key=lambda r: r["Id"])  # answers need not follow the query order
        return paged(results, body.get("NextToken"), self.results_page_size or len(results) or 1,
                     lambda items: {"MetricDataResults": items, "Messages": []})

    def _result(self, query: Mapping[str, Any], account_id: str, region: str, start: float, end: float
                ) -> dict[str, Any]:
        stat, period = query["MetricStat"]["Stat"], int(query["MetricStat"]["Period"])
        if stat not in STATS:
            raise ApiError("ValidationError", f"the stand-in computes {', '.join(STATS)} only, not {stat}")
        metric = query["MetricStat"]["Metric"]
        dims = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", ())))
        buckets: dict[float, list[float]] = {}
        for d in self.seed.datapoints.get((account_id, region), ()):
            at = d.timestamp.timestamp()
            if (d.namespace, d.metric, d.dimensions) == (metric["Namespace"], metric["MetricName"], dims) \
                    and start <= at < end:
                buckets.setdefault(start + (at - start) // period * period, []).append(d.statistic_set)
        newest_first = sorted(buckets, reverse=True)
        return {"Id": query["Id"], "Label": metric["MetricName"], "StatusCode": "Complete",
                "Timestamps": newest_first, "Values": [STATS[stat](buckets[t]) for t in newest_first]}


def endpoint_env(endpoint: str) -> dict[str, str]:
    """Environment that sends every boto3 client to ``endpoint`` (the catch-all too: nothing reaches AWS)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_STS": endpoint, "AWS_ENDPOINT_URL_OAM": endpoint,
            "AWS_ENDPOINT_URL_CLOUDWATCH": endpoint}


def paged(items: list[Any], token: str | None, size: int, page: Callable[[list[Any]], dict[str, Any]]
          ) -> dict[str, Any]:
    """One page of ``items`` from the offset ``token`` names; ``NextToken`` while more remain."""
    offset = int(token.removeprefix("page-")) if token else 0
    answer = page(items[offset:offset + size])
    if offset + size < len(items):
        answer["NextToken"] = f"page-{offset + size}"
    return answer


def iter_queries(requests: list[Request]) -> Iterator[Mapping[str, Any]]:
    """Every GetMetricData query in ``requests``."""
    for r in requests:
        yield from r.body.get("MetricDataQueries", ())
