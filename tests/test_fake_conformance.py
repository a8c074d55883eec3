"""The in-core fake connector passes the whole conformance kit, so the core's tests stand on a true connector."""

from __future__ import annotations

from crmsync.testing import ConnectorConformance
from crmsync.testing.fake import MAPPING_PATH, FakeConnector


class TestFakeConformance(ConnectorConformance):
    connector_class = FakeConnector
    mapping_path = MAPPING_PATH
    sandbox_deals = 120
