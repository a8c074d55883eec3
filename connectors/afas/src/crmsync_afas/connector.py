"""AFAS Profit connector: forecasts ("verkoopkansen") read through a customer's GetConnector, written with
the CmForecast UpdateConnector.

Reading pages by keyset, always ordered by the key fields (Profit drops or repeats rows otherwise): every page
after the first asks for the rows after the last key read, with skip 0, so deletes and inserts during a read
shift nothing; a short page ends the listing. Incremental reads filter the modified field with operator 2 (>=)
on Amsterdam wall clock. Profit deletes hard, so `reconcile=True` ends with a key scan whose ids come back as
`Page.live_ids`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from crmsync.connector import (
    Capabilities,
    Connector,
    ConnectorOptions,
    ConnectorSettings,
    DealUpdate,
    Page,
    Reference,
    WriteOutcome,
)
from crmsync.errors import ApiError, AuthError, ConnectorError, PaginationError
from crmsync.mapping import Mapping
from crmsync.model import Deal
from crmsync_afas.amsterdam import parse_local, since_value
from crmsync_afas.client import AfasClient
from crmsync_afas.fields import CANONICAL, FieldMap, field_ids
from crmsync_afas.sandbox import AfasSandbox
from crmsync_afas.settings import AfasSettings
from crmsync_afas.translate import PIPELINE, source_id, split_id, stages_from_statuses, to_deal

UPDATE_CONNECTOR = "CmForecast"
EQ, GE, GT = 1, 2, 4  # Profit's operator types for =, >= and >
MAX_IN_FLIGHT = 5


class AfasOptions(ConnectorOptions):
    """The mapping's [options]: which GetConnectors hold forecasts, keys and statuses (see fields.FieldMap)."""

    get_connector: str | None = None
    key_connector: str | None = None
    status_connector: str | None = None
    status_id_field: str | None = None
    status_label_field: str | None = None
    status_chance_field: str | None = None
    chance_linked_to_status: bool | str | int = False


