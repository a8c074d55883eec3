"""The connector contract: the handful of things crmsync asks of every CRM.

A connector is a class registered under the entry-point group `crmsync.connectors`. The core never imports
one by name. See CONTRIBUTING.md, "Adding a connector".
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import httpx
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from crmsync import bare
from crmsync.errors import ConfigError, MappingError
from crmsync.http import ApiClient, RateLimiter
from crmsync.mapping import Mapping
from crmsync.model import Deal, Owner, Pipeline, Stage
from crmsync.trusted import trusted_owner
from crmsync.webhooks import Webhook

if TYPE_CHECKING:
    from crmsync.kit.checks import Percentage
    from crmsync.sandbox.base import Sandbox


class ConnectorSettings(BaseModel):
    """Base of every connector's settings. Secrets are `SecretStr` fields."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    daily_request_budget: int | None = Field(
        default=None, ge=1, description="your plan's requests per day, where the CRM does not report it in headers"
    )


class Capabilities(BaseModel):
    """What a connector can do and the limits it must keep to."""

    model_config = ConfigDict(frozen=True)

    page_size: int
    write_batch_size: int = 1
    deals_per_request: int = Field(default=1, ge=1, description="deals one write request carries (HubSpot: 100)")
    incremental: bool = True
    detects_manual_override: bool = False
    history_by_id: bool = Field(
        default=False,
        description="read(ids) brings the history that tells a person's edit from a machine's (HubSpot)",
    )
    rate_limit_requests: int | None = Field(default=None, description="requests allowed per window")
    rate_limit_window_seconds: float = 1.0
    max_concurrency: int = 1
    reconciles_deletes: bool = Field(default=False, description="finds hard deletes by a full id scan")


class Reference(BaseModel):
    """The CRM's reference data: pipelines, stages and whatever else mapping needs."""

    pipelines: dict[str, Pipeline]
    stages: dict[str, Stage] = Field(description="keyed by stage id")
    fields: dict[str, Any] = Field(default_factory=dict, description="custom field definitions by name")
    owners: dict[str, Owner] = Field(
        default_factory=dict, description="the CRM's users by id, with name and email; the engine fills deals' owners"
    )
    extra: dict[str, Any] = Field(default_factory=dict)
    _merged: dict[tuple[str, str | None, str | None], tuple[Owner, Owner]] = PrivateAttr(default_factory=dict)

    def owner(self, deal: Deal) -> Deal:
        """`deal` with its owner's name and email from the CRM's users, where the record itself had none."""
        own = deal.owner
        known = self.owners.get(own.id) if own is not None else None
        if known is None or own is None:
            return deal
        merged = self._merge(own.id, own.name, own.email, known)
        # the same object when `owner_of` gave the deal its owner already; merged is a valid Owner
        return deal if merged is own or merged == own else bare.replace(deal, {"owner": merged})

    def owner_of(self, owner_id: str) -> Owner:
        """The owner a record names by id alone, as `owner` completes it from the CRM's users: one shared object
        per id, so the engine's `owner` leaves the deal as it is."""
        known = self.owners.get(owner_id)
        return trusted_owner(owner_id) if known is None else self._merge(owner_id, None, None, known)

    def _merge(self, owner_id: str, name: str | None, email: str | None, known: Owner) -> Owner:
        """The owner with the record's name and email, and the user's where the record has none; the deals of one
        owner share one object, while the users read are the same. The memo is read from pydantic's own dict
        (`self._merged` goes through BaseModel.__getattr__)."""
        private = self.__pydantic_private__
        assert private is not None  # the model has private attributes
        memo = cast(dict[tuple[str, str | None, str | None], tuple[Owner, Owner]], private["_merged"])
        key = (owner_id, name, email)
        cached = memo.get(key)
        if cached is not None and cached[0] is known:
            return cached[1]
        merged = trusted_owner(owner_id, name or known.name, email or known.email)
        if len(memo) < 10_000:
            memo[key] = (known, merged)
            # the merged owner found again by its own values: `owner` then knows a deal from `owner_of` by identity
            memo.setdefault((owner_id, merged.name, merged.email), (known, merged))
        return merged


