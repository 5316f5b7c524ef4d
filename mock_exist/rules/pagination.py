"""Django REST Framework style pages: ``count``, absolute ``next``/``previous``, ``results``.

Like DRF's ``PageNumberPagination`` with ``page_size=20``, ``page_size_query_param="limit"`` and
``max_page_size=100``: a bad ``limit`` falls back to 20, a large one is cut to 100, and a page that
doesn't exist is a 404 "Invalid page.".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import NotFound

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size(params: dict[str, str]) -> int:
    try:
        size = int(params.get("limit", ""))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    if size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _with_page(url: str, page: int | None) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    if page is not None:
        query.append(("page", str(page)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def paginate(items: Sequence, url: str, params: dict[str, str]) -> dict:
    """One page of ``items`` for a request to ``url`` (its full, absolute URL)."""
    size = page_size(params)
    raw = params.get("page", "1") or "1"
    try:
        page = int(raw)
    except ValueError:
        raise NotFound("Invalid page.") from None
    pages = max(1, math.ceil(len(items) / size))
    if not 1 <= page <= pages:
        raise NotFound("Invalid page.")
    start = (page - 1) * size
    return {
        "count": len(items),
        "next": _with_page(url, page + 1) if page < pages else None,
        "previous": None if page == 1 else _with_page(url, None if page == 2 else page - 1),
        "results": items[start : start + size],
    }
