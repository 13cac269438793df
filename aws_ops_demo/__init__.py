"""``aws-ops-exporter --demo``: the real exporter against an embedded AWS stand-in on loopback.

moto's server runs in-process on 127.0.0.1 (a free port); the standard AWS variables point every
boto3 client at it (``AWS_ENDPOINT_URL``) with throwaway credentials, so the demo goes through exactly
the production path: STS AssumeRole per account, real boto3 clients over HTTP, the same collectors.
Cost Explorer is a stand-in that interprets each query (:mod:`aws_ops_demo.cost_explorer`: grouped and filtered
as asked, GetAnomalies, GetCostForecast), which moto does not: any window, any day, the spike's drivers.

``--demo --organization``: moto serves AWS Organizations (the fleet in OUs, with ``project`` tags) and
small stand-ins answer what moto does not interpret: Cost Explorer from the payer account (grouped by
LINKED_ACCOUNT and SERVICE), Health's organization view, and CloudWatch cross-account reads (OAM links,
``IncludeLinkedAccounts``, ``AccountId``). The exporter discovers the fleet and assumes no role at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any

from aws_ops_demo import cloudwatch as demo_cloudwatch, cost as demo_cost, health as demo_health
from aws_ops_demo.config import config_document
from aws_ops_demo.fleet import ACCOUNTS
from exporter.collectors.cloudwatch import collection_time
from exporter.config import Config, parse

log = logging.getLogger(__name__)

# Set for the demo process only: the endpoint of the stand-in and credentials that mean nothing to AWS.
_DEMO_ENV = {
    "AWS_ACCESS_KEY_ID": "demo-access-key",
    "AWS_SECRET_ACCESS_KEY": "demo-secret-key",
    "AWS_REGION": "us-east-1",  # the main session's region (the config reads it), whatever the shell says
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_DEMO_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass
class Demo:
    config: Config
    endpoint: str
    server: Any
    saved_env: dict[str, str | None]
    health: Any = None  # the AWS Health stand-in (moto has no Health)
    cloudwatch: Any = None  # the CloudWatch seeder (keeps datapoints current)
    servers: tuple[Any, ...] = ()  # the Cost Explorer stand-in (organization mode: and the monitoring one)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.cloudwatch is not None:
            self.cloudwatch.stop()
        if self.health is not None:
            self.health.stop()
        self.server.stop()
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start(as_of: dt.date | None = None, listen_address: str = ":9780", organization: bool = False) -> Demo:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit("the demo needs moto's server: pip install 'aws-ops-exporter[demo]' "
                         f"(or pip install 'moto[server]'): {exc}") from None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"

    env = {**_DEMO_ENV, "AWS_ENDPOINT_URL": endpoint}
    saved = {key: os.environ.get(key) for key in (*env, *_DEMO_UNSET, "AWS_ENDPOINT_URL_HEALTH",
                                                  "AWS_ENDPOINT_URL_COST_EXPLORER", "AWS_ENDPOINT_URL_CLOUDWATCH",
                                                  "AWS_ENDPOINT_URL_OAM")}
    for key in _DEMO_UNSET:
        os.environ.pop(key, None)
    os.environ.update(env)

    today = as_of or dt.datetime.now(dt.timezone.utc).date()
    if organization:
        return _start_organization(endpoint, server, saved, today, as_of, listen_address)
    config = parse(config_document(listen_address), source="<demo>")
    # Each account's own Cost Explorer; a DAILY answer of 62 days in two pages, as moto's seeded one was.
    cost_server = _cost_explorer(demo_cost.FleetCosts(ACCOUNTS, spike_day=today - dt.timedelta(days=1)), as_of,
                                 page_size=600)
    # AWS Health: a local stand-in that boto3 reaches through the standard per-service endpoint variable.
    # Its events are relative to now, whatever --as-of says: AWS Health keeps no history either.
    now = dt.datetime.now(dt.timezone.utc)
    health = demo_health.start(endpoint, config.accounts, now)
    os.environ["AWS_ENDPOINT_URL_HEALTH"] = health.endpoint
    # CloudWatch: datapoints up to the moment the collector reads as of that day (now, or a past day's start).
    cloudwatch = demo_cloudwatch.CloudWatchSeeder(endpoint)
    read_at = collection_time(today, now)
    datapoints = cloudwatch.seed(read_at)
    if read_at == now:  # a past day's window is fixed; today's moves on
        cloudwatch.start_ticking()
    log.info("event=demo_started endpoint=%s health_endpoint=%s cost_explorer_endpoint=%s accounts=%d "
             "cloudwatch_datapoints=%d", endpoint, health.endpoint, cost_server.endpoint, len(config.accounts), datapoints)
    return Demo(config, endpoint, server, saved, health, cloudwatch, (cost_server,))


def _cost_explorer(costs: demo_cost.FleetCosts, as_of: dt.date | None, page_size: int = 100) -> Any:
    """Cost Explorer as the fleet's costs answer it (boto3 reaches it through the per-service endpoint variable).
    A replay (--as-of) is one fixed day; a served demo runs for days and its today follows the clock."""
    from aws_ops_demo.cost_explorer import CostExplorerStandIn
    from aws_ops_demo.loopback import LoopbackServer

    stand_in = CostExplorerStandIn(costs, as_of or (lambda: dt.datetime.now(dt.timezone.utc).date()),
                                   page_size=page_size, anomalies=costs.anomalies)
    server = LoopbackServer(stand_in.handler()).start()
    os.environ["AWS_ENDPOINT_URL_COST_EXPLORER"] = server.endpoint
    return server


def _start_organization(endpoint: str, server: Any, saved: dict[str, str | None], today: dt.date,
                        as_of: dt.date | None, listen_address: str) -> Demo:
    from aws_ops_demo import organization as demo_org
    from aws_ops_demo.config import organization_document
    from aws_ops_demo.loopback import LoopbackServer
    from aws_ops_demo.monitoring import CloudWatchMonitoringStandIn, Seed

    org = demo_org.create(endpoint)
    config = parse(organization_document(org.accounts, listen_address), source="<demo --organization>")
    # Cost Explorer as the payer sees it: every linked account, grouped as asked.
    cost_server = _cost_explorer(demo_cost.FleetCosts(org.accounts, spike_day=today - dt.timedelta(days=1)), as_of)
    now = dt.datetime.now(dt.timezone.utc)
    health = demo_health.start(endpoint, org.accounts, now, management_account=org.management_account)
    os.environ["AWS_ENDPOINT_URL_HEALTH"] = health.endpoint
    # CloudWatch: every account linked to the management account's sink in every region, read through it.
    read_at = collection_time(today, now)
    seed = Seed(monitoring_account=org.management_account, now=read_at - dt.timedelta(hours=3))
    for account in org.accounts:
        seed.link(account.id, *config.collectors.cloudwatch.regions or ())
    cloudwatch = demo_cloudwatch.CloudWatchSeeder(
        endpoint, org.accounts, sink=lambda account, region, namespace, data: [
            seed.put_datum(account.id, region, namespace, d) for d in data])
    datapoints = cloudwatch.seed(read_at)
    if read_at == now:
        cloudwatch.start_ticking()
    monitoring_server = LoopbackServer(CloudWatchMonitoringStandIn(seed).handler()).start()
    os.environ["AWS_ENDPOINT_URL_CLOUDWATCH"] = monitoring_server.endpoint
    os.environ["AWS_ENDPOINT_URL_OAM"] = monitoring_server.endpoint
    log.info("event=demo_started mode=organization endpoint=%s management_account=%s accounts=%d "
             "cloudwatch_datapoints=%d", endpoint, org.management_account, len(org.accounts), datapoints)
    return Demo(config, endpoint, server, saved, health, cloudwatch, (cost_server, monitoring_server))
