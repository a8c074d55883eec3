from __future__ import annotations

from pathlib import Path

from crmsync.testing import ConnectorConformance
from crmsync_pipedrive.connector import PipedriveConnector

ROOT = Path(__file__).resolve().parents[3]


class TestPipedriveConformance(ConnectorConformance):
    connector_class = PipedriveConnector
    mapping_path = ROOT / "mappings" / "pipedrive.toml"
    sandbox_deals = 600  # Pipedrive pages hold 500 deals: 600 make two pages
