"""aws-ops-exporter: one Prometheus view of a fleet of AWS accounts (cost, health, CloudWatch)."""

__version__ = "0.1.0"
