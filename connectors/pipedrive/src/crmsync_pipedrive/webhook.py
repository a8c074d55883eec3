"""Pipedrive webhooks (v2): HTTP basic auth with the webhook's own `http_auth_user` and `http_auth_password`.

Pipedrive does not sign webhook bodies; the credentials set when the webhook was created are its proof. A v2 body
has `meta.entity` ("deal", "person", …) and `meta.action` ("create", "change", "delete").
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from crmsync.config_service import WebhookConfig
from crmsync.errors import WebhookRejected
from crmsync.webhooks import Webhook, WebhookRequest, same


def verify(request: WebhookRequest, config: WebhookConfig, now: float) -> None:
    if config.username is None or config.password is None:
        raise WebhookRejected("Pipedrive webhooks are verified by basic auth: set webhook.username and password")
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise WebhookRejected("no basic Authorization header")
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookRejected("the Authorization header is not valid basic auth") from None
    # both compared, always: the answer takes as long whichever part is wrong
    if not (same(user, config.username) & same(password, config.password)):
        raise WebhookRejected("the webhook's user name or password does not match")


def about_deals(body: Any) -> bool:
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        return False
    return meta.get("entity") == "deal" or meta.get("object") == "deal"  # v2, and v1's name for it


WEBHOOK = Webhook(verify=verify, about_deals=about_deals)
