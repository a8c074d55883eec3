"""The sandbox's data: pipelines, stages, deal fields and deals, held as Pipedrive API v2 JSON objects.

Every mutation goes through `SandboxState` so `update_time` moves the way Pipedrive moves it: on any edit,
never backwards, at one-second resolution (Pipedrive's timestamps carry no fractions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DELETED_VISIBLE = timedelta(days=30)


def rfc3339(value: datetime) -> str:
    """Pipedrive's v2 timestamp form: UTC, whole seconds, trailing Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (Z or offset); raises ValueError for anything else."""
    text = value.strip()
    if "T" not in text:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(UTC)


@dataclass
class SandboxState:
    """Everything the emulated Pipedrive company holds."""

    pipelines: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    fields: list[dict[str, Any]]
    deals: dict[int, dict[str, Any]]
    forecast_key: str
    api_token: str
    oauth_token: str
    latest: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))

    # -- time --------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The current time for an edit: the wall clock, but never before the latest edit already made."""
        wall = datetime.now(UTC).replace(microsecond=0)
        self.latest = max(wall, self.latest)
        return self.latest

    # -- look-ups ----------------------------------------------------------------------------------------------

    def custom_field(self, key: str) -> dict[str, Any] | None:
        return next((f for f in self.fields if f["is_custom_field"] and f["field_code"] == key), None)

    def option_id(self, key: str, label: str) -> int:
        found = self.custom_field(key)
        for option in (found or {}).get("options") or []:
            if option["label"] == label:
                return int(option["id"])
        raise ValueError(f"field {key} has no option labelled {label!r}")

    def option_label(self, key: str, option_id: int | None) -> str | None:
        if option_id is None:
            return None
        found = self.custom_field(key)
        for option in (found or {}).get("options") or []:
            if option["id"] == option_id:
                return str(option["label"])
        return None

    def pipeline(self, pipeline_id: int) -> dict[str, Any] | None:
        return next((p for p in self.pipelines if p["id"] == pipeline_id), None)

    def stage(self, stage_id: int) -> dict[str, Any] | None:
        return next((s for s in self.stages if s["id"] == stage_id), None)

    def deleted_visible(self, deal: dict[str, Any]) -> bool:
        """Deleted deals stay listable for 30 days after deletion."""
        deleted_at = parse_rfc3339(deal["update_time"])
        return max(datetime.now(UTC), self.latest) - deleted_at <= DELETED_VISIBLE

    # -- edits -------------------------------------------------------------------------------------------------

    def stamp(self, deal: dict[str, Any]) -> None:
        deal["update_time"] = rfc3339(self.now())

    def apply(self, deal: dict[str, Any], changes: dict[str, Any]) -> None:
        """Apply validated changes to a deal as Pipedrive does (custom fields merged, times moved)."""
        now = rfc3339(self.now())
        pipeline_id = changes.get("pipeline_id")
        if pipeline_id is not None and "stage_id" not in changes and pipeline_id != deal["pipeline_id"]:
            # A deal moved to another pipeline without a stage lands in that pipeline's first stage (assumption:
            # the v2 spec does not say; the web app does so).
            first = min((s for s in self.stages if s["pipeline_id"] == pipeline_id), key=lambda s: s["order_nr"])
            changes = {**changes, "stage_id": first["id"]}
        for name, value in changes.items():
            if name == "custom_fields":
                deal["custom_fields"].update(value)
            elif name == "stage_id" and value != deal["stage_id"]:
                deal["stage_id"] = value
                deal["stage_change_time"] = now
                stage = self.stage(value)
                if stage is not None:
                    deal["pipeline_id"] = stage["pipeline_id"]
            elif name == "status" and value != deal["status"]:
                deal["status"] = value
                deal["won_time"] = now if value == "won" else None
                deal["lost_time"] = now if value == "lost" else None
                deal["close_time"] = now if value in ("won", "lost") else None
            elif name == "is_archived":
                deal["is_archived"] = value
                deal["archive_time"] = changes.get("archive_time") or (now if value else None)
            else:
                deal[name] = value
        deal["update_time"] = now
