"""Reading one page ahead: the next page of a listing is on its way while the engine works on this one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def one_ahead(pages: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """The items of `pages`, in order, asking for the next one before handing this one out.

    A listing's next page needs only the answer to this one (its cursor, offset or stamp), not what the engine
    makes of it; so its request goes out, and the CRM works on it, while the engine maps, evaluates and stores
    this page. A listing then takes about the longer of the CRM's time and crmsync's, not their sum. An error of
    the next page comes where it would have come without reading ahead: after this page is handled. When the
    consumer stops early, the request in flight is cancelled and the listing closed.
    """
    ahead = asyncio.ensure_future(anext(pages))
    try:
        while True:
            try:
                item = await ahead
            except StopAsyncIteration:
                return
            ahead = asyncio.ensure_future(anext(pages))
            # let the next page's request reach the socket before this page's work holds the event loop
            for _ in range(_SEND_STEPS):
                if ahead.done():
                    break
                await asyncio.sleep(0)
            yield item
    finally:
        if not ahead.done():
            ahead.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await ahead
        close = getattr(pages, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


# Event-loop turns given to the next page's task before a page is handed out: enough for the limiter, httpx's pool
# and the socket write on a kept-alive connection; a request that still waits (a limiter pause) just starts later.
_SEND_STEPS = 4
