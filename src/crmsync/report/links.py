"""Links from the report to a deal in its source CRM, computed from the configuration (no connector needed).

A configured `[report.deal_urls]` template (connection name → URL with `{id}`) always wins; it is the way to
link HubSpot's web app, which needs the account's portal id (`https://app.hubspot.com/contacts/<portal>/record/
0-3/{id}`). Without one, the link is derived from the connection's `base_url` per connector:

| connector  | base_url                               | link                                                   |
|------------|----------------------------------------|--------------------------------------------------------|
| pipedrive  | `https://<company>.pipedrive.com`      | `https://<company>.pipedrive.com/deal/{id}` (web app)  |
| pipedrive  | any other host but api.pipedrive.com   | `<base_url>/api/v2/deals/{id}` (a sandbox's record)    |
| hubspot    | any host but api.hubapi.com            | `<base_url>/crm/v3/objects/deals/{id}`                 |
| simplicate | any host but *.simplicate.nl/.app      | `<base_url>/sales/sale/{id}`                           |
| afas       | —                                      | none: Profit has no link to one forecast               |

Anything else gets no link. User info, query and fragment of `base_url` never reach a link.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

from crmsync.config import Config

Template = Callable[[str, str], str | None]  # (base URL without a trailing slash, host) → template with {id}


def _pipedrive(base: str, host: str) -> str | None:
    if host == "api.pipedrive.com":
        return None
    if host.endswith(".pipedrive.com"):
        return f"https://{host}/deal/{{id}}"
    return f"{base}/api/v2/deals/{{id}}"


def _hubspot(base: str, host: str) -> str | None:
    return None if host.endswith("hubapi.com") else f"{base}/crm/v3/objects/deals/{{id}}"


def _simplicate(base: str, host: str) -> str | None:
    return None if host.endswith((".simplicate.nl", ".simplicate.app")) else f"{base}/sales/sale/{{id}}"


TEMPLATES: dict[str, Template] = {"pipedrive": _pipedrive, "hubspot": _hubspot, "simplicate": _simplicate}


def _clean(base_url: str) -> tuple[str, str] | None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), parts.hostname.lower()


def templates(config: Config) -> dict[str, str]:
    """Connection name → deal link template with `{id}`, for the connections that have one."""
    out: dict[str, str] = {}
    for name, connection in config.connections.items():
        base_url = connection.settings.get("base_url")
        derive = TEMPLATES.get(connection.connector)
        cleaned = _clean(base_url) if isinstance(base_url, str) and derive is not None else None
        template = derive(*cleaned) if derive is not None and cleaned is not None else None
        if template is not None:
            out[name] = template
    out.update(config.report.deal_urls)
    return out


def deal_url(template: str | None, source_id: str) -> str | None:
    """The link of one deal: the template with the deal's id, escaped for a URL path."""
    return None if template is None else template.replace("{id}", quote(source_id, safe=""))
