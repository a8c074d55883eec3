"""Testing crmsync and its connectors: the conformance kit, an in-core fake CRM and connector, pytest fixtures.

from crmsync.testing import ConnectorConformance

class TestConformance(ConnectorConformance):
    connector_class = MyConnector
    mapping_path = Path("mappings/mycrm.toml")

The fixtures (sandbox, connector, mapping, store, fast_limits, fake_discovery) come from the pytest plugin
`crmsync.testing.plugin`, registered under the `pytest11` entry point; see its docstring.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "ConnectorConformance": "crmsync.testing.conformance",
    "served_sandbox": "crmsync.testing.conformance",
    "FakeConnector": "crmsync.testing.fake",
    "fake_mapping": "crmsync.testing.fake",
    "FakeCrm": "crmsync.testing.fake_crm",
}


def __getattr__(name: str) -> Any:
    """Imported on first use, so that importing the fake connector does not import its emulator."""
    if name not in _WHERE:
        raise AttributeError(f"module 'crmsync.testing' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)


__all__ = ["ConnectorConformance", "FakeConnector", "FakeCrm", "fake_mapping", "served_sandbox"]
