from __future__ import annotations

from pathlib import Path

from crmsync.testing import ConnectorConformance
from crmsync_simplicate.connector import SimplicateConnector

ROOT = Path(__file__).resolve().parents[3]


class TestSimplicateConformance(ConnectorConformance):
    connector_class = SimplicateConnector
    mapping_path = ROOT / "mappings" / "simplicate.toml"
    sandbox_deals = 250
