"""The HubSpot sandbox's webhooks: `deal.*` events to one target URL, signed as HubSpot signs them (v3).

On HubSpot the target URL and subscriptions are set in the app's settings; here `HubSpotSandbox.subscribe_webhooks`
sets them. Each change posts a JSON list of events (HubSpot batches up to 100 per request) with
`X-HubSpot-Signature-v3`, `X-HubSpot-Request-Timestamp` and `X-HubSpot-Signature-Version`.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from crmsync.sandbox.webhooks import Outbound, WebhookSender
from crmsync_hubspot.webhook import signature

_EVENT_IDS = itertools.count(1)


@dataclass
class HubSpotWebhooks:
    target_url: str
    client_secret: str
    app_id: int = 54321
    portal_id: int = 62515
    subscription_id: int = 1001
    sender: WebhookSender = field(default_factory=WebhookSender)

    def property_changes(self, deal_id: str, properties: dict[str, Any], source: str) -> None:
        now = int(time.time() * 1000)
        events = [
            {
                "eventId": next(_EVENT_IDS),
                "subscriptionId": self.subscription_id,
                "portalId": self.portal_id,
                "appId": self.app_id,
                "occurredAt": now,
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": 0,
                "objectId": int(deal_id),
                "propertyName": name,
                "propertyValue": "" if value is None else str(value),
                "changeSource": source,
            }
            for name, value in list(properties.items())[:100]
        ]
        self.post(events)

    def deletion(self, deal_id: str) -> None:
        now = int(time.time() * 1000)
        event = {
            "eventId": next(_EVENT_IDS),
            "subscriptionId": self.subscription_id,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": now,
            "subscriptionType": "deal.deletion",
            "attemptNumber": 0,
            "objectId": int(deal_id),
            "changeSource": "CRM_UI",
        }
        self.post([event])

    def post(self, events: list[dict[str, Any]], *, timestamp: str | None = None, secret: str | None = None) -> None:
        """Post `events` signed with the client secret (tests pass another `secret` or an old `timestamp`)."""
        body = json.dumps(events).encode()
        stamp = timestamp or str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": stamp,
            "X-HubSpot-Signature-v3": signature(secret or self.client_secret, "POST", self.target_url, body, stamp),
            "X-HubSpot-Signature-Version": "v3",
        }
        self.sender.send(Outbound(self.target_url, headers, body))
