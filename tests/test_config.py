"""Configuration files: a table of valid files and a table of invalid ones with the error each must give.

Every invalid case asserts that the message names the file, the key and what is allowed.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from crmsync.app import App
from crmsync.config import Config, load_config
from crmsync.errors import ConfigError
from crmsync.model import ForecastCategory

ROOT = Path(__file__).resolve().parents[1]

CONNECTION = """
[connections.hs]
connector = "hubspot"
mapping = "mappings/hubspot.toml"
"""
OWNERS = """
[[owners]]
name = "Anna"
email = "anna@example.com"
ids = { hs = "101" }
"""

VALID = [
    pytest.param("", {}, lambda c: c.connections == {} and c.timezone == "Europe/Amsterdam", id="empty-file"),
    pytest.param(
        CONNECTION,
        {},
        lambda c: (
            c.connections["hs"].schedule == "0 2 * * *"
            and c.connections["hs"].writeback == "apply"
            and c.base_currency == "EUR"
        ),
        id="defaults",
    ),
    pytest.param(
        'timezone = "America/New_York"\nbase_currency = "USD"\n[rates]\nEUR = 1.08\n' + CONNECTION,
        {},
        lambda c: c.timezone == "America/New_York" and c.rates == {"EUR": Decimal("1.08")},
        id="timezone-and-rates",
    ),
    pytest.param(
        CONNECTION + 'schedule = "*/15 8-18 * * mon-fri"\ntimezone = "Asia/Tokyo"\nwriteback = "dry-run"\n',
        {},
        lambda c: c.connections["hs"].timezone == "Asia/Tokyo" and c.connections["hs"].writeback == "dry-run",
        id="schedule-zone-dry-run",
    ),
    pytest.param(
        CONNECTION + '[connections.hs.settings]\ntoken = "${HS_TOKEN}"\nbase_url = "https://${HS_HOST}/api"\n',
        {"HS_TOKEN": "pat-123456", "HS_HOST": "crm.internal"},
        lambda c: c.connections["hs"].settings == {"token": "pat-123456", "base_url": "https://crm.internal/api"},
        id="env-references",
    ),
    pytest.param(
        OWNERS + '[[targets]]\nowner = "anna@example.com"\nperiod = "2026-Q4"\namount = 1000\n',
        {},
        lambda c: c.targets[0].amount == 1000 and c.owners[0].ids == {"hs": "101"},
        id="owners-and-targets",
    ),
    pytest.param(
        '[labels]\npipeline = "Pijplijn"\n',
        {},
        lambda c: c.label(ForecastCategory.PIPELINE) == "Pijplijn" and c.label(ForecastCategory.COMMIT) == "Commit",
        id="labels",
    ),
]


@pytest.mark.parametrize(("text", "environ", "check"), VALID)
def test_valid_configurations_load(tmp_path: Path, text: str, environ: dict[str, str], check: object) -> None:
    path = tmp_path / "crmsync.toml"
    path.write_text(text)
    config = load_config(path, environ=environ)
    assert callable(check)
    assert check(config)
    assert config.path == path.resolve()


# (file content, environment, expected key, patterns the message must contain)
INVALID = [
    pytest.param(
        'colour = "blue"\n' + CONNECTION,
        {},
        "colour",
        [
            "unknown key",
            "allowed: base_currency, connections, labels, owners, rates, report, service, store, targets, timezone",
        ],
        id="unknown-top-level-key",
    ),
    pytest.param(
        CONNECTION + "retries = 3\n",
        {},
        "connections.hs.retries",
        ["unknown key", "allowed:", "overlap_minutes", "schedule", "writeback"],
        id="unknown-connection-key",
    ),
    pytest.param(
        OWNERS + 'phone = "0612345678"\n',
        {},
        "owners[0].phone",
        ["unknown key", "allowed: email, ids, name, team"],
        id="unknown-owner-key",
    ),
    pytest.param(
        CONNECTION + 'schedule = "61 * * * *"\n',
        {},
        "connections.hs.schedule",
        ["invalid cron expression '61 \\* \\* \\* \\*'", "maximum value \\(59\\)"],
        id="cron-out-of-range",
    ),
    pytest.param(
        CONNECTION + 'schedule = "* * * * * 75"\n',
        {},
        "connections.hs.schedule",
        ["invalid cron expression '\\* \\* \\* \\* \\* 75'", "maximum value \\(59\\)"],
        id="cron-second-out-of-range",
    ),
    pytest.param(
        CONNECTION + 'schedule = "every night"\n',
        {},
        "connections.hs.schedule",
        ["invalid cron expression 'every night'", "give 5 fields .minute hour day month weekday. or 6 .\\+ second."],
        id="cron-not-five-fields",
    ),
    pytest.param(
        'timezone = "Mars/Olympus_Mons"\n',
        {},
        "timezone",
        ["unknown time zone 'Mars/Olympus_Mons'", "IANA name such as 'Europe/Amsterdam'"],
        id="unknown-timezone",
    ),
    pytest.param(
        CONNECTION + 'timezone = "Europe/Amsterdm"\n',
        {},
        "connections.hs.timezone",
        ["unknown time zone 'Europe/Amsterdm'", "IANA name"],
        id="unknown-connection-timezone",
    ),
    pytest.param(
        'base_currency = "euro"\n',
        {},
        "base_currency",
        [re.escape("^[A-Z]{3}$")],
        id="bad-currency-code",
    ),
    pytest.param(
        "[rates]\nusd = 0.9\n",
        {},
        "rates",
        ["currency 'usd' must be a three-letter ISO code"],
        id="bad-rate-currency",
    ),
    pytest.param("[rates]\nUSD = 0\n", {}, "rates", ["rate for USD must be positive"], id="zero-rate"),
    pytest.param(
        OWNERS + '[[targets]]\nowner = "bram@example.com"\nperiod = "2026"\namount = 5\n',
        {},
        None,
        ["targets\\[0\\].owner 'bram@example.com' is not the email of any \\[\\[owners\\]\\] entry", "anna@example"],
        id="target-names-unknown-owner",
    ),
    pytest.param(
        OWNERS + '[[targets]]\nowner = "anna@example.com"\nperiod = "2026-Q5"\namount = 5\n',
        {},
        "targets[0].period",
        ["period '2026-Q5' must look like 2026, 2026-Q4 or 2026-11"],
        id="bad-target-period",
    ),
    pytest.param(
        CONNECTION + '[connections.hs.settings]\ntoken = "${HS_TOKEN}"\n',
        {},
        "connections.hs.settings.token",
        ["environment variable HS_TOKEN is not set"],
        id="env-not-set",
    ),
    pytest.param(
        CONNECTION + 'writeback = "sometimes"\n',
        {},
        "connections.hs.writeback",
        ["'apply' or 'dry-run'"],
        id="bad-writeback",
    ),
    pytest.param(
        '[connections.hs]\nconnector = "hubspot"\n',
        {},
        "connections.hs.mapping",
        ["required key is missing"],
        id="missing-mapping",
    ),
    pytest.param(
        CONNECTION + "overlap_minutes = -5\n",
        {},
        "connections.hs.overlap_minutes",
        ["greater than or equal to 0"],
        id="negative-overlap",
    ),
    pytest.param(
        'timezone = "Europe/Amsterdam\n',
        {},
        None,
        ["not valid TOML", "line 1"],
        id="toml-syntax-error",
    ),
]


@pytest.mark.parametrize(("text", "environ", "key", "patterns"), INVALID)
def test_invalid_configurations_name_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, environ: dict[str, str], key: str | None, patterns: list[str]
) -> None:
    path = tmp_path / "crmsync.toml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)

    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert caught.value.file == str(path)
    assert message.startswith(str(path))
    assert caught.value.key == key
    if key is not None:
        assert f"key '{key}'" in message
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    assert "Value error" not in message, "pydantic's prefix is noise"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="file not found") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read") as caught:
        load_config(tmp_path)  # a directory
    assert caught.value.file == str(tmp_path)


def test_environment_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_TEST_TOKEN", "from-the-environment")
    path = tmp_path / "crmsync.toml"
    path.write_text(CONNECTION + '[connections.hs.settings]\ntoken = "${CRMSYNC_TEST_TOKEN}"\n')
    assert load_config(path).connections["hs"].settings["token"] == "from-the-environment"


def test_relative_mapping_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "crmsync.toml"
    path.parent.mkdir()
    path.write_text(CONNECTION)
    config = load_config(path)
    assert config.mapping_path("hs") == path.resolve().parent / "mappings" / "hubspot.toml"
    with pytest.raises(ConfigError, match="no connection named 'pd'; configured: hs"):
        config.connection("pd")


def test_config_example_loads_with_its_env_vars_set() -> None:
    example = ROOT / "config.example.toml"
    if not example.exists():
        pytest.fail("config.example.toml is missing at the repository root")
    referenced = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", example.read_text()))
    environ = {name: f"value-of-{name.lower()}" for name in referenced}
    # only references in values count: the comments may mention ${NAME} too
    config = load_config(example, environ=environ)
    assert isinstance(config, Config)
    assert config.connections, "the example configures at least one connection"
    app = App(config)
    for name in config.connections:
        mapping = app.mapping(name)
        assert mapping.connector == config.connections[name].connector
    app.validate(list(config.connections))  # settings fit each connector's model


def test_config_example_without_its_env_vars_names_the_variable() -> None:
    example = ROOT / "config.example.toml"
    with pytest.raises(ConfigError, match=r"environment variable \w+ is not set"):
        load_config(example, environ={})
