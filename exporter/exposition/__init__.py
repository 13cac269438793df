"""Snapshot → Prometheus exposition: one module per source, the exporter's own families, the live
counters and the renderer. Imports the model, the config and the telemetry counters only: never the
collectors or ``exporter.aws`` (the exposition knows data, not how it was fetched)."""

from exporter.exposition.render import CONTENT_TYPE, Body, Exposition

__all__ = ["CONTENT_TYPE", "Body", "Exposition"]
