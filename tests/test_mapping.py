"""Mapping files: valid and invalid files run as tables; write-back value translation; the shipped mappings."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from crmsync.errors import ConfigError, MappingError
from crmsync.mapping import Mapping, WriteBack, load_mapping
from crmsync.model import ForecastCategory

ROOT = Path(__file__).resolve().parents[1]
HEAD = 'connector = "hubspot"\n'
VALUES = """
[writeback]
category_field = "forecast"
[writeback.category_values]
pipeline = "P"
best_case = "B"
commit = "C"
closed = "W"
omitted = "O"
"""

VALID = [
    pytest.param(HEAD, lambda m: m.stages == [] and m.writeback.category_field is None, id="minimal"),
    pytest.param(
        HEAD + '[[stages]]\nstage = "s1"\ncategory = "commit"\n',
        lambda m: m.stages[0].pipeline == "*" and m.stages[0].probability is None,
        id="stage-defaults",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "cap.1"\nwhen = { close_date_in = "next_quarter", amount_min = 10 }\n'
        "then = { cap_probability = 0.5 }\n",
        lambda m: m.rules[0].when.close_date_in == "next_quarter" and m.rules[0].then.cap_probability == Decimal("0.5"),
        id="rule",
    ),
    pytest.param(
        HEAD + VALUES.replace("[writeback]\n", "[writeback]\nprobability_scale = 100\nprobability_decimals = 0\n"),
        lambda m: m.writeback.remote_probability(Decimal("0.875")) == Decimal("88"),
        id="percent-scale",
    ),
    pytest.param(
        HEAD + '[overrides]\ncategory = "enforce"\nprobability = "reset_on_stage_change"\n',
        lambda m: (m.overrides.category, m.overrides.probability) == ("enforce", "reset_on_stage_change"),
        id="overrides",
    ),
]


@pytest.mark.parametrize(("text", "check"), VALID)
def test_valid_mappings_load(tmp_path: Path, text: str, check: object) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    mapping = load_mapping(path)
    assert callable(check)
    assert check(mapping)
    assert mapping.path == str(path)


INVALID = [
    pytest.param(
        HEAD + "colour = 1\n",
        "colour",
        ["unknown key", "allowed: connector, default_currency, fields, options, overrides, rules, stages, writeback"],
        id="unknown-key",
    ),
    pytest.param(
        HEAD + '[[stages]]\nstage = "s"\ncategory = "pipeline"\nprob = 0.1\n',
        "stages[0].prob",
        ["unknown key", "allowed: category, pipeline, probability, stage"],
        id="unknown-stage-key",
    ),
    pytest.param(
        HEAD + '[[stages]]\nstage = "s"\ncategory = "maybe"\n',
        "stages[0].category",
        ["'omitted', 'pipeline', 'best_case', 'commit' or 'closed'"],
        id="unknown-category",
    ),
    pytest.param(
        HEAD + '[[stages]]\nstage = "s"\ncategory = "pipeline"\nprobability = 1.5\n',
        "stages[0].probability",
        ["less than or equal to 1"],
        id="probability-above-one",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "r1"\nwhen = { status = ["open"] }\nthen = {}\n',
        "rules[0].then",
        ["a rule must do something: category, probability, cap_category, cap_probability or flag"],
        id="rule-without-action",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "r1"\nwhen = { status = ["open"] }\n',
        "rules[0].then",
        ["required key is missing"],
        id="rule-without-then",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "r1"\nthen = { flag = "a" }\n[[rules]]\nid = "r1"\nthen = { flag = "b" }\n',
        "rules",
        ["rule id 'r1' is used twice"],
        id="duplicate-rule-id",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "Not Valid"\nthen = { flag = "a" }\n',
        "rules[0].id",
        [re.escape("^[a-z0-9][a-z0-9_.-]*$")],
        id="bad-rule-id",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "r1"\nwhen = { colour = "red" }\nthen = { flag = "a" }\n',
        "rules[0].when.colour",
        ["unknown key", "allowed: age_days_max, age_days_min, amount_max", "close_date_in"],
        id="unknown-condition-key",
    ),
    pytest.param(
        HEAD + '[[rules]]\nid = "r1"\nwhen = { close_date_in = "last_week" }\nthen = { flag = "a" }\n',
        "rules[0].when.close_date_in",
        ["'this_month', 'this_quarter', 'this_year', 'next_month' or 'next_quarter'"],
        id="unknown-period",
    ),
    pytest.param(
        HEAD + '[writeback]\ncategory_field = "forecast"\n[writeback.category_values]\npipeline = "P"\n',
        "writeback",
        ["category_values has no remote value for: omitted, best_case, commit, closed"],
        id="missing-category-values",
    ),
    pytest.param(
        HEAD + "[writeback]\nprobability_scale = 10\n",
        "writeback.probability_scale",
        ["1 or 100"],
        id="bad-scale",
    ),
    pytest.param(
        HEAD + '[overrides]\ncategory = "ignore"\n',
        "overrides.category",
        ["'respect', 'enforce' or 'reset_on_stage_change'"],
        id="bad-override-policy",
    ),
    pytest.param('[[stages]]\nstage = "s"\ncategory = "pipeline"\n', "connector", ["required key"], id="no-connector"),
    pytest.param(HEAD + "[[stages]\n", None, ["not valid TOML"], id="toml-syntax-error"),
]


@pytest.mark.parametrize(("text", "key", "patterns"), INVALID)
def test_invalid_mappings_name_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, key: str | None, patterns: list[str]
) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_mapping(path)

    error = caught.value
    assert isinstance(error, MappingError) or key is None, "a file that parses gives a MappingError"
    assert error.file == str(path)
    assert error.key == key
    message = str(error)
    assert message.startswith(str(path))
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as caught:
        load_mapping(tmp_path / "gone.toml")
    assert str(tmp_path / "gone.toml") in str(caught.value)


def test_check_fields_rejects_unknown_canonical_field(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(HEAD + '[fields]\nname = "dealname"\nvalue = "amount"\n')
    mapping = load_mapping(path)
    mapping.check_fields({"name", "amount", "value"})
    with pytest.raises(MappingError) as caught:
        mapping.check_fields({"name", "amount"})
    assert caught.value.key == "fields.value"
    assert caught.value.file == str(path)
    assert "unknown canonical field; allowed: amount, name" in str(caught.value)


def test_writeback_translation() -> None:
    wb = WriteBack(
        category_field="f",
        probability_field="p",
        probability_scale=100,
        probability_decimals=1,
        category_values={c: c.value.upper() for c in ForecastCategory},
    )
    assert wb.remote_category(ForecastCategory.BEST_CASE) == "BEST_CASE"
    assert wb.canonical_category("COMMIT") is ForecastCategory.COMMIT
    assert wb.canonical_category("something a person typed") is None
    assert wb.canonical_category(None) is None
    assert wb.remote_probability(Decimal("0.3333")) == Decimal("33.3")
    assert str(WriteBack(probability_decimals=2).remote_probability(Decimal("0.9"))) == "0.90"


def test_digest_changes_with_content_only(hubspot_mapping: Mapping) -> None:
    same = load_mapping(ROOT / "mappings" / "hubspot.toml")
    assert same.digest() == hubspot_mapping.digest()
    moved = hubspot_mapping.model_copy(update={"path": "/elsewhere.toml"})
    assert moved.digest() == hubspot_mapping.digest(), "the file's location is not content"
    changed = hubspot_mapping.model_copy(update={"default_currency": "USD"})
    assert changed.digest() != hubspot_mapping.digest()


@pytest.mark.parametrize("path", sorted((ROOT / "mappings").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_mappings_load(path: Path) -> None:
    mapping = load_mapping(path)
    assert mapping.connector == path.stem
