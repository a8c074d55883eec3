from __future__ import annotations

from pathlib import Path

from crmsync.testing import ConnectorConformance
from crmsync_afas.connector import AfasConnector

ROOT = Path(__file__).resolve().parents[3]


class TestAfasConformance(ConnectorConformance):
    connector_class = AfasConnector
    mapping_path = ROOT / "mappings" / "afas.toml"
    sandbox_deals = 1100  # more than one page of 1000
