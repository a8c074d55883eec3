"""The Connector base builds the client, checks settings and validates the mapping's [options]."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connector import ConnectorOptions, ConnectorSettings
from crmsync.errors import ConfigError, MappingError
from crmsync.testing.fake import FakeConnector, FakeSettings, fake_mapping
from crmsync.testing.fake_crm import FakeCrm


def settings(**extra: object) -> FakeSettings:
    return FakeSettings(base_url="http://fake.test", token=SecretStr("tok-123456"), **extra)  # type: ignore[arg-type]


async def test_the_client_is_built_from_settings_and_auth_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    connector = FakeConnector("c1", settings(requests_per_second=3), fake_mapping(),
                              transport=httpx.MockTransport(handler))  # fmt: skip
    await connector.check()
    await connector.aclose()
    assert seen[0].headers["authorization"] == "Bearer tok-123456"
    assert seen[0].headers["accept"] == "application/json"
    assert connector.client.limiter.max_requests == 3
    assert connector.client.connection == "c1"


async def test_using_gives_every_instance_the_transport() -> None:
    crm = FakeCrm(deals=3, token="tok-123456")
    cls = FakeConnector.using(crm.transport())
    connector = cls("c1", settings(), fake_mapping())
    reference = await connector.reference()
    await connector.aclose()
    assert reference.stages and crm.requests["reference"] == 1


def test_settings_of_another_connector_are_refused() -> None:
    with pytest.raises(ConfigError, match="ConnectorSettings given, FakeSettings expected"):
        FakeConnector("c1", ConnectorSettings(base_url="http://x"), fake_mapping())


def test_an_unknown_option_names_file_and_key() -> None:
    mapping = fake_mapping().model_copy(update={"options": {"pipline_label": "x"}})
    with pytest.raises(MappingError) as info:
        FakeConnector("c1", settings(), mapping)
    assert info.value.key == "options.pipline_label"
    assert "unknown option for connector 'fake'" in str(info.value)
    assert str(mapping.path) in str(info.value)


def test_typed_options_are_validated() -> None:
    class LabelOptions(ConnectorOptions):
        pipeline_label: str = "Sales"
        page_size: int = 100

    class Labelled(FakeConnector):
        Options = LabelOptions

    good = Labelled("c1", settings(), fake_mapping().model_copy(update={"options": {"page_size": 20}}))
    assert good.options == LabelOptions(page_size=20)
    with pytest.raises(MappingError) as info:
        Labelled("c1", settings(), fake_mapping().model_copy(update={"options": {"page_size": "many"}}))
    assert info.value.key == "options.page_size"


def test_a_declared_percentage_checks_the_writeback_section() -> None:
    from crmsync.connector import Reference
    from crmsync.kit.checks import Percentage

    base = fake_mapping()
    wb = base.writeback.model_copy(
        update={"probability_field": "chance", "probability_scale": 1, "probability_decimals": 2}
    )
    mapping = base.model_copy(update={"writeback": wb, "stages": []})

    class Whole(FakeConnector):
        probability = Percentage("probability", whole=True)

    problems = Whole("c1", settings(), mapping).mapping_problems(Reference(pipelines={}, stages={}, fields={}))
    assert problems == [
        "writeback.probability_field is 'chance': fake keeps a deal's probability in 'probability'",
        "writeback.probability_scale must be 100: fake's probability is a percentage",
        "writeback.probability_decimals must be 0: fake's probability is a whole percentage",
    ]
    assert (
        FakeConnector("c1", settings(), mapping).mapping_problems(Reference(pipelines={}, stages={}, fields={})) == []
    )
    unwritten = mapping.model_copy(update={"writeback": wb.model_copy(update={"probability_field": None})})
    assert Whole("c1", settings(), unwritten).mapping_problems(Reference(pipelines={}, stages={}, fields={})) == []
