"""The demo's config: the fleet (:mod:`aws_ops_demo.fleet`) and the CloudWatch queries
(:mod:`aws_ops_demo.cloudwatch`) written as a user would write config.yaml."""

from __future__ import annotations

from aws_ops_demo.cloudwatch import QUERIES
from aws_ops_demo.fleet import ACCOUNTS, PROJECT_BUDGETS_USD

# accounts[].cloudwatch overrides in the demo: the sandbox opts out, platform-shared watches one region only.
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
        "collectors": {"cost": {"enabled": True, "interval": "1h", "history_days": 62},
                       "health": {"enabled": True, "interval": "5m"},
                       "cloudwatch": {"enabled": True, "interval": "5m", "period_seconds": 300,
                                      "delay_seconds": 600, "labels_snake_case": True, "queries": QUERIES}},
        "budgets": {"projects": {k: str(v) for k, v in PROJECT_BUDGETS_USD.items()}},
        "web": {"listen_address": listen_address},
    }
