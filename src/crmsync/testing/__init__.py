"""The conformance kit every connector's tests run against its own sandbox.

from crmsync.testing import ConnectorConformance

class TestConformance(ConnectorConformance):
    connector_class = MyConnector
    mapping_path = Path("mappings/mycrm.toml")
"""

from crmsync.testing.conformance import ConnectorConformance, served_sandbox

__all__ = ["ConnectorConformance", "served_sandbox"]
