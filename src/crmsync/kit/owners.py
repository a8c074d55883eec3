"""Reading a CRM's users for `Reference.owners`: a missing scope or permission costs names, never the run."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from crmsync.errors import ApiError, AuthError
from crmsync.model import Owner

log = logging.getLogger("crmsync.kit")


async def read_owners(connection: str, what: str, read: Callable[[], Awaitable[dict[str, Owner]]]) -> dict[str, Owner]:
    """`read()`'s owners; an empty map (and a warning naming `what` is missing) when the CRM refuses it (403/404).

    A 401 is not swallowed: the credentials themselves are wrong, and the run must stop on it.
    """
    try:
        return await read()
    except AuthError as exc:
        if exc.status != 403:
            raise
        reason = "the credentials may not read them (403)"
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        reason = f"the CRM answered {exc.status}"
    log.warning("[%s] owner names and emails not read: %s; %s. Deals keep their owner ids", connection, what, reason)
    return {}


def person(owner_id: object, name: object, email: object) -> Owner | None:
    """An Owner from a user record's fields; None without an id."""
    if owner_id in (None, ""):
        return None
    text = str(name).strip() if isinstance(name, str) and name.strip() else None
    mail = str(email).strip() if isinstance(email, str) and "@" in email else None
    return Owner(id=str(owner_id), name=text, email=mail)
