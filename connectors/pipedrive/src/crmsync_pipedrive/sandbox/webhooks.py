"""The Pipedrive sandbox's webhooks: `POST /api/v1/webhooks` subscriptions, delivered as v2 webhooks.

A subscription names `subscription_url`, `event_action` (create, change, delete or *), `event_object` (deal, … or
*), optional `http_auth_user`/`http_auth_password` (sent as basic auth) and `version` ("2.0" by default, the only
one served here). Each matching change posts `{"meta": {...}, "data": deal, "previous": changed fields}`.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from crmsync.sandbox.webhooks import Outbound, WebhookSender

ACTIONS = ("create", "change", "delete", "*")
OBJECTS = ("activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage", "user", "*")
COMPANY_ID, USER_ID = 9001, 7


class Subscriptions:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.sender = WebhookSender()
        self._ids = itertools.count(1)

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """The new webhook, or the reason Pipedrive would refuse the body."""
        url = body.get("subscription_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return None, "subscription_url: must be a valid URL"
        if body.get("event_action") not in ACTIONS:
            return None, f"event_action: must be one of {', '.join(ACTIONS)}"
        if body.get("event_object") not in OBJECTS:
            return None, f"event_object: must be one of {', '.join(OBJECTS)}"
        version = body.get("version", "2.0")
        if version != "2.0":
            return None, "version: this sandbox sends v2.0 webhooks only"
        hook = {
            "id": next(self._ids),
            "company_id": COMPANY_ID,
            "owner_id": USER_ID,
            "user_id": USER_ID,
            "event_action": body["event_action"],
            "event_object": body["event_object"],
            "subscription_url": url,
            "is_active": 1,
            "add_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "version": version,
            "http_auth_user": body.get("http_auth_user"),
            "http_auth_password": body.get("http_auth_password"),
            "type": "general",
        }
        self.items.append(hook)
        return hook, None

    def public(self, hook: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in hook.items() if k != "http_auth_password"}

    def notify(self, action: str, deal: dict[str, Any], previous: dict[str, Any] | None, source: str) -> None:
        for hook in self.items:
            if hook["event_action"] not in (action, "*") or hook["event_object"] not in ("deal", "*"):
                continue
            meta = {
                "action": action,
                "company_id": str(COMPANY_ID),
                "correlation_id": str(uuid.uuid4()),
                "entity_id": str(deal["id"]),
                "entity": "deal",
                "id": str(uuid.uuid4()),
                "is_bulk_edit": False,
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "type": "general",
                "user_id": str(USER_ID),
                "version": "2.0",
                "webhook_id": str(hook["id"]),
                "webhook_owner_id": str(USER_ID),
                "change_source": source,
            }
            body = json.dumps({"meta": meta, "data": deal, "previous": previous}, default=str).encode()
            headers = {"Content-Type": "application/json"}
            if hook["http_auth_user"] is not None:
                pair = f"{hook['http_auth_user']}:{hook['http_auth_password'] or ''}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            self.sender.send(Outbound(hook["subscription_url"], headers, body))
