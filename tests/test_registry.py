"""Connector discovery and the explicit Registry used by tests (on the fake connector)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import SecretStr

from crmsync import redact, registry
from crmsync.errors import ConfigError, ConnectorLoadError
from crmsync.mapping import Mapping
from crmsync.registry import GROUP, Registry, discover
from crmsync.testing.fake import FakeConnector, FakeSettings


def fake_entry_points(*entries: tuple[str, str]) -> object:
    points = [EntryPoint(name=name, value=value, group=GROUP) for name, value in entries]

    def entry_points(*, group: str) -> list[EntryPoint]:
        assert group == GROUP
        return points

    return entry_points


def test_discover_reports_a_broken_entry_point_by_name_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        registry,
        "entry_points",
        fake_entry_points(
            ("fake", "crmsync.testing.fake:FakeConnector"),
            ("ghost", "crmsync_no_such_module.connector:GhostConnector"),
            ("notaconnector", "collections:OrderedDict"),
        ),
    )

    found = discover()

    assert set(found) == {"fake", "ghost", "notaconnector"}
    assert found["fake"].cls is FakeConnector
    assert found["fake"].error is None
    assert found["ghost"].cls is None
    assert found["ghost"].error is not None
    assert found["ghost"].error.startswith("ModuleNotFoundError: No module named 'crmsync_no_such_module'")
    assert found["notaconnector"].cls is None
    assert found["notaconnector"].error == (
        "TypeError: collections:OrderedDict is not a crmsync.connector.Connector subclass"
    )

    reg = Registry()
    assert reg.names() == ["fake"], "a broken plugin does not take the others down"
    with pytest.raises(ConnectorLoadError, match="connector 'ghost' failed to load: ModuleNotFoundError"):
        reg.get("ghost")


def test_discover_finds_a_connector_with_its_distribution_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry point of an installed distribution (crmsync itself here) reports the distribution's version."""
    from importlib.metadata import distribution, version

    entry = EntryPoint(name="fake", value="crmsync.testing.fake:FakeConnector", group=GROUP)
    entry = entry._for(distribution("crmsync"))  # type: ignore[attr-defined]
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [entry])
    found = discover()
    assert found["fake"].cls is FakeConnector
    assert found["fake"].distribution == "crmsync"
    assert found["fake"].version == version("crmsync")


def test_explicit_registry(mapping: Mapping) -> None:
    reg = Registry({"fake": FakeConnector})
    assert reg.names() == ["fake"]
    assert reg.get("fake") is FakeConnector
    with pytest.raises(ConnectorLoadError, match="no connector named 'salesforce' is installed; installed: fake"):
        reg.get("salesforce")


async def test_build_validates_settings_and_registers_secrets(mapping: Mapping) -> None:
    reg = Registry({"fake": FakeConnector})
    connector = reg.build(
        "fake", "hs-nl", {"base_url": "http://127.0.0.1:9", "token": "pat-registry-secret-99"}, mapping
    )
    try:
        assert isinstance(connector.settings, FakeSettings)
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
            "unknown key; allowed: base_url, daily_request_budget, max_retries, requests_per_second, "
            "timeout_seconds, token",
        ),
        (
            {"base_url": "http://x", "token": "t0k3n-abcdef", "requests_per_second": 0},
            "connections.hs.settings.requests_per_second",
            "greater than or equal to 1",
        ),
    ],
)
def test_build_rejects_bad_settings_naming_the_key(
    mapping: Mapping, settings: dict[str, object], key: str, pattern: str
) -> None:
    reg = Registry({"fake": FakeConnector})
    with pytest.raises(ConfigError) as caught:
        reg.build("fake", "hs", settings, mapping, file="/etc/crmsync.toml")
    assert caught.value.file == "/etc/crmsync.toml"
    assert caught.value.key == key
    assert pattern in str(caught.value)


def test_build_rejects_a_mapping_for_another_connector(mapping: Mapping) -> None:
    reg = Registry({"fake": FakeConnector})
    other = mapping.model_copy(update={"connector": "pipedrive"})
    with pytest.raises(ConfigError, match="mapping is for connector 'pipedrive' but the connection uses 'fake'"):
        reg.build("fake", "hs", {"token": "t0k3n-abcdef"}, other)


def test_build_rejects_unknown_canonical_fields(mapping: Mapping) -> None:
    reg = Registry({"fake": FakeConnector})
    odd = mapping.model_copy(update={"fields": {"colour": "hs_colour"}})
    with pytest.raises(ConfigError) as caught:
        reg.build("fake", "hs", {"token": "t0k3n-abcdef"}, odd)
    assert caught.value.key == "fields.colour"
    assert "allowed: amount, close_date, currency, name" in str(caught.value)
    assert Path(str(caught.value.file)).name == "fake.toml"
