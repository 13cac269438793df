"""Deterministic noise for the demo's synthetic data: the same parts always give the same value, so any
window the exporter asks for agrees with any other."""

from __future__ import annotations

import hashlib


def noise(*parts: str) -> float:
    """Deterministic noise in [-1, 1) from the parts."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**63 - 1.0
