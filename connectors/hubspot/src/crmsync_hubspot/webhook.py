"""HubSpot webhooks: the v3 request signature, and whether a batch of events concerns deals.

v3 (HubSpot's "Validating requests"): base64 of HMAC-SHA256, keyed with the app's client secret, over
method + URI + body + the `X-HubSpot-Request-Timestamp` value, sent as `X-HubSpot-Signature-v3`. The URI is the one
HubSpot called, with these percent-escapes decoded; a timestamp more than five minutes old is refused (replay).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from crmsync.config_service import WebhookConfig
from crmsync.errors import WebhookRejected
from crmsync.webhooks import Webhook, WebhookRequest, same

MAX_AGE_MS = 5 * 60 * 1000
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signed_uri(url: str) -> str:
    for escape, char in _DECODED.items():
        url = url.replace(escape, char).replace(escape.lower(), char)
    return url


def signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends for this request (the sandbox signs with it too)."""
    source = method.upper().encode() + signed_uri(url).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def verify(request: WebhookRequest, config: WebhookConfig, now: float) -> None:
    if not config.secret:
        raise WebhookRejected("HubSpot webhooks are verified with the app's client secret: set webhook.secret")
    given = request.headers.get("x-hubspot-signature-v3")
    stamp = request.headers.get("x-hubspot-request-timestamp", "")
    if not given or not stamp.isdigit():
        raise WebhookRejected("no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
    age = now * 1000 - int(stamp)
    if age > MAX_AGE_MS:
        raise WebhookRejected(f"the request timestamp is {age / 1000:.0f} s old (HubSpot's limit: 300 s)")
    if not same(given, signature(config.secret, request.method, request.url, request.body, stamp)):
        raise WebhookRejected("the X-HubSpot-Signature-v3 signature does not match")


def about_deals(body: Any) -> bool:
    """HubSpot posts a list of events; any `deal.*` subscription type concerns deals."""
    events = body if isinstance(body, list) else []
    return any(isinstance(e, dict) and str(e.get("subscriptionType", "")).startswith("deal.") for e in events)


WEBHOOK = Webhook(verify=verify, about_deals=about_deals)
