"""The connector contract: the handful of things crmsync asks of every CRM.

A connector is a class registered under the entry-point group `crmsync.connectors`. The core never imports
one by name. See CONTRIBUTING.md, "Adding a connector".
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmsync.http import ApiClient
from crmsync.mapping import Mapping
from crmsync.model import Deal, Pipeline, Stage

if TYPE_CHECKING:
    from crmsync.sandbox.base import Sandbox


class ConnectorSettings(BaseModel):
    """Base of every connector's settings. Secrets are `SecretStr` fields."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)


class Capabilities(BaseModel):
    """What a connector can do and the limits it must keep to."""

    model_config = ConfigDict(frozen=True)

    page_size: int
    write_batch_size: int = 1
    incremental: bool = True
    detects_manual_override: bool = False
    rate_limit_requests: int | None = Field(default=None, description="requests allowed per window")
    rate_limit_window_seconds: float = 1.0
    max_concurrency: int = 1
    reconciles_deletes: bool = Field(default=False, description="finds hard deletes by a full id scan")


class Reference(BaseModel):
    """The CRM's reference data: pipelines, stages and whatever else mapping needs."""

    pipelines: dict[str, Pipeline]
    stages: dict[str, Stage] = Field(description="keyed by stage id")
    fields: dict[str, Any] = Field(default_factory=dict, description="custom field definitions by name")
    extra: dict[str, Any] = Field(default_factory=dict)


class Page(BaseModel):
    """One page of raw records, and the checkpoint reached once it is processed."""

    records: list[dict[str, Any]]
    deleted_ids: list[str] = Field(default_factory=list, description="ids the CRM reports deleted or archived")
    live_ids: list[str] | None = Field(
        default=None,
        description="every id that exists, from a full key scan; ids the store has beyond these are gone",
    )
    checkpoint: datetime | None = Field(default=None, description="latest modification time in this page")


class DealUpdate(BaseModel):
    """Values to write to one deal, already in the CRM's representation."""

    model_config = ConfigDict(frozen=True)

    source_id: str
    category: str | None = Field(default=None, description="None: leave as is; '': clear the field")
    probability: Decimal | None = None
    clear_probability: bool = False


class WriteOutcome(BaseModel):
    """The result of writing one deal."""

    model_config = ConfigDict(frozen=True)

    source_id: str
    status: Literal["written", "skipped", "failed"]
    reason: str | None = None


class Connector(abc.ABC):
    """The contract every CRM connector implements.

    Attributes:
        name: The connector's entry-point name, e.g. 'hubspot'.
        Settings: Its settings model; secrets as `SecretStr`.
        capabilities: Page sizes, batch sizes and rate limits.
        canonical_fields: Canonical field names the mapping's `[fields]` table may name.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[ConnectorSettings]]
    capabilities: ClassVar[Capabilities]
    canonical_fields: ClassVar[frozenset[str]] = frozenset()
    client: ApiClient | None = None  # set by connectors built on crmsync.http; closed by aclose()

    def __init__(self, connection: str, settings: ConnectorSettings, mapping: Mapping) -> None:
        self.connection = connection
        self.settings = settings
        self.mapping = mapping

    @abc.abstractmethod
    async def check(self) -> None:
        """Authenticate and reach the API; raise AuthError/TransportError/ApiError otherwise."""

    @abc.abstractmethod
    async def reference(self) -> Reference:
        """Pipelines, stages with native probabilities and closed/won flags, custom field definitions."""

    @abc.abstractmethod
    def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        """Pages of raw deals changed at or after `since` (all when None).

        With `reconcile`, also report ids that no longer exist (for CRMs that hard-delete).
        """

    @abc.abstractmethod
    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        """Map one raw record to a canonical Deal; raise RecordError for a bad record."""

    @abc.abstractmethod
    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """Apply updates (batched where the API allows); one outcome per update, in any order."""

    def mapping_problems(self, reference: Reference) -> list[str]:
        """Problems between the mapping and the live reference data (missing fields, options). Override."""
        return []

    async def aclose(self) -> None:
        """Release network resources."""
        if self.client is not None:
            await self.client.aclose()

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> Sandbox | None:
        """A local emulator of this CRM's API, seeded with `deals` deals; None when there is none."""
        return None

    async def __aenter__(self) -> Connector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
