"""AFAS Profit connector: forecasts ("verkoopkansen") read through a customer's GetConnector, written with
the CmForecast UpdateConnector.

Reading pages with Profit's documented `skip`/`take`, always ordered by the key fields (`orderbyfieldids`:
Profit's order of unordered rows is not defined); a short page ends the listing. A forecast deleted or inserted
by a person between two pages shifts the rows under `skip`, and an unread row would slide onto a page already
read; so every page after the first starts one row early and that row must be the last one read. When it is not,
the listing is read again (forecasts already yielded are not yielded twice), at most twice more; a key scan that
never holds still reports no ids, so no live forecast is ever taken for deleted. (Keyset paging with `>` filters
would avoid the rescans but relies on Profit comparing key strings in the collation it sorts by, which Profit does
not document.) Incremental reads filter the modified field with operator 2 (>=) on Amsterdam wall clock. Profit
deletes hard, so `reconcile=True` ends with a key scan whose ids come back as `Page.live_ids`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

from crmsync.connector import Capabilities, Connector, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import PaginationError
from crmsync.kit import OffsetPager, Rescans, failed, json_number, skipped, write_each, writeback_values, written
from crmsync.kit.checks import Percentage
from crmsync.model import Deal
from crmsync_afas.client import AfasClient
from crmsync_afas.fields import CANONICAL, AfasOptions, FieldMap, field_ids
from crmsync_afas.settings import AfasSettings
from crmsync_afas.translate import AMSTERDAM, PIPELINE, source_id, split_id, stages_from_statuses, to_deal

log = logging.getLogger("crmsync.afas")

UPDATE_CONNECTOR = "CmForecast"
GE = 2  # Profit's operator type for >=
EQ = 1  # … and for =
READ_GROUPS = 15  # key pairs per read-back request
RESCANS = 2
MAX_IN_FLIGHT = 5


class AfasConnector(Connector):
    """Reads forecasts from a GetConnector named in the mapping; writes chance and category with CmForecast."""

    name = "afas"
    sandbox_class = "crmsync_afas.sandbox:AfasSandbox"
    probability = Percentage()  # the scoring chance (Pc), in whichever UpdateConnector field the mapping names
    Settings = AfasSettings
    Options = AfasOptions
    capabilities = Capabilities(
        page_size=1000,
        write_batch_size=50,
        incremental=True,
        detects_manual_override=False,
        rate_limit_requests=None,
        max_concurrency=MAX_IN_FLIGHT,
        reconciles_deletes=True,
    )
    canonical_fields: ClassVar[frozenset[str]] = CANONICAL
    client_class = AfasClient
    settings: AfasSettings
    options: AfasOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields = FieldMap.of(self.options, self.mapping)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.settings.authorization(), "Accept-Language": self.settings.language}

    # -- check and reference data ------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.request_object("GET", f"/metainfo/get/{self.fields.get_connector}")

    async def _metainfo(self, connector: str) -> list[str]:
        return field_ids(await self.client.request_object("GET", f"/metainfo/get/{connector}"))

    async def _update_fields(self) -> list[str]:
        body = await self.client.request_object("GET", f"/metainfo/update/{UPDATE_CONNECTOR}")
        fields = body.get("fields")
        return [str(f.get("fieldId")) for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []

    async def reference(self) -> Reference:
        """Reads the GetConnectors' metainfo, the UpdateConnector's fields and the statuses, at most 5 at once."""
        connectors = [self.fields.get_connector, self.fields.status_connector]
        if self.fields.key_connector:
            connectors.append(self.fields.key_connector)
        metainfo_lists, update_fields = await asyncio.gather(
            asyncio.gather(*(self._metainfo(c) for c in connectors)), self._update_fields()
        )
        metainfo = dict(zip(connectors, metainfo_lists, strict=True))
        status_fields = (self.fields.status_id, self.fields.status_label, self.fields.status_chance)
        # Statuses only when their GetConnector has the mapped fields (else Profit refuses the order field with a
        # 500); mapping_problems then reports what is missing.
        status_rows: list[dict[str, Any]] = []
        if all(f in metainfo[self.fields.status_connector] for f in status_fields):
            params = {"skip": -1, "take": -1, "orderbyfieldids": self.fields.status_id}
            body = await self.client.request_object("GET", f"/connectors/{self.fields.status_connector}", params=params)
            rows = body.get("rows")
            status_rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        return Reference(
            pipelines={PIPELINE.id: PIPELINE},
            stages=stages_from_statuses(status_rows, self.fields),
            fields={field_id: {"get_connector": self.fields.get_connector} for field_id in metainfo[connectors[0]]},
            extra={"metainfo": metainfo, "update_fields": update_fields},
        )

    def mapping_problems(self, reference: Reference) -> list[str]:
        problems = super().mapping_problems(reference) + self.fields.problems(reference.extra.get("metainfo", {}))
        wb = self.mapping.writeback
        update_fields: list[str] = reference.extra.get("update_fields", [])
        for key, name in (("category_field", wb.category_field), ("probability_field", wb.probability_field)):
            if name is not None and name not in update_fields:
                problems.append(
                    f"writeback.{key} {name!r} is not a field of UpdateConnector {UPDATE_CONNECTOR}; "
                    f"its fields are: {', '.join(update_fields) or 'none'}"
                )
        return problems

    # -- reading -----------------------------------------------------------------------------------------------

    def _pager(self, connector: str, take: int, since: str | None = None) -> OffsetPager:
        """One pass over a GetConnector in key order, `take` a page, optionally modified at or after `since`."""
        relation, sequence = self.fields.key_fields
        params: dict[str, Any] = {"orderbyfieldids": f"{relation},{sequence}"}
        if since is not None:
            params |= {"filterfieldids": self.fields.fields["modified"], "filtervalues": since, "operatortypes": GE}
        return OffsetPager(
            self.client,
            f"/connectors/{connector}",
            params=params,
            items="rows",
            page_size=take,
            offset_param="skip",
            limit_param="take",
            overlap=True,
            key=self._id,
        )

    def _rescans(self, connector: str, take: int, since: str | None = None) -> Rescans:
        def again(attempt: int) -> None:
            log.info("[%s] forecasts moved while %s was read; reading it again (pass %d)", self.connection, connector,
                     attempt)  # fmt: skip

        return Rescans(
            lambda: self._pager(connector, take, since),
            passes=RESCANS + 1,
            again=again,
            held=lambda pager: not pager.moved,  # a key listed twice (a joined GetConnector) is no movement
        )

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        """Every forecast once, reading the listing again while rows move under `skip`.

        Raises:
            PaginationError: the forecasts kept moving through every pass.
        """
        connector = self.fields.get_connector
        listing = self._rescans(connector, self.settings.page_size, None if since is None else AMSTERDAM.since(since))
        async for rows in listing.pages():
            yield Page(records=[{**r, "id": self._id(r)} if isinstance(r, dict) else r for r in rows])
        if not listing.steady:
            raise PaginationError(
                f"GET /connectors/{connector}: forecasts kept being added or deleted through {RESCANS + 1} reads; "
                "stopping rather than missing one (the next run tries again)",
                method="GET",
                path=f"/connectors/{connector}",
                connection=self.connection,
            )
        if reconcile:
            # every forecast's id from one pass that held still, reading only the key fields (the key GetConnector
            # when the mapping names one); None when the keys kept moving (deletes are then not reconciled)
            keys = self.fields.key_connector or self.fields.get_connector
            live = listing.keys if since is None else await self._rescans(keys, self.settings.key_page_size).scan()
            if live is None:
                log.warning(
                    "[%s] the keys of %s kept moving; deletes are not reconciled this run", self.connection, keys
                )
            else:
                yield Page(records=[], live_ids=live)

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """These forecasts through the GetConnector's OR-groups of key equalities (`;` between groups, `,` within),
        a few per request so the URL stays under Profit's 2,049 characters."""
        relation, sequence = self.fields.key_fields
        keys = [key for key in map(split_id, ids) if key is not None and not {",", ";"} & set(key[0])]
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), READ_GROUPS):
            chunk = keys[start : start + READ_GROUPS]
            params = {
                "filterfieldids": ";".join(f"{relation},{sequence}" for _ in chunk),
                "filtervalues": ";".join(f"{rel},{seq}" for rel, seq in chunk),
                "operatortypes": ";".join(f"{EQ},{EQ}" for _ in chunk),
                "skip": 0,
                "take": len(chunk),
            }
            body = await self.client.request_object("GET", f"/connectors/{self.fields.get_connector}", params=params)
            rows = body.get("rows")
            found += [{**r, "id": self._id(r)} for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        return found

    def _id(self, row: dict[str, Any]) -> str:
        relation, sequence = self.fields.key_fields
        return source_id(row.get(relation), row.get(sequence))

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(self.connection, raw, reference, self.mapping, self.fields)

    # -- writing -----------------------------------------------------------------------------------------------

    async def _write_one(self, update: DealUpdate) -> WriteOutcome:
        key = split_id(update.source_id)
        if key is None:
            return failed(update, "not an AFAS forecast id (<PrId>-<SqNo>)")
        fields = writeback_values(update, self.mapping, json_number)  # "" clears a field in an UpdateConnector
        if not fields:
            return skipped(update, "nothing to write")
        body = {UPDATE_CONNECTOR: {"Element": {"Fields": {"PrId": key[0], "SqNo": key[1], **fields}}}}
        await self.client.request("PUT", f"/connectors/{UPDATE_CONNECTOR}", json_body=body, ok=(200, 201))
        return written(update)

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """One PUT per forecast (an element fails or succeeds alone), at most 5 in flight."""
        return await write_each(updates, self._write_one)
