"""`[service]` and a connection's `[connections.NAME.webhook]`: how workers, webhooks and the HTTP surface behave."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceConfig(_Model):
    """`[service]`: the distributed workers (Procrastinate on the store's PostgreSQL) and `crmsync serve`."""

    debounce_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="webhook events for one connection within this window make one sync"
    )
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=600, description="how often a worker says it is alive")
    stalled_after_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="a job whose worker was silent this long is run again elsewhere"
    )
    public_url: str | None = Field(
        default=None, description="the URL the CRMs post webhooks to (HubSpot signs it); default: as received"
    )

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> ServiceConfig:
        if self.stalled_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"stalled_after_seconds ({self.stalled_after_seconds:g}) must be at least twice heartbeat_seconds "
                f"({self.heartbeat_seconds:g}), or a live worker's job would be run twice"
            )
        return self


class WebhookConfig(_Model):
    """How a CRM proves its webhooks: HubSpot signs with the app's client secret, Pipedrive uses basic auth."""

    secret: str | None = Field(default=None, description="HubSpot: the app's client secret (${ENV})")
    username: str | None = Field(default=None, description="Pipedrive: the webhook's http_auth_user")
    password: str | None = Field(default=None, description="Pipedrive: the webhook's http_auth_password (${ENV})")

    @model_validator(mode="after")
    def _one_way(self) -> WebhookConfig:
        if self.secret is None and (self.username is None or self.password is None):
            raise ValueError("give `secret` (HubSpot) or `username` and `password` (Pipedrive)")
        return self
