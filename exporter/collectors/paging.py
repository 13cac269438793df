"""NextPageToken paging for the Cost Explorer operations (boto3 has no paginator for GetCostAndUsage), with the
two guards every page needs: it costs $0.01, so a token given twice or more than ``max_pages`` pages stop it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

MAX_PAGES = 100  # a runaway NextPageToken loop would cost real money


def paged(call: Callable[..., Mapping[str, Any]], request: Callable[[str | None], Mapping[str, Any]],
          operation: str, max_pages: int = MAX_PAGES) -> Iterator[Mapping[str, Any]]:
    """``call(**request(token))`` page after page, following ``NextPageToken``."""
    token: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page = call(**request(token))
        yield page
        token = page.get("NextPageToken")
        if not token:
            return
        if token in seen:  # the same page again: following it would loop until max_pages, at $0.01 each
            raise RuntimeError(f"{operation} returned a NextPageToken it had already given; refusing to loop")
        seen.add(token)
    raise RuntimeError(f"{operation} returned more than {max_pages} pages; refusing to spend more")
