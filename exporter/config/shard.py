"""The ``shard:`` section: which share of the accounts this replica collects (``--shard I/N`` overrides it)."""

from __future__ import annotations

from exporter.config.model import ShardSettings
from exporter.config.validate import Section

MAX_SHARDS = 10_000  # far beyond any fleet's need; a typo (1e6) is refused instead of serving nothing


def parse_shard(s: Section) -> ShardSettings:
    d = ShardSettings()
    count = s.integer("count", d.count, minimum=1, maximum=MAX_SHARDS)
    # shards are numbered 0 to count - 1 (a bad count: only the index's own rule)
    index = s.integer("index", d.index, minimum=0, maximum=MAX_SHARDS - 1 if s.problems_at("count") else count - 1)
    s.close()
    return ShardSettings(index, count)