class ConnectorOptions(BaseModel):
    """A connector's `[options]` in its mapping file. Subclass with typed fields; an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Page(BaseModel):
    """One page of raw records (the engine takes its checkpoint from the mapped deals' `updated_at`)."""

    records: list[Any] = Field(description="raw records as the CRM sent them; one that is no object is quarantined")
    deleted_ids: list[str] = Field(default_factory=list, description="ids the CRM reports deleted or archived")
    live_ids: list[str] | None = Field(
        default=None,
        description="every id that exists, from a full key scan; ids the store has beyond these are gone",
    )


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
    status: Literal["written", "skipped", "failed", "unknown"] = Field(
        description="unknown: the request went out and no answer came back; the CRM may or may not have applied it"
    )
    reason: str | None = None
    modified_at: datetime | None = Field(
        default=None,
        description="the deal's modification time as the CRM answered the write (HubSpot's updatedAt, Pipedrive's "
        "update_time): the next listing skips the deal while it still carries exactly this time",
    )


class Connector(abc.ABC):
    """The contract every CRM connector implements.

    The base class builds the connection's `client` from the settings (`base_url`, `timeout_seconds`,
    `max_retries`), `auth_headers()`, `rate_limit()` and the capabilities; a connector only says what differs.

    Attributes:
        name: The connector's entry-point name, e.g. 'hubspot'.
        Settings: Its settings model; secrets as `SecretStr`.
        Options: Its mapping `[options]` model; validated into `self.options`.
        capabilities: Page sizes, batch sizes and rate limits.
        canonical_fields: Canonical field names the mapping's `[fields]` table may name.
        client_class: The `ApiClient` subclass that reads this CRM's error bodies and rate-limit hints.
        retry_backoff: Base of the exponential backoff, in seconds, when the CRM gives no hint.
        transport: An httpx transport for every instance (tests; see `using`); None is the network.
        webhook: How `crmsync serve` verifies this CRM's webhooks (`crmsync.webhooks`); None: it sends none.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[ConnectorSettings]]
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions
    capabilities: ClassVar[Capabilities]
    canonical_fields: ClassVar[frozenset[str]] = frozenset()
    client_class: ClassVar[type[ApiClient]] = ApiClient
    retry_backoff: ClassVar[float] = 0.5
    transport: ClassVar[httpx.AsyncBaseTransport | None] = None
    webhook: ClassVar[Webhook | None] = None
    sandbox_class: ClassVar[str | None] = None  # 'package.module:Class' of the CRM's local emulator
    probability: ClassVar[Percentage | None] = None  # how the CRM keeps a probability, when it is fixed
    client: ApiClient

    def __init__(
        self,
        connection: str,
        settings: ConnectorSettings,
        mapping: Mapping,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(settings, self.Settings):
            raise ConfigError(
                f"connection {connection!r}: {type(settings).__name__} given, {self.Settings.__name__} expected"
            )
        self.connection = connection
        self.settings = settings
        self.mapping = mapping
        self.options = self._options(mapping)
        requests, window = self.rate_limit()
        self.client = self.client_class(
            connection,
            settings.base_url,
            headers={"Accept": "application/json", **self.auth_headers()},
            timeout=settings.timeout_seconds,
            limiter=RateLimiter(requests, window),
            max_retries=settings.max_retries,
            max_concurrency=self.concurrency(),
            backoff=self.retry_backoff,
            max_wait=float(getattr(settings, "max_wait_seconds", 120.0)),
            transport=transport or type(self).transport,
        )

    @classmethod
    def _options(cls, mapping: Mapping) -> ConnectorOptions:
        try:
            return cls.Options.model_validate(mapping.options)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in ("options", *error["loc"]))
            allowed = ", ".join(sorted(cls.Options.model_fields)) or "none"
            if error["type"] == "extra_forbidden":
                message = f"unknown option for connector {cls.name!r}; options: {allowed}"
            else:
                message = str(error["msg"])
            raise MappingError(message, file=mapping.path, key=key) from None

    @classmethod
    def using(cls, transport: httpx.AsyncBaseTransport) -> type[Connector]:
        """This connector class with every instance talking through `transport` (an in-process ASGI app)."""
        return type(cls.__name__, (cls,), {"transport": transport})

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate every request. Never logged."""
        return {}

    def rate_limit(self) -> tuple[int | None, float]:
        """Requests allowed per window (None: no limit) and the window in seconds; settings may narrow it."""
        return self.capabilities.rate_limit_requests, self.capabilities.rate_limit_window_seconds

    def concurrency(self) -> int:
        """Requests in flight at once."""
        return self.capabilities.max_concurrency

    @abc.abstractmethod
    async def check(self) -> None:
        """Authenticate and reach the API; raise AuthError/TransportError/ApiError otherwise."""

    @abc.abstractmethod
    async def reference(self) -> Reference:
        """Pipelines, stages with native probabilities and closed/won flags, custom field definitions."""

    @abc.abstractmethod
    def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        """Pages of raw deals changed at or after `since` (all when None).

        With `reconcile`, also report ids that no longer exist (for CRMs that hard-delete). The listing must not
        depend on `reference()`: an incremental run reads the reference only once records come (a listing that
        brings nothing needs none), while the next page's request may be in flight (the engine reads one page
        ahead).
        """

    @abc.abstractmethod
    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        """Map one raw record to a canonical Deal; raise RecordError for a bad record."""

    @abc.abstractmethod
    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """Apply updates (batched where the API allows); one outcome per update, in any order. The writer sends
        at most `capabilities.write_batch_size` updates a call, each deal once (all its fields in one update)."""

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]] | None:
        """The raw records of these deals as `deals()` would list them (missing ids left out), for reading back
        writes whose answer was lost. None (the default): this connector cannot read by id, and the next run
        settles such writes from its listing instead."""
        return None

    def mapping_problems(self, reference: Reference) -> list[str]:
        """Problems between the mapping and the live reference data: stage rules naming what the CRM lacks, here;
        missing fields and options, in each connector (which extends this list)."""
        from crmsync.kit.checks import probability_problems, stage_problems

        problems = stage_problems(self.mapping, reference, self.name)
        if self.probability is not None:
            problems += probability_problems(self.mapping, self.probability, self.name)
        return problems

    async def aclose(self) -> None:
        """Release network resources."""
        await self.client.aclose()

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> Sandbox | None:
        """A local emulator of this CRM's API, seeded with `deals` deals; None when there is none. It is imported
        only here, so a production sync never loads an emulator."""
        if cls.sandbox_class is None:
            return None
        module, _, name = cls.sandbox_class.partition(":")
        return cast("Sandbox", getattr(importlib.import_module(module), name)(deals=deals, seed=seed))

    async def __aenter__(self) -> Connector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
