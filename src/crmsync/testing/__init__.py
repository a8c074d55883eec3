"""Testing crmsync and its connectors: the conformance kit, an in-core fake CRM and connector, pytest fixtures.

from crmsync.testing import ConnectorConformance

class TestConformance(ConnectorConformance):
    connector_class = MyConnector
    mapping_path = Path("mappings/mycrm.toml")

The fixtures (sandbox, connector, mapping, store, fast_limits, fake_discovery) come from the pytest plugin
`crmsync.testing.plugin`, registered under the `pytest11` entry point; see its docstring.
"""

from crmsync.testing.conformance import ConnectorConformance, served_sandbox
from crmsync.testing.fake import FakeConnector, fake_mapping
from crmsync.testing.fake_crm import FakeCrm

__all__ = ["ConnectorConformance", "FakeConnector", "FakeCrm", "fake_mapping", "served_sandbox"]