class AfasConnector(Connector):
    """Reads forecasts from a GetConnector named in the mapping; writes chance and category with CmForecast."""

    name = "afas"
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
    settings: AfasSettings
    client: AfasClient

    def __init__(
        self,
        connection: str,
        settings: ConnectorSettings,
        mapping: Mapping,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(connection, settings, mapping)
        assert isinstance(settings, AfasSettings)
        self.fields = FieldMap.from_mapping(mapping)
        self.client = AfasClient(
            connection,
            settings.base_url,
            headers={
                "Authorization": settings.authorization(),
                "Accept": "application/json",
                "Accept-Language": settings.language,
            },
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
            max_concurrency=MAX_IN_FLIGHT,
            max_wait=settings.max_wait_seconds,
            transport=transport,
        )

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> AfasSandbox:
        return AfasSandbox(deals=deals, seed=seed)

    # -- check and reference data ------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.request("GET", f"/metainfo/get/{self.fields.get_connector}")

    async def _metainfo(self, connector: str) -> list[str]:
        return field_ids((await self.client.request("GET", f"/metainfo/get/{connector}")).json())

    async def _update_fields(self) -> list[str]:
        body = (await self.client.request("GET", f"/metainfo/update/{UPDATE_CONNECTOR}")).json()
        return [str(f.get("fieldId")) for f in body.get("fields", []) if isinstance(f, dict)]

    async def _statuses(self) -> list[dict[str, Any]]:
        params = {"skip": -1, "take": -1, "orderbyfieldids": self.fields.status_id}
        body = (await self.client.request("GET", f"/connectors/{self.fields.status_connector}", params=params)).json()
        return list(body.get("rows", []))

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
            status_rows = await self._statuses()
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
        if wb.probability_field is not None and wb.probability_scale != 100:
            problems.append("writeback.probability_scale must be 100: Profit's scoring chance (Pc) is a percentage")
        return problems

    # -- reading -----------------------------------------------------------------------------------------------

    def _order(self) -> str:
        return ",".join(self.fields.key_fields)

    def _after(self, connector: str, row: dict[str, Any]) -> tuple[str, int]:
        """The key of a page's last row, as the next page's keyset filter sends it back to Profit.

        The relation is a string in Profit and goes back verbatim: Profit compares it with the same (string)
        collation it sorted the page by, so the connector never orders keys itself. It must survive the filter
        syntax, though: a `,` or `;` would split the value and surrounding spaces could be trimmed, and either would
        silently skip rows, so such a key stops the read instead.
        """
        relation_field, sequence_field = self.fields.key_fields
        relation, sequence = row.get(relation_field), row.get(sequence_field)
        text = "" if relation is None else str(relation)
        if isinstance(sequence, float) and sequence.is_integer():
            sequence = int(sequence)
        if not text or text != text.strip() or "," in text or ";" in text:
            raise PaginationError(
                f"GET /connectors/{connector}: forecast relation {relation!r} cannot be sent back in a keyset "
                "filter (empty, surrounding spaces, ',' or ';'); stopping rather than skipping rows",
                connection=self.connection,
            )
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise PaginationError(
                f"GET /connectors/{connector}: forecast {text} has no whole sequence number ({sequence!r}) "
                "to page after",
                connection=self.connection,
            )
        return text, sequence

    async def _pages(self, connector: str, take: int, since: str | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a GetConnector in key order, by keyset; stops at the first short page.

        Each page after the first asks for the rows after the last key seen (`keyset_filter`), always with skip 0,
        so a forecast deleted or inserted during the read shifts nothing: no surviving row is skipped or read
        twice. `since` (the modified-date filter value, operator 2) is combined with every part of that filter.
        """
        after: tuple[str, int] | None = None
        seen: set[str] = set()
        relation, sequence = self.fields.key_fields
        modified = self.fields.fields["modified"]
        while True:
            params = {
                "skip": 0,
                "take": take,
                "orderbyfieldids": self._order(),
                **keyset_filter(relation, sequence, after, (modified, since) if since is not None else None),
            }
            body = (await self.client.request("GET", f"/connectors/{connector}", params=params)).json()
            rows = body.get("rows") if isinstance(body, dict) else None
            where = "the first page" if after is None else f"the page after {source_id(*after)}"
            if not isinstance(rows, list):
                raise PaginationError(
                    f"GET /connectors/{connector} ({where}) answered without a 'rows' list",
                    connection=self.connection,
                )
            keys = [source_id(r.get(relation), r.get(sequence)) for r in rows]
            repeated = next((key for key in keys if key in seen), None)
            if repeated is not None:
                raise PaginationError(
                    f"GET /connectors/{connector} returned forecast {repeated} again on {where}; "
                    "stopping to avoid a paging loop",
                    connection=self.connection,
                )
            seen.update(keys)
            yield rows
            if len(rows) < take:
                return
            after = self._after(connector, rows[-1])

    def _checkpoint(self, rows: list[dict[str, Any]]) -> datetime | None:
        field_id = self.fields.fields["modified"]
        stamps = []
        for row in rows:
            value = row.get(field_id)
            if isinstance(value, str) and value:
                try:
                    stamps.append(parse_local(value))
                except ValueError:
                    continue  # to_deal quarantines the row with its reason
        return max(stamps, default=None)

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        since_filter = since_value(since) if since is not None else None
        relation, sequence = self.fields.key_fields
        seen: list[str] | None = [] if (reconcile and since is None) else None
        async for rows in self._pages(self.fields.get_connector, self.settings.page_size, since_filter):
            records = [{**r, "id": source_id(r.get(relation), r.get(sequence))} for r in rows]
            if seen is not None:
                seen += [r["id"] for r in records]
            yield Page(records=records, checkpoint=self._checkpoint(rows))
        if not reconcile:
            return
        if seen is None:
            seen = await self._key_scan()
        yield Page(records=[], live_ids=seen)

    async def _key_scan(self) -> list[str]:
        """Every forecast's id, reading only the key fields (the key GetConnector when the mapping names one)."""
        connector = self.fields.key_connector or self.fields.get_connector
        relation, sequence = self.fields.key_fields
        ids: list[str] = []
        async for rows in self._pages(connector, self.settings.key_page_size):
            ids += [source_id(r.get(relation), r.get(sequence)) for r in rows]
        return ids

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(self.connection, raw, reference, self.mapping, self.fields)

    # -- writing -----------------------------------------------------------------------------------------------

    def _fields_of(self, update: DealUpdate, relation: str, sequence: int) -> dict[str, Any]:
        wb = self.mapping.writeback
        fields: dict[str, Any] = {}
        if update.category is not None and wb.category_field:
            fields[wb.category_field] = update.category  # "" clears the free field
        if wb.probability_field:
            if update.probability is not None:
                fields[wb.probability_field] = _json_number(update.probability)
            elif update.clear_probability:
                fields[wb.probability_field] = ""  # Profit's UpdateConnectors clear a field given as ""
        return {"PrId": relation, "SqNo": sequence, **fields} if fields else {}

    async def _write_one(self, update: DealUpdate) -> WriteOutcome:
        key = split_id(update.source_id)
        if key is None:
            return WriteOutcome(
                source_id=update.source_id, status="failed", reason="not an AFAS forecast id (<PrId>-<SqNo>)"
            )
        fields = self._fields_of(update, *key)
        if not fields:
            return WriteOutcome(source_id=update.source_id, status="skipped", reason="nothing to write")
        body = {UPDATE_CONNECTOR: {"Element": {"Fields": fields}}}
        try:
            await self.client.request("PUT", f"/connectors/{UPDATE_CONNECTOR}", json_body=body, ok=(200, 201))
        except AuthError:
            raise
        except ApiError as exc:
            return WriteOutcome(source_id=update.source_id, status="failed", reason=exc.detail or str(exc))
        except ConnectorError as exc:  # Profit unreachable after every retry: this forecast only
            return WriteOutcome(source_id=update.source_id, status="failed", reason=str(exc))
        return WriteOutcome(source_id=update.source_id, status="written")

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """One PUT per forecast (an element fails or succeeds alone), at most 5 in flight.

        Every PUT runs to its end before the outcomes are returned, so a forecast that could not be reached never
        hides those already written; only a refused token ends the batch.
        """
        results = await asyncio.gather(*(self._write_one(update) for update in updates), return_exceptions=True)
        outcomes: list[WriteOutcome] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            outcomes.append(result)
        return outcomes


def keyset_filter(
    relation: str, sequence: str, after: tuple[str, int] | None, since: tuple[str, str] | None = None
) -> dict[str, str]:
    """The filter triple of one page: the rows after key `after`, modified at or after `since` (field, value).

    Profit's triple is three parallel lists, `,` joining the clauses of a group (AND) and `;` the groups (OR):
    `(relation > r) OR (relation = r AND sequence > s)`, with `modified >= since` inside every group. The first
    page (`after` None) has only the `since` clause, or no filter at all.
    """
    groups: list[list[tuple[str, str, int]]] = [[]]
    if after is not None:
        groups = [[(relation, after[0], GT)], [(relation, after[0], EQ), (sequence, str(after[1]), GT)]]
    if since is not None:
        for group in groups:
            group.append((since[0], since[1], GE))
    if not groups[0]:
        return {}
    return {
        "filterfieldids": ";".join(",".join(field for field, _, _ in group) for group in groups),
        "filtervalues": ";".join(",".join(value for _, value, _ in group) for group in groups),
        "operatortypes": ";".join(",".join(str(op) for _, _, op in group) for group in groups),
    }


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
