"""Discovery and the Registry with the installed HubSpot connector (moved from the core's tests/test_registry.py,
whose generic tests now use the fake connector): HubSpot's distribution, settings keys and canonical fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from crmsync import redact
from crmsync.errors import ConfigError
from crmsync.mapping import Mapping, load_mapping
from crmsync.registry import Registry, discover
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def hubspot_mapping() -> Mapping:
    return load_mapping(ROOT / "mappings" / "hubspot.toml")


def test_discover_finds_the_installed_connectors_with_versions() -> None:
    found = discover()
    assert found["hubspot"].cls is HubSpotConnector
    assert found["hubspot"].distribution == "crmsync-hubspot"
    assert found["hubspot"].version


async def test_build_validates_settings_and_registers_secrets(hubspot_mapping: Mapping) -> None:
    reg = Registry({"hubspot": HubSpotConnector})
    connector = reg.build(
        "hubspot", "hs-nl", {"base_url": "http://127.0.0.1:9", "token": "pat-registry-secret-99"}, hubspot_mapping
    )
    try:
        assert isinstance(connector.settings, HubSpotSettings)
        assert isinstance(connector.settings.token, SecretStr)
        assert connector.connection == "hs-nl"
        assert redact.redact("token pat-registry-secret-99") == "token ***"
    finally:
        await connector.aclose()


@pytest.mark.parametrize(
    ("settings", "key", "pattern"),
    [
        ({"base_url": "http://x"}, "connections.hs.settings.token", "required key is missing"),
        (
            {"base_url": "http://x", "token": "t0k3n-abcdef", "tokn": "x"},
            "connections.hs.settings.tokn",
            "unknown key; allowed: base_url, daily_request_budget, history_on_full_read, max_retries, "
            "requests_per_10s, search_requests_per_second, timeout_seconds, token",
        ),
        (
            {"base_url": "http://x", "token": "t0k3n-abcdef", "requests_per_10s": 0},
            "connections.hs.settings.requests_per_10s",
            "greater than or equal to 1",
        ),
    ],
)
def test_build_rejects_bad_settings_naming_the_key(
    hubspot_mapping: Mapping, settings: dict[str, object], key: str, pattern: str
) -> None:
    reg = Registry({"hubspot": HubSpotConnector})
    with pytest.raises(ConfigError) as caught:
        reg.build("hubspot", "hs", settings, hubspot_mapping, file="/etc/crmsync.toml")
    assert caught.value.file == "/etc/crmsync.toml"
    assert caught.value.key == key
    assert pattern in str(caught.value)


def test_build_rejects_unknown_canonical_fields(hubspot_mapping: Mapping) -> None:
    reg = Registry({"hubspot": HubSpotConnector})
    odd = hubspot_mapping.model_copy(update={"fields": {"colour": "hs_colour"}})
    with pytest.raises(ConfigError) as caught:
        reg.build("hubspot", "hs", {"token": "t0k3n-abcdef"}, odd)
    assert caught.value.key == "fields.colour"
    assert "allowed: amount, close_date, currency, group, lost_reason, name, owner" in str(caught.value)
    assert Path(str(caught.value.file)).name == "hubspot.toml"
