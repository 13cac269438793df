"""The demo's config: the fleet (:mod:`aws_ops_demo.fleet`) and the CloudWatch queries
(:mod:`aws_ops_demo.cloudwatch`) written as a user would write config.yaml."""

from __future__ import annotations

from collections.abc import Sequence

from aws_ops_demo.cloudwatch import QUERIES
from aws_ops_demo.fleet import ACCOUNTS, PROJECT_BUDGETS_USD, DemoAccount
from aws_ops_demo.organization import PROJECT_TAG

# accounts[].cloudwatch overrides in the demo: the sandbox opts out, platform-shared watches one region only.
SIGNALS = {"record_types": {"enabled": True}, "anomalies": {"enabled": True}, "forecast": {"enabled": True}}
CLOUDWATCH_OVERRIDES: dict[str, dict] = {"platform-sandbox": {"enabled": False}, "platform-shared": {"regions": ["ap-northeast-2"]}}


def config_document(listen_address: str = ":9780") -> dict:
    """The demo's config, as a user would write it (parsed by the same validation as any config file)."""
    return {
        "accounts": [
            {"id": a.id, "name": a.name, "project": a.project,
             "role_arn": f"arn:aws:iam::{a.id}:role/ops-exporter", "external_id": "aws-ops-exporter-demo",
             "regions": list(a.regions),
             **({"cloudwatch": CLOUDWATCH_OVERRIDES[a.name]} if a.name in CLOUDWATCH_OVERRIDES else {})}
            for a in ACCOUNTS
        ],
        # Every cost signal on, to show them: drivers of the spike, record types, anomalies, the forecast.
        "collectors": {"cost": {"enabled": True, "interval": "1h", "history_days": 62, **SIGNALS},
                       "health": {"enabled": True, "interval": "5m"},
                       "cloudwatch": {"enabled": True, "interval": "5m", "period_seconds": 300,
                                      "delay_seconds": 600, "labels_snake_case": True, "queries": QUERIES}},
        "budgets": {"projects": {k: str(v) for k, v in PROJECT_BUDGETS_USD.items()}},
        "web": {"listen_address": listen_address},
    }


def organization_document(accounts: Sequence[DemoAccount], listen_address: str = ":9780") -> dict:
    """The demo as a whole organization: nothing listed but the two accounts with CloudWatch overrides (a
    listed account overrides the discovered one), costs from the payer, Health's organization view, CloudWatch
    from the monitoring account; no role is assumed in any member account."""
    regions = sorted({r for a in accounts for r in a.regions})
    return {
        "organization": {"enabled": True, "project_tag": PROJECT_TAG, "refresh_interval": "1h"},
        "accounts": [
            {"id": a.id, "name": a.name, "project": a.project,
             "role_arn": f"arn:aws:iam::{a.id}:role/ops-exporter", "regions": list(a.regions),
             "cloudwatch": CLOUDWATCH_OVERRIDES[a.name]}
            for a in accounts if a.name in CLOUDWATCH_OVERRIDES
        ],
        "collectors": {"cost": {"enabled": True, "mode": "payer", "interval": "1h", "history_days": 62, **SIGNALS,
                                "forecast": {"enabled": True, "per_account": True}},
                       "health": {"enabled": True, "interval": "5m", "organization": True},
                       "cloudwatch": {"enabled": True, "interval": "5m", "period_seconds": 300, "delay_seconds": 600,
                                      "labels_snake_case": True, "monitoring_account": True, "regions": regions,
                                      "queries": QUERIES}},
        "budgets": {"projects": {k: str(v) for k, v in PROJECT_BUDGETS_USD.items()}},
        "web": {"listen_address": listen_address},
    }
