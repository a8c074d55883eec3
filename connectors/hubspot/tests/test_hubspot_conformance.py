from __future__ import annotations

from pathlib import Path

from crmsync.testing import ConnectorConformance
from crmsync_hubspot.connector import HubSpotConnector

ROOT = Path(__file__).resolve().parents[3]


class TestHubSpotConformance(ConnectorConformance):
    connector_class = HubSpotConnector
    mapping_path = ROOT / "mappings" / "hubspot.toml"
    sandbox_deals = 250
