"""AFAS Profit connector: forecasts ("verkoopkansen") read through a customer's GetConnector, written with
the CmForecast UpdateConnector.

Reading pages by keyset, always ordered by the key fields (Profit's order of unordered rows is not defined):
every page after the first asks for the rows after the last key read, with skip 0, so deletes and inserts by
people during a read shift nothing (with skip/take a delete would slide an unread row onto a page already read,
and a key scan would then report a live forecast gone); a short page ends the listing. Incremental reads filter
the modified field with operator 2 (>=) on Amsterdam wall clock. Profit deletes hard, so `reconcile=True` ends
with a key scan whose ids come back as `Page.live_ids`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from crmsync.connector import Capabilities, Connector, ConnectorOptions, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import PaginationError
from crmsync.kit import KeysetPager, failed, json_number, skipped, write_each, writeback_values, written
from crmsync.model import Deal
from crmsync_afas.amsterdam import since_value
from crmsync_afas.client import AfasClient
from crmsync_afas.fields import CANONICAL, FieldMap, field_ids
from crmsync_afas.settings import AfasSettings
from crmsync_afas.translate import PIPELINE, source_id, split_id, stages_from_statuses, to_deal

if TYPE_CHECKING:
    from crmsync_afas.sandbox import AfasSandbox

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
    chance_linked_to_status: bool = False


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
    client_class = AfasClient
    settings: AfasSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields = FieldMap.from_mapping(self.mapping)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.settings.authorization(), "Accept-Language": self.settings.language}

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> AfasSandbox:
        from crmsync_afas.sandbox import AfasSandbox

        return AfasSandbox(deals=deals, seed=seed)

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
        if wb.probability_field is not None and wb.probability_scale != 100:
            problems.append("writeback.probability_scale must be 100: Profit's scoring chance (Pc) is a percentage")
        return problems

    # -- reading -----------------------------------------------------------------------------------------------

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

    def _pager(self, connector: str, take: int, since: str | None = None) -> KeysetPager:
        """The rows of a GetConnector in key order, `take` a page, optionally modified at or after `since`."""
        relation, sequence = self.fields.key_fields
        clause = None if since is None else (self.fields.fields["modified"], since)
        return KeysetPager(
            self.client,
            f"/connectors/{connector}",
            params={
                "skip": 0,
                "orderbyfieldids": f"{relation},{sequence}",
                **keyset_filter(relation, sequence, None, clause),
            },
            items="rows",
            page_size=take,
            limit_param="take",
            after=lambda row: keyset_filter(relation, sequence, self._after(connector, row), clause),
            key=lambda row: source_id(row.get(relation), row.get(sequence)),
        )

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        relation, sequence = self.fields.key_fields
        pager = self._pager(
            self.fields.get_connector, self.settings.page_size, None if since is None else since_value(since)
        )
        seen: list[str] | None = [] if (reconcile and since is None) else None
        async for rows in pager.pages():
            records = [
                {**r, "id": source_id(r.get(relation), r.get(sequence))} if isinstance(r, dict) else r for r in rows
            ]
            if seen is not None:
                seen += [r["id"] for r in records if isinstance(r, dict)]
            yield Page(records=records)
        if reconcile:
            yield Page(records=[], live_ids=seen if seen is not None else await self._key_scan())

    async def _key_scan(self) -> list[str]:
        """Every forecast's id, reading only the key fields (the key GetConnector when the mapping names one)."""
        relation, sequence = self.fields.key_fields
        pager = self._pager(self.fields.key_connector or self.fields.get_connector, self.settings.key_page_size)
        return [
            source_id(r.get(relation), r.get(sequence))
            async for rows in pager.pages()
            for r in rows
            if isinstance(r, dict)
        ]

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
