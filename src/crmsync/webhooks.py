"""What a connector implements to receive its CRM's webhooks: one verifier and one relevance test.

A connector whose CRM can post webhooks sets `Connector.webhook` to a `Webhook`. `crmsync serve` hands it the
request as received and the connection's `[connections.NAME.webhook]` table; `verify` raises `WebhookRejected`
(answered 401, nothing queued) and `about_deals` says whether the body concerns deals (anything else is
acknowledged and ignored, so the CRM does not retry it).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmsync.config_service import WebhookConfig


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook as received: `url` as the CRM called it (the public URL when one is configured)."""

    method: str
    url: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Webhook:
    verify: Callable[[WebhookRequest, WebhookConfig, float], None]  # (request, config, now in epoch seconds)
    about_deals: Callable[[Any], bool]  # the parsed JSON body


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets or signatures."""
    return hmac.compare_digest(given.encode(), expected.encode())
