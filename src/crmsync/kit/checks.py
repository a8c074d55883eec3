"""Checks of a mapping against a CRM's live reference data that hold for every connector.

`Connector.mapping_problems` runs `stage_problems` for every connector, and `probability_problems` for one that
declares how it keeps the probability (`Connector.probability`); connectors add their own field checks and use
`option_problems` for the category field's options.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crmsync.connector import Reference
from crmsync.mapping import Mapping


def stage_problems(mapping: Mapping, reference: Reference, crm: str) -> list[str]:
    """Stage rules naming a pipeline or a stage (by id or label) the CRM does not have."""
    problems = []
    for index, rule in enumerate(mapping.stages):
        pipelines = [p.id for p in reference.pipelines.values() if rule.pipeline in ("*", p.id, p.label)]
        if not pipelines:
            known = ", ".join(sorted(p.label for p in reference.pipelines.values())) or "none"
            problems.append(f"stages[{index}].pipeline {rule.pipeline!r} does not exist in {crm}; pipelines: {known}")
            continue
        stages = [s for s in reference.stages.values() if s.pipeline_id in pipelines]
        if not any(rule.stage in (s.id, s.label) for s in stages):
            known = ", ".join(sorted({s.label for s in stages})) or "none"
            where = "" if rule.pipeline == "*" else f" in pipeline {rule.pipeline!r}"
            problems.append(f"stages[{index}].stage {rule.stage!r} does not exist{where} in {crm}; stages: {known}")
    return problems


@dataclass(frozen=True)
class Percentage:
    """How a CRM keeps a deal's probability: in its own field `name` (None: any field the mapping names), as a
    percentage, whole when `whole`. A connector declares it as `Connector.probability`."""

    name: str | None = None
    whole: bool = False


def probability_problems(mapping: Mapping, percentage: Percentage, crm: str) -> list[str]:
    """What in `[writeback]` disagrees with how the CRM keeps the probability."""
    wb = mapping.writeback
    if wb.probability_field is None:
        return []
    problems = []
    if percentage.name is not None and wb.probability_field != percentage.name:
        problems.append(
            f"writeback.probability_field is {wb.probability_field!r}: {crm} keeps a deal's probability in "
            f"{percentage.name!r}"
        )
    if wb.probability_scale != 100:
        problems.append(f"writeback.probability_scale must be 100: {crm}'s probability is a percentage")
    if percentage.whole and wb.probability_decimals != 0:
        problems.append(f"writeback.probability_decimals must be 0: {crm}'s probability is a whole percentage")
    return problems


def option_problems(mapping: Mapping, options: Collection[str]) -> list[str]:
    """Category values of the mapping that are not options of the category field (when it has options)."""
    wb = mapping.writeback
    if not options or wb.category_field is None:
        return []
    listed = ", ".join(sorted(options))
    return [
        f"writeback.category_values.{category.value}: {value!r} is not an option of {wb.category_field!r}; "
        f"options: {listed}"
        for category, value in wb.category_values.items()
        if value not in options
    ]
