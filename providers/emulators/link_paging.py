"""Paging as the Hugging Face Hub does it: `limit` and an opaque `cursor`, the next page named in a `Link` header.
Shared by the Hub emulator and the TGI emulator's Hub listing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def link_page(request: Request, items: list[Any], default_limit: int, invalid: Callable[[], Response]) -> Response:
    """One page of `items` by an opaque cursor, with a Link header to the next page when there is one; `invalid()`
    answers a limit or cursor that is not a number."""
    try:
        limit = max(1, min(1000, int(request.query_params.get("limit", default_limit))))
        cursor = request.query_params.get("cursor")
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        return invalid()
    headers = {}
    if start + limit < len(items):
        next_cursor = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        headers["link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
    return JSONResponse(items[start:start + limit], headers=headers)
